"""The training core: data, models, the GAN loop, metrics, evaluation and latent maps.

It imports neither ray nor mlflow (tests/test_import_boundaries.py checks this): a trial talks to the
outside only through `pipeline.core.train.Reporter`. It reads its configuration from pipeline.spec.
"""
