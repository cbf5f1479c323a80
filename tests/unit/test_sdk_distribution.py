"""The SDK distribution stands alone: small dependencies, and nothing of the service imported."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

SDK = Path(__file__).parents[2] / "sdk" / "python"
SERVICE_ONLY = {"experiments", "rollout", "pydantic", "flask", "redis", "numpy", "scipy", "yaml"}


def test_its_only_runtime_dependencies_are_requests_jinja2_and_re2() -> None:
    project = tomllib.loads((SDK / "pyproject.toml").read_text())["project"]
    names = {spec.split(">")[0].split("=")[0].strip() for spec in project["dependencies"]}
    assert names == {"requests", "jinja2", "google-re2"}


def test_importing_the_client_and_the_kernel_loads_nothing_of_the_service() -> None:
    kernel = (SDK / "rollout_sdk" / "kernel").glob("*.py")
    modules = [
        "rollout_sdk", "rollout_sdk.client", "rollout_sdk.local_config",
        *(f"rollout_sdk.kernel.{path.stem}" for path in kernel),
    ]
    probe = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    # -I: isolated from the environment and the working directory, so only installed packages
    # are found (the editable install maps rollout_sdk to sdk/python).
    answer = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(answer.stdout))
    assert "rollout_sdk" in loaded and "re2" in loaded and "jinja2" in loaded
    assert loaded.isdisjoint(SERVICE_ONLY), loaded & SERVICE_ONLY
