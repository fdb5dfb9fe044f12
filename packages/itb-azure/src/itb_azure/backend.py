"""The ``aci`` backend: every stage run is one Azure Container Instances container group.

A launch creates a group (restart policy Never, the project image, ``itb stage run ...``, CPU and
memory per stage, a user-assigned identity, optional subnet and Log Analytics) without waiting for
the create operation: :meth:`AciBackend.poll` then reads the group with backoff until its container
terminates, so many groups start at once. The exit code decides success; logs are fetched into the
run's logs, and the group is deleted as soon as it is done: also on failure, timeout, Ctrl-C
(``cancel``) and at the end of the run (``close`` deletes anything still known), unless ``keep``.

Names are deterministic, ``itb-<run id>-<task>[-<symbol>]-a<attempt>`` (a hash ends names that would be
longer than 63), and every group is tagged with its run id and a hash of its data root (Dagster's
step handler does the same): a create that is retried, or repeated by a restarted runner for the same
run, attaches to the group already there; ``itb runs clean RUN_ID`` finds a run's groups by tag and
name; and the first launch on a data root deletes the groups other runs left on it (the data root's
lock says no other run is alive there, so they belong to a runner that was killed). At most
``max_parallel`` groups are alive at once (more launches wait in a queue). ARM throttling (429) and
5xx answers are retried by the SDK's retry policy, which honours ``Retry-After``.

Secrets never appear in the plain environment or on the command line: storage credentials of the
launching process and ``env:`` secret references of the config are passed as *secure* environment
variables; ``keyvault://`` references are resolved inside the container with the managed identity.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from itb.backends.base import Backend, PollResult, StageRunSpec, tail_lines
from itb.errors import ConfigError, ItbError
from itb.runs.ids import run_prefix
from itb.storage.store import Storage
from itb.storage.url import protocol_of
from itb.threads import thread_env

from itb_azure.credentials import azure_credential
from itb_azure.settings import ENV_PREFIX, AciSettings, load_settings, static_token

log = logging.getLogger("itb.azure")

CONTAINER = "stage"
#: Storage credentials forwarded from the launching process, always as secure values.
SECURE_FORWARD = (
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
)
PULL_ERRORS = {"errimagepull", "imagepullbackoff", "invalidimagename", "errimageneverpull"}
MAX_POLL_ERRORS = 5
LOG_FETCH_LIMIT = 20000  # lines; ACI keeps the container's recent output


def _slug(text: str) -> str:
    return re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]+", "-", text.lower())).strip("-")


def run_group_prefix(run_id: str) -> str:
    """The start of every container group name of ``run_id`` (``itb runs clean`` matches it)."""
    return _slug(f"itb-{run_id}") + "-"


def group_name(run_id: str, task: str, symbol: str | None, attempt: int) -> str:
    """The container group name of one attempt of one task of a run: valid (lowercase letters,
    digits, dashes; at most 63) and the same every time it is asked for, so a restarted runner finds
    its groups again.

    ``task`` is the stage, or ``stage.step`` for one step of a fanned-out stage; the run id keeps
    concurrent runs apart, the symbol tells multi-symbol runs apart. A name that would be too long
    keeps the run prefix and ends in a hash of the whole identity, so two tasks never share a name.
    """
    full = _slug("-".join([f"itb-{run_id}", task, *([symbol] if symbol else []), f"a{attempt}"]))
    if len(full) <= 63:
        return full
    digest = hashlib.sha256(f"{run_id}|{task}|{symbol}|{attempt}".encode()).hexdigest()[:10]
    return f"{full[: 63 - len(digest) - 1].rstrip('-')}-{digest}"


def data_root_tag(data_root: str) -> str:
    """A short, stable tag value for a data root (tags are visible: the URL itself is not put there)."""
    return hashlib.sha256(data_root.rstrip("/").encode()).hexdigest()[:16]


def arm_client(settings: AciSettings) -> Any:
    """The Container Instances ARM client for ``settings`` (ConfigError naming what is missing)."""
    missing = settings.missing()
    if missing:
        raise ConfigError(
            "the aci backend needs " + ", ".join(missing) + ": set backend.options.aci in the config, "
            "ITB_AZURE_* variables, or run `itb azure settings --from-terraform DIR`"
        )
    from azure.mgmt.containerinstance import ContainerInstanceManagementClient

    return ContainerInstanceManagementClient(
        azure_credential(static_token()),
        settings.subscription_id,
        base_url=settings.arm_endpoint.rstrip("/"),
        credential_scopes=["https://management.azure.com/.default"],
        connection_verify=settings.ca_bundle or True,
        retry_total=settings.retry_total,
        retry_backoff_factor=0.5,
        retry_backoff_max=60,
    )


def container_environment(
    settings: AciSettings, plain: dict[str, str], secret_refs: Iterable[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """``(plain, secure)`` environment of an itb container: ``plain`` plus where Azure is (identity,
    storage account, vault, CA), and as *secure* values (write-only in ARM) the launching process's
    storage credentials, the emulator token and the values of the config's ``env:`` references."""
    plain = dict(plain)
    plain["ITB_LOG_FORMAT"] = os.environ.get("ITB_LOG_FORMAT", "text")
    if settings.identity_client_id:
        plain["AZURE_CLIENT_ID"] = settings.identity_client_id
    account = settings.storage_account_name or os.environ.get("AZURE_STORAGE_ACCOUNT_NAME")
    if account:
        plain["AZURE_STORAGE_ACCOUNT_NAME"] = account
    if settings.keyvault_endpoint:
        plain[ENV_PREFIX + "KEYVAULT_ENDPOINT"] = settings.keyvault_endpoint
    if settings.ca_bundle:
        plain[ENV_PREFIX + "CA_BUNDLE"] = settings.ca_bundle
    secure = {name: os.environ[name] for name in SECURE_FORWARD if os.environ.get(name)}
    token = static_token()
    if token:
        secure[ENV_PREFIX + "STATIC_TOKEN"] = token
    for ref in secret_refs:
        if ref.startswith("env:"):
            var = ref.removeprefix("env:")
            if os.environ.get(var) is not None:
                secure[var] = os.environ[var]
    for name in secure:
        plain.pop(name, None)
    return plain, secure


