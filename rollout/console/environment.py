"""The environment a console page acts in: the signed-in key's own, or the one its user chose.

A key of one environment sees that environment only; the switcher shows it, fixed. A key of
every environment chooses in the header; the choice is kept in the session (default production,
as the API's) and a choice since archived falls back to production. Every read and action of a
page goes through `store_of`, the store acting in that environment, as the API's routes go
through theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import session

from experiments.environments import PRODUCTION, Environment, review_required
from experiments.errors import NotFound
from experiments.store import Store
from rollout.console.signed_in import ConsoleUser, runtime
from rollout.errors import WrongEnvironment

SESSION_KEY = "environment"


@dataclass(frozen=True)
class Whereabouts:
    """The environment a page acts in and those its user may switch to (just it, when fixed)."""

    current: Environment
    choices: list[Environment]
    fixed: bool


def _usable(name: str) -> Environment | None:
    found = runtime().environments.all().get(name)
    return None if found is None or found.archived else found


def environment_of(user: ConsoleUser) -> Environment:
    """The environment `user`'s pages act in now."""
    own = user.principal.environment
    if own is not None:
        found = _usable(own)
        if found is None:
            raise NotFound(f"environment {own!r} not found (archived)",
                           code="environment_not_found")
        return found
    chosen = session.get(SESSION_KEY)
    found = _usable(chosen) if isinstance(chosen, str) else None
    if found is None:
        session.pop(SESSION_KEY, None)
        return runtime().environments.all()[PRODUCTION]
    return found


def whereabouts(user: ConsoleUser) -> Whereabouts:
    current = environment_of(user)
    if user.principal.environment is not None:
        return Whereabouts(current, [current], fixed=True)
    return Whereabouts(current, runtime().environments.active(), fixed=False)


def choose(user: ConsoleUser, name: str) -> Environment:
    """Switch `user`'s pages to environment `name`: refused for a key of another environment
    (the API's 403), unknown for one not known or archived (404)."""
    own = user.principal.environment
    if own is not None and name != own:
        raise WrongEnvironment(f"key {user.name!r} acts in environment {own!r} only, not {name!r}")
    found = _usable(name)
    if found is None:
        raise NotFound(f"environment {name!r} not found", code="environment_not_found")
    session[SESSION_KEY] = found.name
    return found


def store_of(user: ConsoleUser) -> Store:
    """The store acting in `user`'s environment: experiment state is read and changed here."""
    return runtime().store.in_environment(environment_of(user).name)


def review_of(user: ConsoleUser) -> bool:
    """Whether starts and traffic raises wait for review in `user`'s environment."""
    return review_required(environment_of(user), runtime().settings.require_review)


def promotion_targets(user: ConsoleUser) -> list[Environment]:
    """Where `user` may promote an experiment of its environment to: every other active
    environment for a key of every environment; none for a key of one (promotion spans two)."""
    if user.principal.environment is not None:
        return []
    here = environment_of(user).name
    return [e for e in runtime().environments.active() if e.name != here]


def labels_in_reach(user: ConsoleUser, labels: dict[str, int]) -> dict[str, int]:
    """The labels `user` sees, as the API shows them: all for a key of every environment, else
    every label but those named like another environment (theirs to know)."""
    own = user.principal.environment
    if own is None:
        return labels
    others = set(runtime().environments.all()) - {own}
    return {label: version for label, version in labels.items() if label not in others}


def check_label_in_reach(user: ConsoleUser, label: str) -> None:
    """A key of one environment moves or approves no other environment's label (403)."""
    own = user.principal.environment
    if own is not None and label != own and label in runtime().environments.all():
        raise WrongEnvironment(
            f"label {label!r} is the live version of environment {label!r}; key"
            f" {user.name!r} acts in {own!r} only"
        )


def reviewed_labels() -> frozenset[str]:
    """The labels whose moves wait for review: those of the environments that require it."""
    rt = runtime()
    return frozenset(
        e.name
        for e in rt.environments.all().values()
        if review_required(e, rt.settings.require_review)
    )
