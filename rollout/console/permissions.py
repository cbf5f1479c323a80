"""What each role may do in the console: the very role lists the API routes check.

A page offers only what its user may do (`may`), and each action checks again (`require`), so a
forced request is refused with the API's own 403 message.
"""

from __future__ import annotations

from collections.abc import Sequence

from experiments.model import Role
from rollout.api import experiments as experiments_api
from rollout.api import prompts as prompts_api
from rollout.console.signed_in import ConsoleUser
from rollout.errors import Forbidden

EXPERIMENT_READERS = tuple(experiments_api.READERS)
OPERATORS = tuple(experiments_api.OPERATORS)
EXPERIMENT_APPROVERS = (Role.RELEASE, Role.EDITOR)
PROMPT_READERS = tuple(prompts_api.READERS)
PROMPT_WRITERS = tuple(prompts_api.WRITERS)
PROMPT_APPROVERS = tuple(prompts_api.APPROVERS)
KEY_ADMINS = (Role.ADMIN,)
DELIVERY_READERS = (Role.EDITOR, Role.RELEASE)


def may(user: ConsoleUser, roles: Sequence[Role]) -> bool:
    return user.principal.may(roles)


def require(user: ConsoleUser, roles: Sequence[Role]) -> None:
    if not may(user, roles):
        wanted = " or ".join(r.value for r in roles)
        raise Forbidden(f"key {user.name!r} has role {user.role.value!r}; needs {wanted}")
