"""The one place that names metrics: Tune's `metric=`, MLflow keys and the report all use these.

Pure constants, no imports, so that every stage (the report too) can read them cheaply.
"""

FID = "fid"
KID = "kid"
KID_SD = "kid_sd"  # KID's sd over its subsets: the evaluation's own noise, not a metric to rank on
MODES = "modes"
MODE_KL = "mode_kl"
HQ_FRACTION = "hq_fraction"
PRECISION = "precision"
RECALL = "recall"
DENSITY = "density"
COVERAGE = "coverage"
LOSS_D = "loss_d"
LOSS_G = "loss_g"
D_ACC_REAL = "d_acc_real"
D_ACC_FAKE = "d_acc_fake"
CLASS_SCORE = "class_score"  # the Inception Score's analog with the digit classifier
INCEPTION_SCORE = "inception_score"  # natural images: over the FID Inception network's 1008 classes, 10 splits
INCEPTION_SCORE_SD = "inception_score_sd"  # its sd over the 10 splits
CLASSIFIER_ACCURACY = "classifier_accuracy"  # held-out accuracy of the feature network: a sanity figure

# Training bookkeeping reported beside the metrics.
STEP = "step"

# The metrics a sweep may rank on, with the direction that is better.
RANKABLE = {
    FID: "min",
    KID: "min",
    MODES: "max",
    MODE_KL: "min",
    HQ_FRACTION: "max",
    PRECISION: "max",
    RECALL: "max",
    DENSITY: "max",
    COVERAGE: "max",
    LOSS_D: "min",
    LOSS_G: "min",
    D_ACC_REAL: "max",
    D_ACC_FAKE: "max",
    CLASS_SCORE: "max",
    INCEPTION_SCORE: "max",
}

ALL = tuple(RANKABLE)

# Image keys logged at every evaluation.
SAMPLES_IMAGE = "samples"
MODES_IMAGE = "mode_histogram"  # digit data: the share of samples in each class (or stacked mode)

# the real-vs-real floor, in a sweep's parent run and `python -m pipeline.evaluate --floor`'s output
FLOOR_PREFIX = "floor."  # real-vs-real floor metrics on the parent run: floor.fid, floor.modes, ...
FLOOR_SD_PREFIX = "floor_sd."  # the floor's sd over real sets of eval.samples: floor_sd.fid, ...
FLOOR_SOURCE_PARAM = "floor.source"  # on the parent run: which real points the floor scores
FLOOR_SPREAD_PARAM = "floor.spread"  # on the parent run: which real sets floor_sd is over
PROTOCOL_PARAM = "eval.protocol"  # on the parent run: the feature space, n, reference and weights of every metric
