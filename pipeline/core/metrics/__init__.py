"""Evaluation metrics; they import neither ray nor mlflow."""

from pipeline.core.metrics.evaluator import Evaluator

__all__ = ["Evaluator"]
