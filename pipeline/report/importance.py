"""Which swept parameters matter: Optuna's fANOVA over the finished trials' ranking values.

The trials (from any search algorithm: grid, random, Optuna) become an in-memory Optuna study,
each parameter with a distribution spanning the values tried, and fANOVA (a random forest over
the parameters, scikit-learn's) splits the metric's variance among them.
"""

from __future__ import annotations

import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.importance import FanovaImportanceEvaluator, get_param_importances

from pipeline.report.plots import log_scaled

MIN_TRIALS = 4  # fewer finished trials than this say nothing about importance
NOT_APPLIED = "(not applied)"  # the value of a conditional key where its condition did not hold
FANOVA_SEED = 0  # the forest is random: the same report twice gives the same numbers
# fANOVA's cost grows with trees x trials: at 1,000 trials Optuna's 64 trees took 19 s on 2 cores, 16 took 5 s,
# and their shares differed by less than two seeds of 64 trees did (0.67/0.22/0.11 against 0.67/0.20/0.13 and
# 0.63/0.22/0.15, benchmarks/HISTORY.md); below MANY_TRIALS the 64 trees cost little
MANY_TRIALS, FEW_TREES = 200, 16


def distribution_of(values: pd.Series) -> tuple[BaseDistribution, pd.Series] | None:
    """A distribution spanning the values tried (None when only one value was tried), and the values in it."""
    if values.nunique() < 2:
        return None
    number = pd.to_numeric(values, errors="coerce")
    if number.notna().all():
        low, high = float(number.min()), float(number.max())
        return FloatDistribution(low, high, log=log_scaled(low, high)), number.astype(float)
    return CategoricalDistribution(sorted(values.unique())), values


def trials_to_importance(trials: pd.DataFrame, swept: list[str], value: str, mode: str) -> dict[str, float] | None:
    """{parameter: share of the variance of `value`}, most important first; None when there is too little
    to say (fewer than MIN_TRIALS trials with a value, or fewer than one parameter that varied)."""
    rows = trials[trials[value].notna()]
    if len(rows) < MIN_TRIALS:
        return None
    # a conditional key that did not apply to a trial is its own category there
    spans = {key: distribution_of(rows[f"params.{key}"].astype(object).where(rows[f"params.{key}"].notna(),
                                                                              NOT_APPLIED).astype(str))
             for key in swept}
    spans = {key: span for key, span in spans.items() if span is not None}
    if not spans:
        return None
    study = optuna.create_study(direction="minimize" if mode == "min" else "maximize")
    distributions = {key: distribution for key, (distribution, _) in spans.items()}
    for position in range(len(rows)):
        params = {key: column.iloc[position] for key, (_, column) in spans.items()}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions,
                                                  value=float(rows[value].iloc[position])))
    trees = FEW_TREES if len(rows) > MANY_TRIALS else 64  # 64: Optuna's default
    return get_param_importances(study, evaluator=FanovaImportanceEvaluator(n_trees=trees, seed=FANOVA_SEED))
