"""`make bench`: every benchmark script in bench/, one after the other, with short defaults.

Each script prints its figures beside a baseline measured in the same run. The scripts run with
ROLLOUT_BENCH_QUICK=1, which those that know it read as "shorter runs" (pass a script's own
arguments by running it directly for the full figures). A script that fails or overruns
`--timeout` is reported and the others still run; the exit status says whether all passed.

    .venv/bin/python bench/run_all.py [--timeout 900] [NAME ...]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts(names: list[str]) -> list[Path]:
    """The bench/*.py scripts (not this one, not private modules), by name; or the named ones."""
    found = sorted(
        path for path in HERE.glob("*.py")
        if path.name != Path(__file__).name and not path.name.startswith("_")
    )
    if names:
        wanted = {name.removesuffix(".py") for name in names}
        found = [path for path in found if path.stem in wanted]
    return found


def run(script: Path, env: dict[str, str], timeout_s: float) -> int:
    """Run one script in its own process group, so that on a timeout the servers it started
    (gunicorn, redis-server) are stopped with it rather than left behind."""
    process = subprocess.Popen([sys.executable, str(script)], cwd=HERE.parent, env=env,
                               start_new_session=True)
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        print(f"{script.name}: stopped after {timeout_s:.0f} s")
        for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=grace)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        return -1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per script")
    parser.add_argument("names", nargs="*", help="run only these scripts (e.g. assign sdk_track)")
    args = parser.parse_args()
    env = dict(os.environ, ROLLOUT_BENCH_QUICK="1")
    failed: list[str] = []
    for script in scripts(args.names):
        print(f"\n=== {script.name} " + "=" * max(0, 70 - len(script.name)), flush=True)
        started = time.monotonic()
        code = run(script, env, args.timeout)
        print(f"--- {script.name}: {'ok' if code == 0 else f'FAILED ({code})'}"
              f" in {time.monotonic() - started:.0f} s", flush=True)
        if code != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
