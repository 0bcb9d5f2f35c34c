"""A race of configurations over shared seeds (F-Race, irace): the rounds' decisions, with no Ray in them.

Every configuration runs seeds 0..min-1 (replicate i is the same train.seed for all, so comparisons are
paired). After each round, configurations whose every seed diverged or errored are dropped, then those
a one-sided paired t-test shows worse than the round's best (Holm-adjusted over the round's
comparisons, `pipeline.stats.compare`); the rest (the contenders) get one more seed each. The race
ends with one contender left, at max seeds, when the contenders are equivalent within search.delta,
or when the next round would pass search.max_trials.

    from pipeline.stats.race import Race
    race = Race(["a", "b", "c"], min_seeds=2, max_seeds=6, mode="min")
    race.record("a", 0, 80.0)            # None for a seed that diverged or errored
    decision = race.close_round()        # once race.round_complete()
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pipeline.stats.compare import SIGNIFICANCE, best_config, compare_with_best, mean_of

UNUSABLE_RULE = "every seed diverged or errored"
WORSE_RULE = "worse than the best (one-sided paired t, Holm)"


@dataclass
class Round:
    """One round's decision, as logged on the sweep's parent run."""

    number: int
    seeds: int  # seeds each contender had run when the round closed
    best: str
    kept: list[str]
    dropped: dict[str, str]  # configuration -> why
    tests: list[dict]  # compare.Gap as dicts, one per contender other than the best
    ended: str | None = None  # why the race ended after this round; None: it goes on


@dataclass
class Race:
    configs: list[str]
    min_seeds: int
    max_seeds: int
    mode: str
    delta: float | None = None
    max_trials: int | None = None
    values: dict[str, dict[int, float | None]] = field(default_factory=dict)  # None: diverged or errored
    contenders: list[str] = field(default_factory=list)
    rounds: list[Round] = field(default_factory=list)
    stopped: str | None = None  # why the race ended before a round decided it (Tune's time budget)

    def __post_init__(self) -> None:
        self.values = self.values or {c: {} for c in self.configs}
        self.contenders = self.contenders or list(self.configs)

    @property
    def seeds_now(self) -> int:
        """Seeds each contender runs in the current round."""
        return self.min_seeds + len(self.rounds)

    @property
    def ended(self) -> str | None:
        return (self.rounds[-1].ended if self.rounds else None) or self.stopped

    @property
    def trials_run(self) -> int:
        return sum(len(v) for v in self.values.values())

    def to_run(self) -> list[tuple[str, int]]:
        """(configuration, seed) the current round still needs, in order; none once the race ended."""
        if self.ended:
            return []
        return [(c, s) for s in range(self.seeds_now) for c in self.contenders if s not in self.values[c]]

    def record(self, config: str, seed: int, value: float | None) -> None:
        if value is not None and not math.isfinite(value):
            value = None
        self.values[config][seed] = value

    def round_complete(self) -> bool:
        return not self.ended and all(s in self.values[c] for c in self.contenders for s in range(self.seeds_now))

    def usable(self, config: str) -> dict[int, float]:
        return {s: v for s, v in self.values[config].items() if v is not None and s < self.seeds_now}

    def close_round(self) -> Round:
        """Decide the round that just completed: who is dropped, who goes on, and whether the race ends."""
        seeds = self.seeds_now
        dropped = {c: UNUSABLE_RULE for c in self.contenders if not self.usable(c)}
        alive = [c for c in self.contenders if c not in dropped]
        best, tests = (alive[0] if alive else ""), []
        if len(alive) > 1:
            best = best_config({c: self.usable(c) for c in alive}, self.mode)
            gaps = compare_with_best({c: self.usable(c) for c in alive}, self.mode, best)
            tests = [g.as_dict() for g in gaps]
            for gap in gaps:
                if gap.p_worse_holm < SIGNIFICANCE:
                    dropped[gap.config] = (f"{WORSE_RULE}: worse by {gap.gap:.4g} over {gap.n} seeds, "
                                           f"t = {gap.statistic:.3g}, p = {gap.p_worse:.3g}, "
                                           f"Holm p = {gap.p_worse_holm:.3g}")
        kept = [c for c in alive if c not in dropped]
        ended = self.end_reason(kept, tests, seeds)
        decision = Round(len(self.rounds) + 1, seeds, best, kept, dropped, tests, ended)
        self.rounds.append(decision)
        self.contenders = kept
        return decision

    def end_reason(self, kept: list[str], tests: list[dict], seeds: int) -> str | None:
        if len(kept) <= 1:
            return "one configuration left" if kept else "no configuration left"
        if seeds >= self.max_seeds:
            return f"every contender reached search.seeds.max ({self.max_seeds})"
        if self.delta is not None and all(-self.delta <= t["low"] and t["high"] <= self.delta
                                          for t in tests if t["config"] in kept):
            return f"the contenders are equivalent within search.delta ({self.delta:g})"
        if self.max_trials is not None and self.trials_run + len(kept) > self.max_trials:
            return f"another round would pass search.max_trials ({self.max_trials})"
        return None

    def stop(self, reason: str) -> None:
        """End the race from outside (Tune's time budget), saying why."""
        if not self.ended:
            self.stopped = reason

    def summary(self) -> dict:
        """What the report shows: seeds run and the round each configuration was dropped in, and the
        compute saved against running every configuration max times."""
        dropped_in = {c: (r.number, why) for r in self.rounds for c, why in r.dropped.items()}
        full = len(self.configs) * self.max_seeds
        return {
            "configs": {c: {"seeds_run": len(self.values[c]), "mean": mean_of(self.usable_all(c)),
                            "dropped_round": dropped_in.get(c, (None, None))[0],
                            "dropped_why": dropped_in.get(c, (None, None))[1]} for c in self.configs},
            "contenders": self.contenders,
            "trials_run": self.trials_run,
            "trials_without_racing": full,
            "saved_fraction": 1 - self.trials_run / full if full else 0.0,
            "ended": self.ended,
        }

    def usable_all(self, config: str) -> dict[int, float]:
        return {s: v for s, v in self.values[config].items() if v is not None}
