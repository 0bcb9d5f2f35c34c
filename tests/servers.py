"""Servers the tests start on loopback and stop again: `mlflow server` on a SQLite store."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import pytest


class MlflowServer:
    """`mlflow server` on loopback with a SQLite backend and proxied artifacts under `root`, which a test
    can stop and start again on the same port and store, as an outage would."""

    def __init__(self, root, port: int):
        self.root, self.port, self.process = root, port, None
        self.uri = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        """Start it and wait until it answers."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--backend-store-uri", f"sqlite:///{self.root / 'server.db'}", "--serve-artifacts",
             "--artifacts-destination", str(self.root / "artifacts"), "--workers", "1"],
            stdout=subprocess.DEVNULL, stderr=(self.root / "server.log").open("w"),
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{self.uri}/health", timeout=2)
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.process.kill()
                    pytest.fail("mlflow server did not start:\n" + (self.root / "server.log").read_text()[-3000:])
                time.sleep(0.5)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
