"""Hosts of a real network on this machine: each a network namespace with its own address on a private
subnet, joined by a bridge in the root namespace (where the tests run), whose link a test can cut
without killing anything on it, as a switch port or a cable would fail. Needs root and iproute2.

    with TestNetwork() as net:
        head = net.add_host("head")                # 10.x.y.2, reachable from here and every other host
        head.spawn(["ray", "start", "--head", ...])
        net.cut(head); ...; net.restore(head)           # the whole link
        net.separate(w1, [head]); ...; net.separate(w1, [head], heal=True)   # from some hosts only
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def namespaces_refused() -> str | None:
    """Why this machine cannot hold test hosts (not root, no iproute2, namespaces refused), or None."""
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"gsprobe{os.getpid()}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` was refused: {made.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


@dataclass
class Host:
    name: str
    namespace: str
    address: str
    link: str  # the root namespace's end of the host's veth pair, on the bridge
    processes: list[subprocess.Popen] = field(default_factory=list)

    def command(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *argv]

    def spawn(self, argv: list[str], log: Path, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
        """A process on this host, in a session of its own (stopped with everything it started), its
        output to `log`."""
        process = subprocess.Popen(self.command(argv), stdout=log.open("w"), stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True, **kwargs)
        self.processes.append(process)
        return process

    def run(self, argv: list[str], env: dict[str, str] | None = None, timeout: float = 120,
            **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(argv), capture_output=True, text=True, env=env, timeout=timeout, **kwargs)


class TestNetwork:
    """A bridge with one veth pair per host; removed with everything on it when the block ends,
    whether the test passed or not. Names and the subnet carry this process's id, so tests running
    beside each other (pytest-xdist) never share one."""

    __test__ = False  # a helper, not a test class

    def __init__(self) -> None:
        tag = os.getpid() % 60000
        self.prefix = f"gs{tag}"
        self.subnet = f"10.{100 + tag // 250 % 100}.{tag % 250}"
        self.bridge = f"{self.prefix}br"
        self.gateway = f"{self.subnet}.1"
        self.hosts: list[Host] = []

    def __enter__(self) -> TestNetwork:
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        return self

    def add_host(self, name: str) -> Host:
        number = len(self.hosts) + 2
        host = Host(name, f"{self.prefix}-{name}", f"{self.subnet}.{number}", f"{self.prefix}h{number}")
        inner = f"{self.prefix}n{number}"
        ip("netns", "add", host.namespace)
        self.hosts.append(host)
        ip("link", "add", host.link, "type", "veth", "peer", "name", inner)
        ip("link", "set", inner, "netns", host.namespace)
        ip("link", "set", host.link, "master", self.bridge, "up")
        ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", inner)
        ip("-n", host.namespace, "link", "set", inner, "up")
        ip("-n", host.namespace, "link", "set", "lo", "up")
        ip("-n", host.namespace, "route", "add", "default", "via", self.gateway)
        return host

    def cut(self, host: Host) -> None:
        """The host's link down: its processes run on, and nothing reaches it or leaves it."""
        ip("link", "set", host.link, "down")

    def restore(self, host: Host) -> None:
        ip("link", "set", host.link, "up")

    def separate(self, host: Host, others: list[Host], heal: bool = False) -> None:
        """A partition between `host` and `others` alone (both ways: blackhole routes on each side), the
        rest of the network still reachable from all; `heal` takes it away."""
        verb = "del" if heal else "add"
        for other in others:
            ip("-n", host.namespace, "route", verb, "blackhole", f"{other.address}/32")
            ip("-n", other.namespace, "route", verb, "blackhole", f"{host.address}/32")

    def __exit__(self, *exc) -> None:
        for host in reversed(self.hosts):
            for process in host.processes:
                stop_session(process)
            for pid in ip("netns", "pids", host.namespace, check=False).stdout.split():
                try:  # anything still in the namespace (a daemon that left its session)
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            ip("link", "del", host.link, check=False)  # takes its peer with it
            ip("netns", "del", host.namespace, check=False)
        ip("link", "del", self.bridge, check=False)


def stop_session(process: subprocess.Popen, grace_s: float = 10) -> None:
    """SIGTERM to the process's whole session, SIGKILL to what is left after `grace_s`."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        if process.poll() is not None:
            return