def group_extras(settings: AciSettings) -> dict[str, Any]:
    """ContainerGroup arguments every itb group shares: the user-assigned identity (also pulling
    from ACR), the subnet, and Log Analytics diagnostics (its key resolved from its reference)."""
    from azure.mgmt.containerinstance import models as m

    kwargs: dict[str, Any] = {}
    if settings.identity_id:
        kwargs["identity"] = m.ContainerGroupIdentity(
            type="UserAssigned", user_assigned_identities={settings.identity_id: m.UserAssignedIdentities()}
        )
        if settings.registry_server:
            kwargs["image_registry_credentials"] = [
                m.ImageRegistryCredential(server=settings.registry_server, identity=settings.identity_id)
            ]
    if settings.subnet_id:
        kwargs["subnet_ids"] = [m.ContainerGroupSubnetId(id=settings.subnet_id)]
    if settings.log_analytics_workspace_id:
        from itb.secret_refs import resolve

        if not settings.log_analytics_key:
            raise ConfigError("log_analytics_workspace_id needs log_analytics_key (a secret reference)")
        key = resolve(settings.log_analytics_key)
        kwargs["diagnostics"] = m.ContainerGroupDiagnostics(
            log_analytics=m.LogAnalytics(workspace_id=settings.log_analytics_workspace_id, workspace_key=key)
        )
    return kwargs


@dataclass(frozen=True)
class GroupSpec:
    """What differs between itb's container groups (a stage run, the service): one container each."""

    container: str
    command: list[str]
    cpu: float
    memory_gb: float
    #: Environment variables: plain ones, and secure ones (not shown by the ARM API).
    plain: dict[str, str]
    secure: dict[str, str]
    restart_policy: str
    tags: dict[str, str]
    #: Secret volumes, ``{volume name: ({file name: base64 content}, mount path)}``, mounted read-only.
    secret_volumes: dict[str, tuple[dict[str, str], str]] = field(default_factory=dict)


