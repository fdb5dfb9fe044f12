"""The network guard (tests/netguard.py) refuses connections outside 127.0.0.1, in this process and
in the processes tests start, and lets loopback through."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests import netguard

OUTSIDE = ("10.255.255.1", 9)  # a private address nothing here serves: never actually dialled


def test_a_connection_outside_loopback_is_refused_and_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "refused.log"
    monkeypatch.setenv(netguard.LOG_ENV, str(log))  # this test's refusals, not the session's
    with pytest.raises(ConnectionRefusedError, match=r"only to 127\.0\.0\.1.*10\.255\.255\.1:9"):
        socket.create_connection(OUTSIDE, timeout=1)
    code = (
        f"import socket\ntry:\n    socket.create_connection({OUTSIDE!r}, timeout=1)\n"
        "except ConnectionRefusedError:\n    print('refused')"
    )
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert child.stdout.strip() == "refused", child.stderr
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and all(line.endswith("connect to 10.255.255.1:9") for line in lines)


def test_loopback_goes_through() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=lambda: server.accept()[0].close(), daemon=True).start()
    with socket.create_connection(server.getsockname(), timeout=5):
        pass
    server.close()
    assert netguard.allowed("localhost") and netguard.allowed("::1") and not netguard.allowed("8.8.8.8")
