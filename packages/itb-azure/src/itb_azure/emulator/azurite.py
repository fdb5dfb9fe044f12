"""Start and stop Azurite (the Azure Storage emulator, npm package ``azurite``) for tests and demos.

Azurite is installed by the project's setup (``npm ci`` into ``node_modules``); this module only
finds it, starts the blob service on 127.0.0.1 with a free port and waits until it answers. Its
well-known development account (``devstoreaccount1``) is public and documented, so the connection
string below is not a secret.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ACCOUNT = "devstoreaccount1"
#: Azurite's documented, public development key (https://learn.microsoft.com: "Use Azurite").
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_azurite(start: Path | None = None) -> Path:
    """``node_modules/.bin/azurite-blob`` of the repository (searched upwards), else on PATH."""
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents, *Path(__file__).resolve().parents]:
        candidate = folder / "node_modules" / ".bin" / "azurite-blob"
        if candidate.exists():
            return candidate
    found = shutil.which("azurite-blob")
    if found:
        return Path(found)
    raise FileNotFoundError(
        "azurite-blob not found: run `make setup` (it runs `npm ci` for the repository's package.json)"
    )


@dataclass
class Azurite:
    """A running Azurite blob service; use as a context manager or call :meth:`stop`."""

    port: int
    location: Path
    process: subprocess.Popen[bytes]
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Azurite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_azurite(location: Path | None = None, port: int | None = None, timeout_s: float = 60.0) -> Azurite:
    """Start ``azurite-blob`` on 127.0.0.1 and return once it accepts requests."""
    binary = find_azurite()
    tmp = None
    if location is None:
        tmp = tempfile.TemporaryDirectory(prefix="itb-azurite-")
        location = Path(tmp.name)
    port = port or free_port()
    log = open(location / "azurite.out", "wb")  # noqa: SIM115 - owned by the child process
    process = subprocess.Popen(
        [
            str(binary),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--location",
            str(location),
            "--silent",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    azurite = Azurite(port, location, process, tmp)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = (location / "azurite.out").read_text(errors="replace")
            azurite.stop()
            raise RuntimeError(f"azurite exited with code {process.returncode}: {output[-2000:]}")
        try:
            urllib.request.urlopen(f"{azurite.blob_endpoint}?comp=list", timeout=2)
            return azurite
        except urllib.error.HTTPError:  # any HTTP answer (403 without a signature) means it is up
            return azurite
        except OSError:
            time.sleep(0.2)
    azurite.stop()
    raise TimeoutError(f"azurite did not answer on port {port} within {timeout_s:g}s")
