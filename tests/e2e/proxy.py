"""Real nginx in front of a test gunicorn, run from the shipped deploy/nginx config.

nginx runs with a temporary prefix (its pid file, logs and buffers under the test's directory)
and the shipped template rendered with free ports, the way the official image's envsubst step
renders it: only the template's own ${ROLLOUT_*} names are replaced, nginx's $names stay.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from rollout.embedded import free_port
from tests.e2e.conftest import REPO, stop, tail

TEMPLATE = REPO / "deploy" / "nginx" / "rollout.conf.template"
START_TIMEOUT_S = 10.0


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        pytest.skip("nginx is not installed (make test installs it)")
    return found


def render(template: str, listen: str, upstream: str) -> str:
    values = {"ROLLOUT_LISTEN": listen, "ROLLOUT_UPSTREAM": upstream}
    return re.sub(r"\$\{(ROLLOUT_[A-Z_]+)\}", lambda m: values[m.group(1)], template)


@dataclass
class Nginx:
    base_url: str
    port: int
    process: subprocess.Popen[bytes]
    error_log: Path


def start_nginx(tmp: Path, upstream: str) -> Nginx:
    """nginx on a free 127.0.0.1 port proxying to `upstream` (host:port) with the shipped config."""
    prefix = tmp / "nginx"
    (prefix / "logs").mkdir(parents=True)
    port = free_port()
    (prefix / "rollout.conf").write_text(
        render(TEMPLATE.read_text(), f"127.0.0.1:{port}", upstream)
    )
    error_log = prefix / "logs" / "error.log"
    # Run as root, workers would be `nobody` and could not reach the test's private directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {error_log} warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"  access_log off;\n  client_body_temp_path {prefix}/body;\n"
        f"  proxy_temp_path {prefix}/proxy;\n  fastcgi_temp_path {prefix}/fastcgi;\n"
        f"  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n"
        "  include rollout.conf;\n}\n"
    )
    process = subprocess.Popen(
        [nginx_binary(), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
         "-e", str(error_log), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nginx exited ({process.returncode}):\n{tail(error_log)}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return Nginx(f"http://127.0.0.1:{port}", port, process, error_log)
        time.sleep(0.05)
    stop(process)
    raise AssertionError(f"nginx did not listen within {START_TIMEOUT_S} s:\n{tail(error_log)}")


def stop_nginx(nginx: Nginx) -> None:
    assert stop(nginx.process, timeout_s=10) == 0, tail(nginx.error_log)