def container_group(settings: AciSettings, spec: GroupSpec) -> Any:
    """The ContainerGroup resource of ``spec`` with what every itb group shares (:func:`group_extras`)."""
    from azure.mgmt.containerinstance import models as m

    env = [m.EnvironmentVariable(name=k, value=v) for k, v in sorted(spec.plain.items())]
    env += [m.EnvironmentVariable(name=k, secure_value=v) for k, v in sorted(spec.secure.items())]
    volumes = spec.secret_volumes.items()
    container = m.Container(
        name=spec.container,
        image=settings.image,
        command=spec.command,
        resources=m.ResourceRequirements(
            requests=m.ResourceRequests(cpu=spec.cpu, memory_in_gb=spec.memory_gb)
        ),
        environment_variables=env,
        volume_mounts=[m.VolumeMount(name=n, mount_path=p, read_only=True) for n, (_, p) in volumes] or None,
    )
    return m.ContainerGroup(
        location=settings.location,
        os_type="Linux",
        restart_policy=spec.restart_policy,
        containers=[container],
        tags=spec.tags,
        volumes=[m.Volume(name=n, secret=files) for n, (files, _) in volumes] or None,
        **group_extras(settings),
    )


@dataclass
class AciHandle:
    """One stage run: its container group and what the backend knows about it."""

    spec: StageRunSpec
    name: str
    symbol: str | None
    cpu: float
    memory_gb: float
    timeout_s: float
    queued: bool = True
    created_at: float = 0.0
    running_since: float | None = None
    next_poll: float = 0.0
    interval: float = 0.0
    poll_errors: int = 0
    result: PollResult | None = None
    log_text: str | None = None
    deleted: bool = False
    attempt: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


