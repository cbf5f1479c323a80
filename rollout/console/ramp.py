"""The ramp plan as a picture: each stage, where the experiment stands, and how far the current
stage is toward its minimum duration and users. Pure: the experiment, its results and `now`."""

from __future__ import annotations

from dataclasses import dataclass

from experiments.model import Experiment, Status
from experiments.results import Results


@dataclass(frozen=True)
class StageView:
    index: int
    traffic: float
    min_duration_s: int
    min_users_per_variant: int
    state: str  # done, current, next
    elapsed_s: float
    fewest_users: int

    @property
    def duration_share(self) -> float:
        return 1.0 if self.min_duration_s == 0 else min(1.0, self.elapsed_s / self.min_duration_s)

    @property
    def users_share(self) -> float:
        if self.min_users_per_variant == 0:
            return 1.0
        return min(1.0, self.fewest_users / self.min_users_per_variant)


def stages_of(
    experiment: Experiment, results: Results | None, now: float
) -> list[StageView]:
    if experiment.rollout is None:
        return []
    current = experiment.stage
    running = experiment.status in {Status.RUNNING, Status.PAUSED}
    users = [] if results is None else list(results.users().values())
    fewest = min(users) if users else 0
    elapsed = now - experiment.stage_started_at if experiment.stage_started_at else 0.0
    views = []
    for index, stage in enumerate(experiment.rollout.stages):
        if current is not None and index < current:
            state = "done"
        elif running and index == current:
            state = "current"
        else:
            state = "next"
        views.append(
            StageView(
                index=index,
                traffic=stage.traffic,
                min_duration_s=stage.min_duration_s,
                min_users_per_variant=stage.min_users_per_variant,
                state=state,
                elapsed_s=max(0.0, elapsed) if state == "current" else 0.0,
                fewest_users=fewest if state == "current" else 0,
            )
        )
    return views


def traffic_words(experiment: Experiment) -> str:
    """What share of eligible users is in the experiment now, in words: a draft or a rolled-back
    experiment has nobody in it, whatever its configured traffic says."""
    planned = f"{experiment.effective_traffic * 100:.4g}%"
    if experiment.status is Status.DRAFT:
        return "0% (not started)"
    if experiment.status is Status.ROLLED_BACK:
        return "0% (rolled back: everyone gets control)"
    if experiment.status is Status.CONCLUDED:
        return f"0% (concluded: everyone gets {experiment.winner})"
    if experiment.status is Status.PAUSED:
        return f"0% (paused at {planned})"
    return planned
