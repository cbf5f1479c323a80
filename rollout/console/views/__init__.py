"""The console's pages, one module per area; importing this package registers them."""

from rollout.console.views import admin, environments, experiments, page, prompts, sign_in

__all__ = ["admin", "environments", "experiments", "page", "prompts", "sign_in"]
