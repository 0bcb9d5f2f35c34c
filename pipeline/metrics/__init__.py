"""Evaluation metrics; they import neither ray nor mlflow."""

from pipeline.metrics.evaluator import Evaluator

__all__ = ["Evaluator"]
