"""A local ARM + Key Vault emulator: just the REST surface the ``aci`` backend uses, for real.

Container groups (api-version 2023-05-01 paths of azure-mgmt-containerinstance):

* ``PUT .../containerGroups/{name}``: create; answers 201 with ``provisioningState: Creating`` (the
  SDK's long-running-operation poller then follows ``provisioningState`` on GET), and really starts
  the container's command as a local process with exactly the container's environment (plain and
  secure values), in its own session so that DELETE can stop everything it started;
* ``GET`` of one group (with the container's instance view: Waiting/Running/Terminated, exit code,
  events), ``GET`` of a resource group's list, ``DELETE``, ``GET .../containers/{c}/logs``.

The image's ``itb`` entry point is mapped to this interpreter's ``python -m itb``. The restart
policy is honoured: an ``Always`` group's process is started again whenever it exits (``OnFailure``:
when it exits non-zero), after a short back-off, and ``restartCount`` and ``previousState`` show it,
as in ACI. A PUT that changes a live group's containers restarts it with the new definition. Secret
volumes are written under the group's folder and their ``mountPath`` is replaced by that folder in
the command and the environment (the container's file system is this machine's).

Key Vault: ``GET /vaults/{vault}/secrets/{name}[/{version}]`` with the bearer challenge the SDK
expects (a 401 with ``WWW-Authenticate`` first, then the token).

Fault injection (``POST /_emulator/faults``) for tests: a container that exits non-zero, one stuck
in an image-pull error, a container that sleeps, and ARM 429 answers with ``Retry-After``.
Everything listens on 127.0.0.1 over HTTPS with a self-signed certificate made at start-up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from itb_azure.emulator.tls import make_self_signed

log = logging.getLogger("itb_azure.emulator")

DEFAULT_TOKEN = "itb-emulator-token"  # not a secret: the emulator only checks that a token is sent
_GROUP = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.ContainerInstance/"
    r"containerGroups(?:/(?P<name>[^/]+))?(?:/containers/(?P<container>[^/]+)/logs)?$",
    re.IGNORECASE,
)
_SECRET = re.compile(r"^/vaults/(?P<vault>[^/]+)/secrets/(?P<name>[^/]+)(?:/(?P<version>[^/]*))?$")
#: Environment a container process inherits from the host: only what a Python process needs to start.
_HOST_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Fault:
    """An injected fault. ``stage``: matches containers whose command has ``--stage <stage>``."""

    kind: str  # exit | image_pull | sleep | throttle
    stage: str | None = None
    exit_code: int = 3
    seconds: float = 3600.0
    count: int = 1  # throttle: how many answers; others: how many containers
    retry_after: float = 1.0
    methods: tuple[str, ...] = ("PUT", "GET", "DELETE")


@dataclass
class Group:
    sub: str
    rg: str
    name: str
    body: dict[str, Any]
    workdir: Path
    created: float = field(default_factory=time.time)
    process: subprocess.Popen[bytes] | None = None
    state: str = "Waiting"  # Waiting | Running | Terminated
    detail: str = ""
    exit_code: int | None = None
    start_time: str | None = None
    finish_time: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    provisioning: str = "Creating"
    restart_count: int = 0
    previous: dict[str, Any] | None = None  # the state before the last restart

    @property
    def container(self) -> dict[str, Any]:
        return self.body["properties"]["containers"][0]  # type: ignore[no-any-return]

    @property
    def log_path(self) -> Path:
        return self.workdir / "container.log"

    def command(self) -> list[str]:
        return list(self.container["properties"].get("command") or [])

    @property
    def restart_policy(self) -> str:
        return str(self.body["properties"].get("restartPolicy") or "Always")

    def mounts(self) -> dict[str, Path]:
        """Mount path -> local folder of each secret volume the container mounts."""
        volumes = {v["name"]: v for v in self.body["properties"].get("volumes") or []}
        found = {}
        for mount in self.container["properties"].get("volumeMounts") or []:
            volume = volumes.get(mount["name"])
            if volume is not None and "secret" in volume:
                found[mount["mountPath"].rstrip("/")] = self.workdir / "volumes" / mount["name"]
        return found

    def stage(self) -> str | None:
        cmd = self.command()
        return cmd[cmd.index("--stage") + 1] if "--stage" in cmd[:-1] else None


class EmulatorState:
    """Container groups, secrets, faults and request counters, shared by the handler threads."""

    def __init__(self, workdir: Path, token: str = DEFAULT_TOKEN, start_delay_s: float = 0.2) -> None:
        self.workdir, self.token, self.start_delay_s = workdir, token, start_delay_s
        self.lock = threading.RLock()
        self.groups: dict[tuple[str, str, str], Group] = {}
        self.secrets: dict[tuple[str, str], str] = {}
        self.faults: list[Fault] = []
        self.requests: list[dict[str, Any]] = []
        self.created_total = 0
        self.deleted_total = 0

    # --- faults --------------------------------------------------------------------------------
    def take_fault(self, kinds: tuple[str, ...], stage: str | None = None, method: str = "") -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.kind not in kinds or fault.count <= 0:
                    continue
                if fault.stage is not None and fault.stage != stage:
                    continue
                if method and method not in fault.methods:
                    continue
                fault.count -= 1
                return fault
        return None

    # --- containers ----------------------------------------------------------------------------
    def create(self, sub: str, rg: str, name: str, body: dict[str, Any]) -> Group:
        key = (sub.lower(), rg.lower(), name.lower())
        with self.lock:
            existing = self.groups.get(key)
            if existing is not None and existing.state != "Terminated":
                if _containers(existing.body) == _containers(body):
                    return existing  # create-or-update of a live group with the same containers
                existing.body = body  # an update: the container restarts with its new definition
                self._kill(existing)
                return existing
            folder = self.workdir / f"{name}-{uuid.uuid4().hex[:6]}"
            folder.mkdir(parents=True)
            group = Group(sub, rg, name, body, folder)
            self.groups[key] = group
            self.created_total += 1
        threading.Thread(target=self._start, args=(group,), daemon=True).start()
        return group

    def _start(self, group: Group) -> None:
        time.sleep(self.start_delay_s)
        image = group.container["properties"].get("image", "")
        fault = self.take_fault(("exit", "image_pull", "sleep"), group.stage())
        with self.lock:
            if self.groups.get((group.sub.lower(), group.rg.lower(), group.name.lower())) is not group:
                return  # deleted before it started
            if fault is not None and fault.kind == "image_pull":
                group.detail = "ErrImagePull"
                group.events.append(
                    {
                        "count": 3,
                        "firstTimestamp": _now(),
                        "lastTimestamp": _now(),
                        "name": "Failed",
                        "message": f'Failed to pull image "{image}": manifest unknown (injected fault)',
                        "type": "Warning",
                    }
                )
                return
            mounts = _write_secret_volumes(group)
            command = [_mapped(arg, mounts) for arg in self._local_command(group.command(), fault)]
            env = {k: os.environ[k] for k in _HOST_ENV if k in os.environ}
            for var in group.container["properties"].get("environmentVariables") or []:
                value = var.get("secureValue", var.get("value"))
                if value is not None:
                    env[var["name"]] = _mapped(value, mounts)
            with open(group.log_path, "ab") as out:  # a restarted container's output follows on
                group.process = subprocess.Popen(
                    command,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=group.workdir,
                    start_new_session=True,
                )
            group.state, group.detail, group.start_time = "Running", "", _now()
            group.provisioning = "Succeeded"
            group.events.append(
                {"count": 1, "name": "Started", "message": "Started container", "type": "Normal"}
            )
        threading.Thread(target=self._wait, args=(group,), daemon=True).start()

    @staticmethod
    def _local_command(command: list[str], fault: Fault | None) -> list[str]:
        if fault is not None and fault.kind == "exit":
            code = (
                f"import sys; print('injected failure: exit {fault.exit_code}'); sys.exit({fault.exit_code})"
            )
            return [sys.executable, "-c", code]
        if fault is not None and fault.kind == "sleep":
            return [sys.executable, "-c", f"import time; time.sleep({fault.seconds})"]
        if command and command[0] == "itb":  # the image's entry point is this venv's itb
            return [sys.executable, "-m", "itb", *command[1:]]
        return command

    def _wait(self, group: Group) -> None:
        process = group.process
        assert process is not None
        code = process.wait()
        with self.lock:
            if group.process is not process:
                return
            group.state, group.exit_code, group.finish_time = "Terminated", code, _now()
            group.detail = "Completed" if code == 0 else "Error"
            live = self.groups.get((group.sub.lower(), group.rg.lower(), group.name.lower())) is group
            policy = group.restart_policy
            restart = live and (policy == "Always" or (policy == "OnFailure" and code != 0))
            if restart:
                group.previous = {"state": "Terminated", "exitCode": code, "finishTime": group.finish_time,
                                  "startTime": group.start_time, "detailStatus": group.detail}  # fmt: skip
                group.restart_count += 1
                group.state, group.exit_code = "Waiting", None
                message = f"Container exited with code {code}; restarting (policy {policy})"
                group.events.append(
                    {"count": group.restart_count, "name": "Killing", "type": "Normal", "message": message}
                )
        if restart:
            threading.Thread(target=self._start, args=(group,), daemon=True).start()

    def _kill(self, group: Group) -> None:
        """Kill the container's processes (as a crash would); the restart policy decides what follows."""
        process = group.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def kill_container(self, rg: str, name: str) -> int:
        """Kill a group's running process (a test's crash); its pid."""
        with self.lock:
            group = next(g for g in self.groups.values() if (g.rg, g.name) == (rg, name))
            assert group.process is not None and group.process.poll() is None, "no running process"
            pid = group.process.pid
        self._kill(group)
        return pid

    def delete(self, sub: str, rg: str, name: str) -> Group | None:
        with self.lock:
            group = self.groups.pop((sub.lower(), rg.lower(), name.lower()), None)
            if group is not None:
                self.deleted_total += 1
        if group is not None and group.process is not None:
            self._kill(group)
            group.process.wait()
        return group

    def stop_all(self) -> None:
        for sub, rg, name in list(self.groups):
            self.delete(sub, rg, name)

    def live_processes(self) -> int:
        with self.lock:
            return sum(1 for g in self.groups.values() if g.process is not None and g.process.poll() is None)

    def view(self, group: Group) -> dict[str, Any]:
        """The group as ARM returns it (secure values never come back)."""
        body = json.loads(json.dumps(group.body))
        props = body.setdefault("properties", {})
        container = props["containers"][0]
        cprops = container["properties"]
        cprops["environmentVariables"] = [
            {k: v for k, v in var.items() if k != "secureValue"}
            for var in cprops.get("environmentVariables") or []
        ]
        current: dict[str, Any] = {"state": group.state, "detailStatus": group.detail}
        if group.start_time:
            current["startTime"] = group.start_time
        if group.state == "Terminated":
            current.update(exitCode=group.exit_code, finishTime=group.finish_time)
        cprops["instanceView"] = {"restartCount": group.restart_count, "currentState": current,
                                  "events": group.events}  # fmt: skip
        if group.previous is not None:
            cprops["instanceView"]["previousState"] = group.previous
        if group.state == "Terminated":
            overall = "Succeeded" if group.exit_code == 0 else "Failed"
        else:
            overall = "Running" if group.state == "Running" else "Pending"
        props["provisioningState"] = group.provisioning
        props["instanceView"] = {"state": overall, "events": []}
        body.update(
            id=f"/subscriptions/{group.sub}/resourceGroups/{group.rg}/providers/"
            f"Microsoft.ContainerInstance/containerGroups/{group.name}",
            name=group.name,
            type="Microsoft.ContainerInstance/containerGroups",
        )
        return body  # type: ignore[no-any-return]


