"""The store builds the running sums without loading the statistics (issue 11).

`import experiments.store` must not import scipy: a fresh interpreter's `-X importtime` log is
the record of every module it loaded.
"""

from __future__ import annotations

import subprocess
import sys

import experiments.stats


def _modules_loaded_by(statement: str) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if "|" in line]


def test_importing_the_store_loads_no_scipy() -> None:
    loaded = _modules_loaded_by("import experiments.store")
    assert "experiments.store.events" in loaded
    assert not [name for name in loaded if name.split(".")[0] == "scipy"]


def test_importing_the_analysis_does_load_scipy() -> None:
    """The check above can fail: the same log does name scipy where it is loaded."""
    assert "scipy" in _modules_loaded_by("import experiments.analysis")


def test_every_name_the_stats_package_exports_resolves() -> None:
    for name in experiments.stats.__all__:
        assert getattr(experiments.stats, name) is not None