class AciBackend(Backend):
    name = "aci"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.settings: AciSettings = load_settings(self.options)
        self._client: Any = None
        self._handles: list[AciHandle] = []
        self._created: set[str] = set()  # names PUT (or being PUT) and not yet deleted
        self._deletes: list[tuple[str, Any]] = []
        self._run_config: dict[tuple[str, str], dict[str, Any]] = {}  # by (data root, run id)
        self._planned_cost = 0.0
        self._attempts: dict[tuple[str, str, str | None], int] = {}  # launches per (run, task, symbol)
        self._swept: set[str] = set()  # data roots whose orphan groups were looked for

    # --- Azure clients -------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The ARM client, made on first use (``--dry-run`` needs no credentials)."""
        if self._client is None:
            self._client = arm_client(self.settings)
        return self._client

    # --- what a stage run needs ----------------------------------------------------------------
    def _stored_config(self, spec: StageRunSpec) -> dict[str, Any]:
        """The run's config as stored by the runner (its secret references); {} when there is none
        (a stage launched outside a run). Unreadable storage is a :class:`ConfigError` that fails
        the launch with its reason, never a silent empty config (the secrets would go missing)."""
        key = (spec.data_root, spec.run_id)  # each symbol of a multi-symbol run has its own root
        if key not in self._run_config:
            name = f"{run_prefix(spec.run_id)}/config.json"
            try:
                data = Storage(spec.data_root).read_json(name)
            except FileNotFoundError:
                data = {}
            except (ItbError, ValueError, OSError) as exc:
                raise ConfigError(f"cannot read the run's config {name}: {exc}") from None
            self._run_config[key] = data if isinstance(data, dict) else {}
        return self._run_config[key]

    def _timeout(self, spec: StageRunSpec) -> float:
        own = self.settings.resources(spec.stage).timeout_s
        return min(own, spec.timeout_s) if own else spec.timeout_s

    def threads(self, cpu: float) -> int:
        return self.settings.threads or max(1, math.ceil(cpu))

    def command(self, spec: StageRunSpec, cpu: float) -> list[str]:
        command = spec.command()
        command[command.index("--threads") + 1] = str(self.threads(cpu))
        return command

    def environment(self, spec: StageRunSpec, cpu: float) -> tuple[dict[str, str], dict[str, str]]:
        """``(plain, secure)`` environment of the container. Plain values are visible in the ARM
        resource; anything secret goes into ``secure`` (write-only in ARM)."""
        plain = {**thread_env(self.threads(cpu)), "PYTHONUNBUFFERED": "1", **spec.env}
        refs = (self._stored_config(spec).get("secrets") or {}).values()
        return container_environment(self.settings, plain, refs)

    def group_model(self, handle: AciHandle) -> Any:
        """The ContainerGroup resource for one stage run."""
        plain, secure = self.environment(handle.spec, handle.cpu)
        tags = {
            "itb-run-id": handle.spec.run_id,
            "itb-stage": _task(handle.spec),
            "itb-attempt": str(handle.attempt),
            "itb-data-root": data_root_tag(handle.spec.data_root),
        }
        if handle.symbol:
            tags["itb-symbol"] = handle.symbol
        command = self.command(handle.spec, handle.cpu)
        spec = GroupSpec(CONTAINER, command, handle.cpu, handle.memory_gb, plain, secure, "Never", tags)
        return container_group(self.settings, spec)

    # --- the Backend interface -----------------------------------------------------------------
    def _new_handle(self, spec: StageRunSpec) -> AciHandle:
        symbol = spec.symbol  # the lane's symbol of a multi-symbol run: names need no stored state
        res = self.settings.resources(spec.stage)
        key = (spec.run_id, _task(spec), symbol)
        attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
        name = group_name(spec.run_id, _task(spec), symbol, attempt)
        return AciHandle(spec, name, symbol, res.cpu, res.memory_gb, self._timeout(spec), attempt=attempt)

    def launch(self, spec: StageRunSpec) -> AciHandle:
        if spec.data_root not in self._swept:
            self._swept.add(spec.data_root)
            self._delete_orphans(spec)
        handle = self._new_handle(spec)
        self._handles.append(handle)
        self._start_queued()
        return handle

    def _alive(self) -> int:
        return sum(1 for h in self._handles if not h.queued and h.result is None)

    def _start_queued(self) -> None:
        for handle in self._handles:
            if handle.queued and handle.result is None and self._alive() < self.settings.max_parallel:
                self._create(handle)

    def _create(self, handle: AciHandle) -> None:
        from azure.core.exceptions import HttpResponseError

        handle.queued = False
        handle.created_at = time.monotonic()
        handle.interval = self.settings.poll_interval_s
        handle.next_poll = handle.created_at + min(1.0, handle.interval)
        self._created.add(handle.name)  # before the PUT: an interrupted PUT still gets cleaned up
        log.info("creating container group %s (%g vCPU, %g GB)", handle.name, handle.cpu, handle.memory_gb)
        try:
            # Not waiting for the operation: poll() follows the group, so launches do not serialize.
            self.client.container_groups.begin_create_or_update(
                self.settings.resource_group, handle.name, self.group_model(handle)
            )
        except HttpResponseError as exc:
            self._done(handle, PollResult("failed", None, f"container group not created: {arm_message(exc)}"))
        except ConfigError as exc:
            self._done(handle, PollResult("failed", None, str(exc)))

    def poll(self, handle: AciHandle) -> PollResult:
        if handle.result is not None:
            return handle.result
        if handle.queued:
            self._start_queued()
            return PollResult("running", message="queued")
        now = time.monotonic()
        if now < handle.next_poll:
            return PollResult("running")
        result = self._check(handle, now)
        handle.next_poll = time.monotonic() + handle.interval
        handle.interval = min(handle.interval * 1.5, self.settings.poll_max_interval_s)
        if result.done:
            self._done(handle, result)
        return result

    def _check(self, handle: AciHandle, now: float) -> PollResult:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            group = self.client.container_groups.get(self.settings.resource_group, handle.name)
        except ResourceNotFoundError:
            if now - handle.created_at < 30:  # ARM is eventually consistent right after a PUT
                return PollResult("running")
            return PollResult("failed", None, "the container group disappeared")
        except HttpResponseError as exc:  # the SDK already retried 429/5xx
            handle.poll_errors += 1
            if handle.poll_errors >= MAX_POLL_ERRORS:
                return PollResult("failed", None, f"cannot read the container group: {arm_message(exc)}")
            return PollResult("running")
        handle.poll_errors = 0
        container = group.containers[0] if group.containers else None
        view = container.instance_view if container is not None else None
        current = view.current_state if view is not None else None
        state = (current.state or "") if current is not None else ""
        if state == "Terminated":
            code = current.exit_code if current is not None else None
            if code == 0:
                return PollResult("succeeded", 0)
            return PollResult("failed", code, f"(container exited with code {code})")
        if state == "Running" and handle.running_since is None:
            handle.running_since = now
        detail = ((current.detail_status or "") if current is not None else "").lower()
        events = list(view.events or []) if view is not None else []
        pull_failures = [
            e for e in events if (e.name or "") == "Failed" and "pull" in (e.message or "").lower()
        ]
        if detail in PULL_ERRORS or pull_failures:
            why = pull_failures[-1].message if pull_failures else detail
            return PollResult("failed", None, f"container never started: image pull error: {why}")
        if (group.provisioning_state or "") == "Failed":
            messages = "; ".join(e.message or "" for e in events) or "provisioning failed"
            return PollResult("failed", None, f"container group provisioning failed: {messages}")
        if handle.running_since is None and now - handle.created_at > self.settings.start_timeout_s:
            return PollResult(
                "failed", None, f"container never started within {self.settings.start_timeout_s:g}s ({state})"
            )
        if handle.running_since is not None and now - handle.running_since > handle.timeout_s:
            return PollResult("failed", None, f"stage timed out after {handle.timeout_s:g}s in the container")
        return PollResult("running")

    def _done(self, handle: AciHandle, result: PollResult) -> None:
        """Record the end, fetch the logs, delete the group, and let a queued run start."""
        handle.result = result
        if handle.log_text is None:
            handle.log_text = self._fetch_logs(handle)
        if result.state == "failed" and result.message and result.exit_code is None:
            handle.log_text = (handle.log_text or "") + f"\n[itb aci] {result.message}\n"
        self._delete(handle)
        log.info("container group %s %s %s", handle.name, result.state, result.message)
        self._start_queued()

    def _fetch_logs(self, handle: AciHandle) -> str:
        if handle.name not in self._created:
            return ""
        try:
            logs = self.client.containers.list_logs(
                self.settings.resource_group, handle.name, CONTAINER, tail=LOG_FETCH_LIMIT
            )
        except Exception as exc:  # no logs is not a reason to fail the cleanup
            return f"[itb aci] could not fetch the container logs: {type(exc).__name__}"
        return str(logs.content or "")

    def _delete(self, handle: AciHandle) -> None:
        if handle.deleted or self.settings.keep or handle.name not in self._created:
            handle.deleted = handle.deleted or handle.name not in self._created
            return
        self._begin_delete(handle.name)
        handle.deleted = True

    def _begin_delete(self, name: str) -> bool:
        """Start deleting a group (False: ARM refused, and the error is logged)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            poller = self.client.container_groups.begin_delete(self.settings.resource_group, name)
            self._deletes.append((name, poller))
        except ResourceNotFoundError:
            pass
        except Exception as exc:
            log.error("could not delete container group %s: %s (delete it by hand)", name, arm_message(exc))
            return False
        self._created.discard(name)
        return True

    # --- groups of other runs ------------------------------------------------------------------
    def _groups(self) -> list[Any]:
        return list(self.client.container_groups.list_by_resource_group(self.settings.resource_group))

    def _delete_orphans(self, spec: StageRunSpec) -> None:
        """Delete groups on ``spec``'s data root made by other runs: the runner holds the data
        root's lock, so whoever made them is gone (a killed runner, say). ``keep`` keeps them."""
        from azure.core.exceptions import HttpResponseError

        if self.settings.keep:
            return
        root = data_root_tag(spec.data_root)
        try:
            groups = self._groups()
        except ConfigError:  # missing settings: the create that follows fails the stage and names them
            return
        except HttpResponseError as exc:  # the launch that follows reports ARM problems properly
            log.warning("could not list container groups to clean up: %s", arm_message(exc))
            return
        for group in groups:
            tags = group.tags or {}
            if tags.get("itb-data-root") == root and tags.get("itb-run-id") != spec.run_id:
                log.warning(
                    "deleting container group %s left by run %s (its runner is gone)",
                    group.name,
                    tags.get("itb-run-id"),
                )
                self._begin_delete(group.name)
        self._wait_deletes()

    def clean_run(self, run_id: str) -> list[str]:
        """Delete every container group of ``run_id`` (by its tag or its name prefix), waiting for
        the deletions; the names deleted, sorted."""
        prefix = run_group_prefix(run_id)
        found = sorted(
            str(g.name)
            for g in self._groups()
            if (g.tags or {}).get("itb-run-id") == run_id or str(g.name).startswith(prefix)
        )
        deleted = [name for name in found if self._begin_delete(name)]
        self._wait_deletes()
        return deleted

    def logs(self, handle: AciHandle, tail: int | None = None) -> str:
        text = handle.log_text if handle.log_text is not None else self._fetch_logs(handle)
        return tail_lines(text, tail)

    def cancel(self, handle: AciHandle) -> None:
        """Stop the run: delete its group now (logs fetched first) and wait for the deletion."""
        if handle.result is None:
            handle.result = PollResult("failed", None, "cancelled")
            handle.log_text = self._fetch_logs(handle) if not handle.queued else ""
        if not self.settings.keep:
            self._delete(handle)
            self._wait_deletes()

    def _wait_deletes(self) -> None:
        deadline = time.monotonic() + self.settings.delete_timeout_s
        for name, poller in self._deletes:
            try:
                poller.result(timeout=max(1.0, deadline - time.monotonic()))
            except Exception as exc:
                log.error("deleting container group %s: %s", name, arm_message(exc))
        self._deletes.clear()

    def close(self) -> None:
        """Delete every group this backend created and has not deleted yet (also after Ctrl-C)."""
        if self._client is None:
            return
        if not self.settings.keep:
            for handle in self._handles:
                if handle.result is None and not handle.queued:
                    handle.result = PollResult("failed", None, "run ended")
            for name in sorted(self._created):
                self._begin_delete(name)
        self._wait_deletes()
        self._client.close()
        self._client = None

    def describe(self, spec: StageRunSpec, estimate_s: float | None = None) -> str:
        """One planned container group with its size and estimated cost (for ``--dry-run``): the
        duration is ``estimate_s`` (measured by an earlier run) or the stage's fixed guess."""
        res = self.settings.resources(spec.stage)
        symbol = spec.symbol or os.environ.get(ENV_PREFIX + "SYMBOL")
        name = group_name(spec.run_id, _task(spec), symbol, 1)
        seconds, basis = (estimate_s, "measured") if estimate_s is not None else (res.estimated_s, "guess")
        vcpu_s, gb_s = res.cpu * seconds, res.memory_gb * seconds
        cost = vcpu_s * self.settings.price_vcpu_s + gb_s * self.settings.price_gb_s
        self._planned_cost += cost
        return (
            f"aci container group {name}: image {self.settings.image}, "
            f"{res.cpu:g} vCPU, {res.memory_gb:g} GB, "
            f"command {' '.join(self.command(spec, res.cpu))}; estimate {seconds:.4g}s ({basis}) = "
            f"{vcpu_s:.4g} vCPU-s + {gb_s:.4g} GB-s = ${cost:.4f} (run total ${self._planned_cost:.4f})"
        )

    def check_data_root(self, data_root: str, source: str) -> None:
        check_aci_data_root(data_root, source)


def check_aci_data_root(data_root: str, source: str) -> None:
    """Containers run elsewhere: a local (or in-memory) data root is an error before anything starts."""
    protocol = protocol_of(data_root)
    if protocol in ("file", "local", "memory"):
        raise ConfigError(
            f"{source}: {data_root!r} is not reachable from an aci container (a {protocol} path); "
            "use a Blob data root such as abfs://CONTAINER/PATH"
        )


def _task(spec: StageRunSpec) -> str:
    """``stage`` or ``stage.step`` (steps of fanned-out stages, where the core provides them)."""
    step = getattr(spec, "step", None)
    return spec.stage if step is None else f"{spec.stage}.{step}"


def arm_message(exc: BaseException) -> str:
    """A short ARM error (code and message), without headers or request bodies."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or str(exc).splitlines()[0]
    status = getattr(exc, "status_code", None)
    return " ".join(str(p) for p in (status, code, message) if p)