def _containers(body: dict[str, Any]) -> str:
    """The parts of a group whose change restarts it (containers and volumes), comparable."""
    props = body.get("properties") or {}
    return json.dumps([props.get("containers"), props.get("volumes")], sort_keys=True)


def _write_secret_volumes(group: Group) -> dict[str, Path]:
    """Write the group's secret volumes (base64 values) to its folder; mount path -> folder."""
    import base64

    volumes = {v["name"]: v for v in group.body["properties"].get("volumes") or []}
    mounts = group.mounts()
    for folder in mounts.values():
        folder.mkdir(parents=True, exist_ok=True)
        for filename, encoded in (volumes[folder.name].get("secret") or {}).items():
            (folder / filename).write_bytes(base64.b64decode(encoded))
    return mounts


def _mapped(text: str, mounts: dict[str, Path]) -> str:
    """``text`` with a leading mount path replaced by the volume's local folder."""
    for mount, folder in mounts.items():
        if text == mount or text.startswith(mount + "/"):
            return str(folder) + text[len(mount) :]
    return text


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # --- plumbing ------------------------------------------------------------------------------
    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", uuid.uuid4().hex)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"code": code, "message": message}}, headers)

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        return auth == f"Bearer {self.server.state.token}"

    def _dispatch(self, method: str) -> None:
        state = self.server.state
        url = urlparse(self.path)
        state.requests.append({"method": method, "path": url.path, "time": time.time()})
        try:
            if url.path.startswith("/_emulator/"):
                self._admin(method, url.path)
            elif url.path.startswith("/vaults/"):
                self._keyvault(method, url.path)
            else:
                self._arm(method, url.path, parse_qs(url.query))
        except Exception as exc:
            log.exception("emulator error")
            self._error(500, "InternalServerError", f"emulator: {type(exc).__name__}: {exc}")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_POST(self) -> None:
        self._dispatch("POST")

    # --- ARM -----------------------------------------------------------------------------------
    def _arm(self, method: str, path: str, query: dict[str, list[str]]) -> None:
        state = self.server.state
        body = self._body() if method == "PUT" else {}
        if not self._authorized():
            self._error(401, "AuthenticationFailed", "missing or wrong bearer token")
            return
        match = _GROUP.match(path)
        if not match:
            self._error(404, "NotFound", f"emulator: no such path {path}")
            return
        sub, rg, name, container = match["sub"], match["rg"], match["name"], match["container"]
        throttle = state.take_fault(("throttle",), method=method)
        if throttle is not None:
            self._error(
                429,
                "TooManyRequests",
                "emulator: request throttled (injected fault)",
                {"Retry-After": f"{throttle.retry_after:g}"},
            )
            return
        if name is None:
            if method != "GET":
                self._error(405, "MethodNotAllowed", method)
                return
            with state.lock:
                groups = [state.view(g) for g in state.groups.values() if (g.sub, g.rg) == (sub, rg)]
            self._send(200, {"value": groups})
            return
        key = (sub.lower(), rg.lower(), name.lower())
        if container is not None:
            group = state.groups.get(key)
            if group is None:
                self._error(404, "ResourceNotFound", f"container group {name} not found")
                return
            text = group.log_path.read_text(errors="replace") if group.log_path.exists() else ""
            tail = query.get("tail")
            if tail:
                text = "\n".join(text.splitlines()[-int(tail[0]) :])
            self._send(200, {"content": text})
            return
        if method == "PUT":
            if not (body.get("properties") or {}).get("containers"):
                self._error(400, "InvalidRequestContent", "a container group needs containers")
                return
            group = state.create(sub, rg, name, body)
            with state.lock:
                self._send(201, state.view(group))
        elif method == "GET":
            group = state.groups.get(key)
            if group is None:
                self._error(404, "ResourceNotFound", f"container group {name} not found")
                return
            with state.lock:
                self._send(200, state.view(group))
        elif method == "DELETE":
            group = state.delete(sub, rg, name)
            if group is None:
                self._send(204)
            else:
                self._send(200, state.view(group))
        else:
            self._error(405, "MethodNotAllowed", method)

    # --- Key Vault -----------------------------------------------------------------------------
    def _keyvault(self, method: str, path: str) -> None:
        state = self.server.state
        if not self._authorized():
            # The SDK first sends an unauthenticated request and learns tenant and scope from this.
            host = self.headers.get("Host", "127.0.0.1")
            self._send(
                401,
                {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer token"}},
                {
                    "WWW-Authenticate": 'Bearer authorization="https://login.microsoftonline.com/'
                    f'00000000-0000-0000-0000-000000000000", resource="https://{host}"'
                },
            )
            return
        match = _SECRET.match(path)
        if method != "GET" or not match:
            self._error(404, "NotFound", f"emulator: no such path {path}")
            return
        value = state.secrets.get((match["vault"], match["name"]))
        if value is None:
            self._error(404, "SecretNotFound", f"A secret with (name/id) {match['name']} was not found")
            return
        host = self.headers.get("Host", "127.0.0.1")  # the id keeps the parseable vault layout
        self._send(
            200,
            {
                "value": value,
                "id": f"https://{host}/secrets/{match['name']}/0123456789abcdef0123456789abcdef",
                "attributes": {"enabled": True, "created": int(time.time()), "updated": int(time.time())},
            },
        )

    # --- test administration -------------------------------------------------------------------
    def _admin(self, method: str, path: str) -> None:
        state = self.server.state
        if path == "/_emulator/faults" and method == "POST":
            spec = self._body()
            if "methods" in spec:
                spec["methods"] = tuple(spec["methods"])
            with state.lock:
                state.faults.append(Fault(**spec))
            self._send(200, {"ok": True})
        elif path == "/_emulator/faults" and method == "DELETE":
            with state.lock:
                state.faults.clear()
            self._send(200, {"ok": True})
        elif path == "/_emulator/secrets" and method == "PUT":
            spec = self._body()
            with state.lock:
                state.secrets[(spec["vault"], spec["name"])] = spec["value"]
            self._send(200, {"ok": True})
        elif path == "/_emulator/state" and method == "GET":
            with state.lock:
                self._send(
                    200,
                    {
                        "groups": sorted(g.name for g in state.groups.values()),
                        "live_processes": state.live_processes(),
                        "created_total": state.created_total,
                        "deleted_total": state.deleted_total,
                        "throttled": sum(1 for f in state.faults if f.kind == "throttle" and f.count <= 0),
                    },
                )
        else:
            self._error(404, "NotFound", path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: EmulatorState


@dataclass
class Emulator:
    """A running emulator (``start_emulator``); ``url`` is the ARM endpoint and the Key Vault host."""

    server: _Server
    thread: threading.Thread
    cert_path: Path
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def state(self) -> EmulatorState:
        return self.server.state

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return self.state.token

    def vault_url(self, vault: str) -> str:
        return f"{self.url}/vaults/{vault}"

    def stop(self) -> None:
        self.state.stop_all()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator(
    workdir: Path | None = None, port: int = 0, token: str = DEFAULT_TOKEN, start_delay_s: float = 0.2
) -> Emulator:
    """Start the emulator on 127.0.0.1 (``port`` 0: a free one) in a background thread."""
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="itb-arm-emulator-")
        workdir = Path(tmp.name)
    cert, key = make_self_signed(workdir / "tls")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = _Server(("127.0.0.1", port), _Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.state = EmulatorState(workdir / "groups", token, start_delay_s)
    thread = threading.Thread(target=server.serve_forever, name="arm-emulator", daemon=True)
    thread.start()
    return Emulator(server, thread, cert, tmp)
