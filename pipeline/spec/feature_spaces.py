"""The feature spaces a dataset is evaluated in, named once: each dataset config and each loaded
`GanDataset` says which is its own, so no module keeps lists of dataset names. Pure constants, like
metric_names (the spec's checks use them before torch is imported)."""

# The feature space each dataset is evaluated in: each has its extractor (core/metrics/extractors.py)
COORDINATES = "coordinates"  # the points themselves: 2D mixtures, standardized table columns
# a classifier of the dataset's own classes (digits, clothes), its penultimate layer (metrics/classifier.py)
CLASSIFIER = "classifier"
STACKED_DIGITS = "stacked_digits"  # the digit classifier on each of three channels, features side by side
INCEPTION = "inception"  # FID Inception pool features, from local weights (eval.inception_weights)
FEATURE_SPACES = (COORDINATES, CLASSIFIER, STACKED_DIGITS, INCEPTION)
