"""Is a configuration worse than the best one, by how much, and what would it take to tell?

The one place a sweep's configurations are compared under seed noise: the race's rounds
(`pipeline.stats.race`), the report's verdict and the registration all call these. Pure numpy and
scipy: no Ray, no MLflow.

    from pipeline.stats.compare import compare_with_best, study_verdict
    gaps = compare_with_best({"a": {0: 80.1, 1: 84.0}, "b": {0: 90.2, 1: 95.5}}, "min")
    print(study_verdict(gaps, "fid", delta=2.0).sentence)

Values are per configuration, keyed by seed (the replicate number, shared across configurations).
A gap is measured in the direction that matters: positive means the other configuration is worse
than the best by that much, in the metric's units.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

SIGNIFICANCE = 0.05  # family-wise error rate of one set of comparisons with the best (Holm-corrected)
POWER = 0.8  # what "resolve" means in the unresolved verdict: an 80% chance to detect the observed gap
MOST_SEEDS = 1000  # past this the unresolved verdict says "more than" instead of a number

WINNER, EQUIVALENT, UNRESOLVED = "winner", "equivalent", "unresolved"


@dataclass(frozen=True)
class Gap:
    """One configuration against the best: the test, the gap with its 95% interval, and P(best beats it)."""

    config: str
    test: str  # "paired t" over shared seeds, or "Welch t"
    n: int  # paired seeds, or the other's seeds under Welch
    gap: float  # mean of other - best (for min; best - other for max): > 0 means worse
    low: float  # two-sided 95% interval of the gap
    high: float
    sd: float  # sd of the paired differences, or the pooled spread under Welch (for the power estimate)
    statistic: float  # t
    p_worse: float  # one-sided p-value that the other is worse (the race drops on it)
    p_differ: float  # two-sided p-value (the winner verdict)
    p_worse_holm: float = math.nan  # Holm-adjusted over the set of comparisons
    p_differ_holm: float = math.nan
    prob_improvement: float = math.nan  # P(best beats other) over all value pairs: Mann-Whitney U / (n1 n2)

    def as_dict(self) -> dict:
        return asdict(self)


def oriented(values: np.ndarray, mode: str) -> np.ndarray:
    """Values turned so that larger is worse: a gap is then other - best in either mode."""
    return values if mode == "min" else -values


def compare_pair(best: dict[int, float], other: dict[int, float], mode: str, config: str = "") -> Gap:
    """`other` against `best`: paired t over their shared seeds where they share two or more, else Welch's t."""
    shared = sorted(set(best) & set(other))
    if len(shared) >= 2:
        diff = oriented(np.array([other[s] for s in shared], float) - np.array([best[s] for s in shared], float), mode)
        gap, sd, n = float(diff.mean()), float(diff.std(ddof=1)), len(diff)
        se, df, test = sd / math.sqrt(n), n - 1, "paired t"
    else:
        a, b = (oriented(np.array(list(v.values()), float), mode) for v in (other, best))
        if len(a) < 2 or len(b) < 2:  # no spread to test against: nothing can be shown
            gap = float(a.mean() - b.mean()) if len(a) and len(b) else math.nan
            return Gap(config, "none", len(a), gap, math.nan, math.nan, math.nan, math.nan, 1.0, 1.0, 1.0, 1.0,
                       probability_of_improvement(best, other, mode))
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        gap, se, n, test = float(a.mean() - b.mean()), math.sqrt(va + vb), len(a), "Welch t"
        sd = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if va + vb > 0 else len(a) + len(b) - 2
    if se <= 1e-12 * max(1.0, abs(gap)):  # every seed gave the same gap (to rounding): no noise to weigh it against
        t = math.copysign(math.inf, gap) if gap else 0.0
        p_worse, p_differ, half = (0.0 if gap > 0 else 1.0), (0.0 if gap else 1.0), 0.0
    else:
        t = gap / se
        p_worse, p_differ = float(stats.t.sf(t, df)), float(2 * stats.t.sf(abs(t), df))
        half = float(stats.t.ppf(0.975, df)) * se
    return Gap(config, test, n, gap, gap - half, gap + half, sd, t, p_worse, p_differ,
               prob_improvement=probability_of_improvement(best, other, mode))


