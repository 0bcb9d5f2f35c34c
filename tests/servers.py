"""Servers the tests start and stop again: `mlflow server` (on a SQLite store, or on PostgreSQL), PostgreSQL
itself (Debian's package), on loopback or on a test host of tests/network.py; and a folder of files over
HTTP (a dataset's host)."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from .network import Host, stop_session

# MLflow 3's server starts job consumers (Huey processes, for GenAI scorers) unless told not to: two
# more busy processes on the tests' 2 cores, for jobs no sweep submits
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


class MlflowServer:
    """`mlflow server` with proxied artifacts under `root`, on loopback or on a test `host`, with a SQLite
    backend unless `backend_uri` names another; a test can stop it and start it again on the same port
    and store, as an outage would."""

    def __init__(self, root: Path, port: int, backend_uri: str | None = None, host: Host | None = None,
                 workers: int = 1):
        self.root, self.port, self.host, self.workers, self.process = root, port, host, workers, None
        self.backend_uri = backend_uri or f"sqlite:///{root / 'server.db'}"
        self.address = host.address if host else "127.0.0.1"
        self.uri = f"http://{self.address}:{port}"

    def start(self) -> None:
        """Start it and wait until it answers."""
        argv = [sys.executable, "-m", "mlflow", "server", "--host", self.address, "--port", str(self.port),
                "--backend-store-uri", self.backend_uri, "--serve-artifacts",
                "--artifacts-destination", str(self.root / "artifacts"), "--workers", str(self.workers)]
        log = self.root / "server.log"
        env = os.environ | SERVER_ENV
        if self.host is not None:
            self.process = self.host.spawn(argv, log, env=env)
        else:
            self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log.open("w"), env=env)
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{self.uri}/health", timeout=2)
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.process.kill()
                    pytest.fail("mlflow server did not start:\n" + log.read_text()[-3000:])
                time.sleep(0.5)

    def stop(self) -> None:
        if self.host is not None:
            stop_session(self.process)
            return
        self.process.terminate()
        self.process.wait(timeout=30)


def postgres_binaries() -> Path | None:
    """Debian's PostgreSQL programs (initdb, postgres, pg_isready), the newest version installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


class PostgresServer:
    """A PostgreSQL server of the test's own: a new cluster in a folder of its own, run as the `postgres`
    user (it refuses root), listening on `host`'s address, with a database and a password user for
    MLflow. `restart()` stops it and starts it again on the same data, as a database failover would.

        db = PostgresServer(host); db.start(); uri = db.uri      # postgresql://mlflow:...@10.x.y.z:5432/mlflow
    """

    def __init__(self, host: Host, port: int = 5432):
        self.host, self.port, self.process = host, port, None
        self.bin = postgres_binaries()
        # /tmp itself: pytest's folders are root's alone, which the postgres user may not enter
        self.root = Path(tempfile.mkdtemp(prefix="gs-pg-"))
        shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self.uri = f"postgresql://mlflow:mlflow@{host.address}:{port}/mlflow"

    def as_postgres(self, *argv: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv]

    def start(self) -> None:
        new = not self.data.exists()
        if new:
            made = subprocess.run(self.as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                                                   "--auth-local=trust", "--auth-host=scram-sha-256"),
                                  capture_output=True, text=True, timeout=120)
            assert made.returncode == 0, made.stdout + made.stderr
            with (self.data / "pg_hba.conf").open("a") as rules:  # initdb lets in loopback only
                rules.write("host all all samenet scram-sha-256\n")
        self.process = self.host.spawn(self.as_postgres(
            str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-c",
            f"listen_addresses={self.host.address}", "-c", f"unix_socket_directories={self.root}"),
            self.root / "postgres.log")
        deadline = time.monotonic() + 60
        while self.host.run([str(self.bin / "pg_isready"), "-h", str(self.root), "-p", str(self.port)]).returncode:
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail("postgres did not start:\n" + (self.root / "postgres.log").read_text()[-3000:])
            time.sleep(0.3)
        if new:
            for sql in ("CREATE USER mlflow PASSWORD 'mlflow'", "CREATE DATABASE mlflow OWNER mlflow"):
                done = self.host.run(self.as_postgres("psql", "-h", str(self.root), "-p", str(self.port), "-U",
                                                      "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql))
                assert done.returncode == 0, done.stdout + done.stderr

    def stop(self) -> None:
        """A fast shutdown (SIGTERM's smart one would wait for MLflow's pooled connections to close)."""
        if self.process is None or self.process.poll() is not None:
            return
        subprocess.run(self.as_postgres(str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast"),
                       capture_output=True, timeout=60)
        stop_session(self.process)

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class FileServer:
    """A folder served over HTTP on loopback (a thread of this process), as a dataset host would serve it;
    it counts the requests for each path, and can cut a file short mid-transfer as a dropped link does.

        with FileServer(folder) as server:
            url = server.url + "/train-images-idx3-ubyte.gz"
    """

    def __init__(self, folder: Path):
        self.folder, self.requests, self.cut_short = folder, Counter(), set()
        files = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(files.folder), **kwargs)

            def do_GET(self):
                name = self.path.lstrip("/")
                files.requests[name] += 1
                if name not in files.cut_short:
                    return super().do_GET()
                data = (files.folder / name).read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])  # then the connection closes: a short read
                self.close_connection = True

            def log_message(self, *args):  # the test's output stays the test's
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FileServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
