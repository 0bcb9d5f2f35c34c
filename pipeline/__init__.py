"""GAN hyperparameter sweeps on Ray Tune, tracked in MLflow, ranked in an HTML report.

    python -m pipeline.sweep search_spaces/dropout.yaml
"""
