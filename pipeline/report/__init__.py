"""The report stage: reads a sweep's runs back from MLflow (pandas), ranks them, writes one HTML file.

It imports neither ray nor the training code: MLflow is its only source.

    python -m pipeline.report dropout --tracking-uri sqlite:///mlflow.db --out reports/dropout.html
"""

from pipeline.report.load import SweepData, load_sweep
from pipeline.report.render import render_html, write_report
from pipeline.stats.ranking import rank_trials

__all__ = ["SweepData", "load_sweep", "rank_trials", "render_html", "write_report"]
