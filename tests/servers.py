"""Servers the tests start on loopback and stop again: `mlflow server` on a SQLite store, and a folder of
files over HTTP (a dataset's host)."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

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
