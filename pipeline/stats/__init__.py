"""Statistics of a study: comparisons under seed noise, races and the expected best of k trials (no Ray, no MLflow)."""
