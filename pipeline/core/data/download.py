"""Files fetched once by URL into a cache, and trusted only once their checksum holds.

    path = fetch(RemoteFile("train-images-idx3-ubyte.gz", "md5:f68b...", urls=(canonical, mirror)), folder)

A download goes to `NAME.<pid>.part` beside its destination with a progress bar, and is renamed to NAME only
after its checksum matches the published one (an MD5, or the start of a SHA-256 as torch.hub's file
names carry it): an interrupted or corrupt download never leaves a file that
the next run trusts. The URLs are tried in order (the canonical one first, then its mirrors); when none
gives the file, the error names each URL, the file, and where to put it by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from pipeline.core.data.base import DatasetError

DATA_HOME_VARIABLE = "GAN_SWEEP_DATA"  # where downloaded datasets and weights are kept
CHUNK = 1 << 20  # read and hash a megabyte at a time
TIMEOUT_S = 30  # a host that does not answer in this long is skipped for the next mirror


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name in the cache, its published checksum ("md5:<hex>", or "sha256:<hex>" where
    the hex may be a prefix), and where to get it (canonical first)."""

    name: str
    checksum: str
    urls: tuple[str, ...]

    def hasher(self):
        algorithm = self.checksum.split(":")[0]
        return hashlib.md5(usedforsecurity=False) if algorithm == "md5" else hashlib.new(algorithm)

    def matches(self, hexdigest: str) -> bool:
        return hexdigest.startswith(self.checksum.split(":")[1])


class DownloadError(DatasetError):
    """No URL gave the file with its published checksum; the message says where to put it by hand."""


def data_home() -> Path:
    """$GAN_SWEEP_DATA, else gan-sweep under the user's cache folder ($XDG_CACHE_HOME or ~/.cache)."""
    if os.environ.get(DATA_HOME_VARIABLE):
        return Path(os.environ[DATA_HOME_VARIABLE]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "gan-sweep"


def fetch(remote: RemoteFile, folder: Path) -> Path:
    """`folder/remote.name`, downloaded first if it is not there; raises DownloadError naming what to do."""
    target = folder / remote.name
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in remote.urls:
        try:
            download(url, target, remote)
            return target
        except (OSError, http.client.HTTPException, ValueError) as err:  # this host failed (or cut it short): the next
            failures.append(f"{url}: {err}")
    tried = "\n  ".join(failures)
    raise DownloadError(f"could not download {remote.name} ({remote.checksum}):\n  {tried}\n"
                        f"Download it by hand and put it at {target}, or set dataset.path to a folder holding it.")


def download(url: str, target: Path, remote: RemoteFile) -> None:
    """`url` into `target`, through its own .part file (a trial beside it may fetch the same file); raises
    ValueError when the bytes do not match its checksum."""
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    digest = remote.hasher()
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as answer, open(partial, "wb") as out:
            size = int(answer.headers.get("Content-Length") or 0) or None  # a server may not say
            with tqdm(total=size, unit="B", unit_scale=True, desc=f"Downloading {target.name}", file=sys.stderr,
                      leave=False) as bar:
                while chunk := answer.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if not remote.matches(digest.hexdigest()):
            raise ValueError(f"checksum mismatch: {digest.name} {digest.hexdigest()}, published {remote.checksum}")
        partial.replace(target)  # atomic on one file system: the file appears whole or not at all
        print(f"Downloaded {url} -> {target}", file=sys.stderr, flush=True)
    finally:
        partial.unlink(missing_ok=True)
