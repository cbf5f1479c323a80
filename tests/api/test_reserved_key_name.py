"""No API key may take the name under which ROLLOUT_ADMIN_KEY's calls are recorded."""

from __future__ import annotations

from rollout.auth import BOOTSTRAP_NAME
from tests.api.conftest import Api


def test_a_key_named_like_the_bootstrap_admin_is_refused(admin: Api) -> None:
    response = admin.post("/api/v1/keys", json={"name": BOOTSTRAP_NAME, "role": "admin"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "reserved_name"
    assert BOOTSTRAP_NAME not in [k["name"] for k in admin.get("/api/v1/keys").get_json()["keys"]]


def test_other_names_are_still_created(admin: Api) -> None:
    response = admin.post("/api/v1/keys", json={"name": "bootstrap-admin-2", "role": "sdk"})
    assert response.status_code == 201