def probability_of_improvement(best: dict[int, float], other: dict[int, float], mode: str) -> float:
    """P(a run of best beats a run of other), ties counted half: rliable's Mann-Whitney U / (n1 n2)."""
    a, b = oriented(np.array(list(other.values()), float), mode), oriented(np.array(list(best.values()), float), mode)
    if not len(a) or not len(b):
        return math.nan
    return float(stats.mannwhitneyu(a, b).statistic / (len(a) * len(b)))  # U counts pairs where other is worse


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: reject p_holm < alpha keeps the family-wise error at alpha."""
    order = np.argsort(p_values)
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def mean_of(values: dict[int, float]) -> float:
    return float(np.mean(list(values.values()))) if values else math.nan


def best_config(values: dict[str, dict[int, float]], mode: str) -> str:
    """The configuration with the best mean (ties: the first listed)."""
    scored = [(mean_of(v), c) for c, v in values.items() if v]
    pick = min if mode == "min" else max
    return pick(scored, key=lambda item: item[0])[1]


def compare_with_best(values: dict[str, dict[int, float]], mode: str, best: str | None = None) -> list[Gap]:
    """Every configuration but the best against the best, Holm-adjusted together; `values` maps each
    configuration to {seed: value} of its usable seeds."""
    best = best if best is not None else best_config(values, mode)
    gaps = [compare_pair(values[best], v, mode, c) for c, v in values.items() if c != best and v]
    worse, differ = holm([g.p_worse for g in gaps]), holm([g.p_differ for g in gaps])
    return [Gap(**(g.as_dict() | {"p_worse_holm": w, "p_differ_holm": d})) for g, w, d in zip(gaps, worse, differ,
                                                                                               strict=True)]


def seeds_for_power(gap: float, sd: float, paired: bool) -> int | None:
    """Seeds per configuration for a two-sided t-test at SIGNIFICANCE to detect `gap` with POWER, where
    the paired differences (or each configuration's values, unpaired) spread with `sd`; None: no gap."""
    if not gap or math.isnan(gap) or math.isnan(sd):
        return None
    if sd == 0:
        return 2
    effect = abs(gap) / sd
    for n in range(2, MOST_SEEDS + 1):
        df = n - 1 if paired else 2 * n - 2
        noncentral = effect * math.sqrt(n if paired else n / 2)
        critical = stats.t.ppf(1 - SIGNIFICANCE / 2, df)
        if stats.nct.sf(critical, df, noncentral) + stats.nct.cdf(-critical, df, noncentral) >= POWER:
            return n
    return MOST_SEEDS + 1


@dataclass(frozen=True)
class Verdict:
    kind: str  # WINNER, EQUIVALENT or UNRESOLVED
    sentence: str
    seeds_needed: int | None = None  # unresolved: seeds per configuration for the closest rival at 80% power


def study_verdict(gaps: list[Gap], metric: str, delta: float | None = None, best_label: str = "#1",
                  labels: dict[str, str] | None = None) -> Verdict:
    """One of three verdicts, in one sentence with numbers (see the module's docstring for the gaps);
    `labels` names configurations for people (their rank and values) in place of their ids."""
    labels = labels or {}
    gaps = [Gap(**(g.as_dict() | {"config": labels.get(g.config, g.config)})) for g in gaps]
    if not gaps:
        return Verdict(UNRESOLVED, f"Configuration {best_label} has no rival with results to compare it with.")
    if all(g.p_differ_holm < SIGNIFICANCE for g in gaps):
        least = min(gaps, key=lambda g: g.low)
        return Verdict(WINNER, f"Configuration {best_label} is the winner: better in {metric} than every other "
                       f"configuration by at least {least.low:.3g} (the lowest bound of the 95% intervals; the "
                       f"closest rival, {least.config}, is worse by {least.gap:.3g} [{least.low:.3g}, "
                       f"{least.high:.3g}], {least.test}, Holm-adjusted p = {least.p_differ_holm:.2g}).")
    if delta is not None and all(-delta <= g.low and g.high <= delta for g in gaps):
        widest = max(gaps, key=lambda g: max(abs(g.low), abs(g.high)))
        return Verdict(EQUIVALENT, f"Equivalent: every configuration's {metric} lies within {delta:g} of "
                       f"configuration {best_label}'s (search.delta); the widest 95% interval of a difference is "
                       f"[{widest.low:.3g}, {widest.high:.3g}] ({widest.config}).")
    open_gaps = [g for g in gaps if not g.p_differ_holm < SIGNIFICANCE]
    needs = [(seeds_for_power(g.gap, g.sd, g.test == "paired t"), g) for g in open_gaps]
    needed, closest = max(needs, key=lambda item: math.inf if item[0] is None else item[0])
    if needed is None:
        how = "no difference was observed, so no number of seeds would tell them apart"
    elif needed > MOST_SEEDS:
        how = f"more than {MOST_SEEDS} seeds per configuration would be needed to resolve it at 80% power"
    else:
        how = f"about {needed} seeds per configuration would resolve a gap this size at 80% power"
    margin = "" if delta is None else f", nor within search.delta {delta:g}"
    return Verdict(UNRESOLVED, f"Unresolved: {len(open_gaps)} configuration(s) cannot be told from {best_label}"
                   f"{margin}; the closest, {closest.config}, is worse by {closest.gap:.3g} [95% interval "
                   f"{closest.low:.3g}, {closest.high:.3g}] ({closest.test}, n = {closest.n}); {how}.", needed)
