"""SMAC's intensification over shared seeds, for searches that draw configurations one at a time (Optuna).

The first configuration to finish its `min` seeds becomes the incumbent. Each new configuration (a
challenger) runs seeds 0..min-1, then the incumbent's further seeds one at a time; it is rejected as soon
as a one-sided paired t-test on the seeds both ran shows it worse (or every seed it ran diverged or
errored). A challenger that matches all of the incumbent's seeds without being shown worse replaces it
when its mean over those seeds is better; either way the incumbent then gets one more seed (up to
`max`): it accumulates evidence as challengers come. No Ray here: `pipeline/sweep/racing.py` drives it.

    from pipeline.stats.intensify import Intensification
    race = Intensification(min_seeds=2, max_seeds=5, mode="min")
    race.add("a"); race.record("a", 0, 80.0); race.record("a", 1, 82.0); race.settle("a")
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from pipeline.stats.compare import SIGNIFICANCE, compare_pair, mean_of
from pipeline.stats.race import UNUSABLE_RULE, Round

INCUMBENT_WORSE = "worse than the incumbent (one-sided paired t)"


@dataclass
class Intensification:
    min_seeds: int
    max_seeds: int
    mode: str
    max_trials: int | None = None
    values: dict[str, dict[int, float | None]] = field(default_factory=dict)  # None: diverged or errored
    wanted: dict[str, int] = field(default_factory=dict)  # seeds each configuration is to have run
    incumbent: str | None = None
    decided: dict[str, str] = field(default_factory=dict)  # configuration -> its outcome, once decided
    rounds: list[Round] = field(default_factory=list)
    stopped: str | None = None

    def add(self, config: str) -> None:
        """A new challenger: it runs seeds 0..min-1 first."""
        self.values.setdefault(config, {})
        self.wanted[config] = self.min_seeds

    def record(self, config: str, seed: int, value: float | None) -> None:
        self.values[config][seed] = value if value is not None and math.isfinite(value) else None

    def usable(self, config: str) -> dict[int, float]:
        return {s: v for s, v in self.values[config].items() if v is not None}

    def waiting(self, config: str) -> bool:
        """Whether seeds it was asked to run have not all reported yet."""
        return len(self.values[config]) < self.wanted[config]

    def next_seeds(self, config: str) -> list[int]:
        return [s for s in range(self.wanted[config]) if s not in self.values[config]]

    @property
    def trials_run(self) -> int:
        return sum(len(v) for v in self.values.values())

    def settle(self, config: str) -> Round | None:
        """Decide what `config`'s latest seeds mean, once they have all reported; the decision, if one was taken."""
        if config in self.decided or self.waiting(config) or config == self.incumbent:
            return None
        if not self.usable(config):
            return self.decide(config, dropped={config: UNUSABLE_RULE})
        if self.incumbent is None:
            self.incumbent = config
            return self.decide(config, kept=[config])
        incumbent, challenger = self.usable(self.incumbent), self.usable(config)
        test = compare_pair(incumbent, challenger, self.mode, config)
        if test.test == "paired t" and test.p_worse < SIGNIFICANCE:
            return self.decide(config, dropped={config: f"{INCUMBENT_WORSE}: worse by {test.gap:.4g} over {test.n} "
                                                f"seeds, t = {test.statistic:.3g}, p = {test.p_worse:.3g}"}, test=test)
        if len(self.values[config]) < len(self.values[self.incumbent]):
            self.wanted[config] += 1  # the incumbent's next seed
            return None
        shared = set(incumbent) & set(challenger)
        better = (mean_of({s: challenger[s] for s in shared}) < mean_of({s: incumbent[s] for s in shared})
                  if self.mode == "min" else
                  mean_of({s: challenger[s] for s in shared}) > mean_of({s: incumbent[s] for s in shared}))
        loser = self.incumbent if better else config
        if better:
            self.incumbent = config
        if len(self.values[self.incumbent]) < self.max_seeds:
            self.wanted[self.incumbent] += 1  # the incumbent accumulates evidence
        return self.decide(config, kept=[self.incumbent],
                           dropped={loser: f"not better than {'the new incumbent' if better else 'the incumbent'} "
                                           f"on the {len(shared)} seeds both ran"}, test=test)

    def decide(self, config: str, kept: list[str] = (), dropped: dict[str, str] | None = None,
               test=None) -> Round:
        for loser, why in (dropped or {}).items():
            self.decided[loser] = why
        decision = Round(len(self.rounds) + 1, len(self.values[config]), self.incumbent or "", list(kept),
                         dict(dropped or {}), [test.as_dict()] if test else [])
        self.rounds.append(decision)
        return decision

    def can_start(self, trials: int) -> bool:
        return self.max_trials is None or self.trials_run + trials <= self.max_trials

    def summary(self, configurations: int) -> dict:
        dropped_in = {c: r.number for r in self.rounds for c in r.dropped}
        full = configurations * self.max_seeds
        return {
            "configs": {c: {"seeds_run": len(v), "mean": mean_of(self.usable(c)), "dropped_round": dropped_in.get(c),
                            "dropped_why": self.decided.get(c)} for c, v in self.values.items()},
            "contenders": [self.incumbent] if self.incumbent else [],
            "trials_run": self.trials_run,
            "trials_without_racing": full,
            "saved_fraction": 1 - self.trials_run / full if full else 0.0,
            "ended": self.stopped,
        }

    def rounds_as_dicts(self) -> list[dict]:
        return [asdict(r) for r in self.rounds]
