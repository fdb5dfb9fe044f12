"""``itb deploy serve --backend aci``: the live service as one ACI container group.

The group has restart policy ``Always`` (ACI starts ``itb serve`` again whenever it exits), runs
``itb serve /etc/itb/config.json --data-root <Blob root>`` with the stage identity (the same
user-assigned identity, registry, subnet and Log Analytics as the batch groups), and gets its config
through a secret volume: a config holds secret *references* only, and ``keyvault://`` references are
resolved inside the container with the identity, so no secret value is ever on the command line or
in a plain environment variable (``env:`` references travel as secure values, as for stage runs).

A deploy of an existing group is an update (ARM create-or-update): an unchanged group keeps running,
a changed one restarts with its new definition. ``--status``, ``--logs`` and ``--stop`` read, tail and
delete it.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from itb.config.models import PipelineConfig
from itb.errors import ConfigError, ItbError

from itb_azure.backend import (
    GroupSpec,
    arm_client,
    arm_message,
    check_aci_data_root,
    container_environment,
    container_group,
    data_root_tag,
)
from itb_azure.settings import AciSettings

SERVE_CONTAINER = "serve"
CONFIG_MOUNT = "/etc/itb"
CONFIG_FILE = "config.json"


class DeploymentMissing(ItbError):
    """``--status``/``--logs`` of a service that is not deployed (exit 1: nothing to show)."""

    exit_code = 1


@dataclass(frozen=True)
class ServeDeployment:
    """What the service's container group runs; everything but ``config_json`` is visible in ARM."""

    name: str
    config: PipelineConfig
    config_json: str
    data_root: str
    serve_args: tuple[str, ...] = ()
    cpu: float = 1.0
    memory_gb: float = 2.0
    env: tuple[tuple[str, str], ...] = ()

    def command(self) -> list[str]:
        return ["itb", "serve", f"{CONFIG_MOUNT}/{CONFIG_FILE}", "--data-root", self.data_root,
                *self.serve_args]  # fmt: skip


@dataclass(frozen=True)
class ServeStatus:
    """The service as ARM shows it."""

    name: str
    provisioning: str
    state: str
    restart_count: int
    started_at: str | None
    previous_exit_code: int | None
    events: tuple[str, ...]

    def lines(self) -> list[str]:
        previous = "" if self.previous_exit_code is None else f", last exit code {self.previous_exit_code}"
        out = [
            f"{self.name}: {self.state} (provisioning {self.provisioning}), "
            f"restarts {self.restart_count}{previous}, started {self.started_at or '-'}"
        ]
        out += [f"  event: {event}" for event in self.events[-5:]]
        return out


def make_deployment(
    config: PipelineConfig,
    settings: AciSettings,
    name: str,
    data_root: str | None = None,
    serve_args: tuple[str, ...] = (),
    env: tuple[tuple[str, str], ...] = (),
) -> ServeDeployment:
    """Check what the deployment needs before anything is created: a data root the container can
    reach (``--data-root`` or the config's ``data_root``) and a valid group name."""
    root, source = (data_root, "--data-root") if data_root else (config.data_root, "data_root")
    check_aci_data_root(root, source)
    if not (0 < len(name) <= 63) or not name.replace("-", "").isalnum() or name != name.lower():
        raise ConfigError(f"--name: {name!r} is not a container group name (lowercase letters, digits, '-')")
    res = settings.resources("serve")
    # The parsed config (secret references only), as the runner stores a run's config for its stages.
    config_json = json.dumps(config.model_copy(update={"data_root": root}).model_dump(mode="json"))
    return ServeDeployment(name, config, config_json, root, serve_args, res.cpu, res.memory_gb, env)


def group_model(settings: AciSettings, deployment: ServeDeployment) -> Any:
    """The ContainerGroup resource of the service: restarted whenever its process exits."""
    plain = {"PYTHONUNBUFFERED": "1", **dict(deployment.env)}
    plain, secure = container_environment(settings, plain, deployment.config.secrets.values())
    encoded = base64.b64encode(deployment.config_json.encode()).decode()
    tags = {"itb-service": "serve", "itb-data-root": data_root_tag(deployment.data_root)}
    spec = GroupSpec(
        SERVE_CONTAINER, deployment.command(), deployment.cpu, deployment.memory_gb, plain, secure,
        "Always", tags, secret_volumes={"config": ({CONFIG_FILE: encoded}, CONFIG_MOUNT)},
    )  # fmt: skip
    return container_group(settings, spec)


def status_of(group: Any) -> ServeStatus:
    """A :class:`ServeStatus` from an ARM ContainerGroup."""
    container = group.containers[0] if group.containers else None
    view = container.instance_view if container is not None else None
    current = view.current_state if view is not None else None
    previous = view.previous_state if view is not None else None
    events = tuple(f"{e.name}: {e.message}" for e in (view.events or [])) if view is not None else ()
    return ServeStatus(
        name=str(group.name),
        provisioning=str(group.provisioning_state or ""),
        state=str((current.state if current is not None else None) or "Unknown"),
        restart_count=int((view.restart_count if view is not None else 0) or 0),
        started_at=str(current.start_time) if current is not None and current.start_time else None,
        previous_exit_code=previous.exit_code if previous is not None else None,
        events=events,
    )


class ServeDeployer:
    """Create or update, read, tail and delete the service's container group."""

    def __init__(self, settings: AciSettings) -> None:
        self.settings = settings
        self.client = arm_client(settings)

    def close(self) -> None:
        self.client.close()

    def deploy(self, deployment: ServeDeployment) -> ServeStatus:
        """Create or update the group and wait until ARM says it is provisioned."""
        from azure.core.exceptions import HttpResponseError

        try:
            poller = self.client.container_groups.begin_create_or_update(
                self.settings.resource_group,
                deployment.name,
                group_model(self.settings, deployment),
                polling_interval=self.settings.poll_interval_s,  # the SDK's default is 30 s
            )
            poller.result(timeout=self.settings.start_timeout_s)
        except HttpResponseError as exc:
            raise ItbError(f"container group {deployment.name} not created: {arm_message(exc)}") from None
        return self.wait_running(deployment.name, self.settings.start_timeout_s)

    def status(self, name: str) -> ServeStatus:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return status_of(self.client.container_groups.get(self.settings.resource_group, name))
        except ResourceNotFoundError:
            raise DeploymentMissing(
                f"no container group {name} in resource group {self.settings.resource_group}"
            ) from None

    def wait_running(self, name: str, timeout_s: float) -> ServeStatus:
        """The status once the container runs (or the last one seen when ``timeout_s`` is over)."""
        deadline = time.monotonic() + timeout_s
        status = self.status(name)
        while status.state != "Running" and time.monotonic() < deadline:
            time.sleep(min(1.0, self.settings.poll_interval_s))
            status = self.status(name)
        return status

    def logs(self, name: str, tail: int | None) -> str:
        self.status(name)  # a clear message when there is no such group
        result = self.client.containers.list_logs(
            self.settings.resource_group, name, SERVE_CONTAINER, tail=tail
        )
        return str(result.content or "")

    def stop(self, name: str) -> bool:
        """Delete the group (False: there was none)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.client.container_groups.get(self.settings.resource_group, name)
        except ResourceNotFoundError:
            return False
        poller = self.client.container_groups.begin_delete(
            self.settings.resource_group, name, polling_interval=self.settings.poll_interval_s
        )
        poller.result(timeout=self.settings.delete_timeout_s)
        return True
