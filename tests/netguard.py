"""Tests talk to 127.0.0.1 only, enforced: an audit hook (PEP 578) on ``socket.connect`` refuses any
address that is not loopback, in the pytest process and in every Python process the tests start.

:mod:`tests.conftest` installs it here and puts ``tests/faults`` on ``PYTHONPATH`` for the session,
whose ``sitecustomize`` installs it in each child (itb stages, services, emulators, fake servers).
A refused connection raises ``ConnectionRefusedError`` where it was made and is written to the file
named by ``ITB_TEST_NETGUARD_LOG``; the session then fails even if the code under test swallowed
the error (a retry loop, a fallback). The hook only watches; it changes no function of any library.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from typing import Any

LOG_ENV = "ITB_TEST_NETGUARD_LOG"
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def allowed(host: str) -> bool:
    """Loopback addresses and the local host names."""
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _guard(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect":
        return
    sock, address = args
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return  # unix sockets and the like
    host = str(address[0])
    if allowed(host):
        return
    where = f"{host}:{address[1]}"
    log = os.environ.get(LOG_ENV)
    if log:
        with open(log, "a") as handle:
            handle.write(f"pid {os.getpid()} ({' '.join(sys.argv[:3])}): connect to {where}\n")
    raise ConnectionRefusedError(f"tests talk only to 127.0.0.1: the connection to {where} was refused")


_installed = False


def install() -> None:
    """Add the hook to this process (once)."""
    global _installed
    if not _installed:
        sys.addaudithook(_guard)
        _installed = True
