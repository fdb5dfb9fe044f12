"""Settings of the ``aci`` backend: ``backend.options.aci`` of a config, then ``ITB_AZURE_*`` env.

No secret ever sits here: storage keys and connection strings come from the environment of the
launching process (and reach containers as secure environment variables), the Log Analytics key is
a secret *reference*, and the emulator's static token is taken from the environment only.
"""

from __future__ import annotations

import os
from typing import Any

from itb.config.models import SECRET_REF
from itb.errors import ConfigError
from pydantic import BaseModel, ConfigDict, Field, field_validator

ENV_PREFIX = "ITB_AZURE_"


class StageResources(BaseModel):
    """CPU and memory of one stage's container, its time limit and a duration guess for cost estimates."""

    model_config = ConfigDict(extra="forbid")

    cpu: float = Field(default=1.0, gt=0, le=4)
    memory_gb: float = Field(default=2.0, gt=0, le=16)
    timeout_s: float | None = Field(default=None, gt=0, description="Default: the config's stage_timeout_s.")
    estimated_s: float = Field(default=60.0, gt=0, description="Expected run time, for --dry-run costs.")


#: Sensible defaults per stage: training is the heavy one; everything else is a pass over a table.
DEFAULT_STAGE_RESOURCES: dict[str, StageResources] = {
    "download": StageResources(cpu=1, memory_gb=1.5, estimated_s=120),
    "merge": StageResources(cpu=1, memory_gb=2, estimated_s=30),
    "features": StageResources(cpu=2, memory_gb=4, estimated_s=60),
    "labels": StageResources(cpu=1, memory_gb=2, estimated_s=30),
    "train": StageResources(cpu=4, memory_gb=8, estimated_s=300),
    "candidate": StageResources(cpu=4, memory_gb=8, estimated_s=300),
    "promote": StageResources(cpu=2, memory_gb=4, estimated_s=60),
    "predict": StageResources(cpu=2, memory_gb=4, estimated_s=60),
    "signals": StageResources(cpu=1, memory_gb=2, estimated_s=20),
    "simulate": StageResources(cpu=1, memory_gb=2, estimated_s=30),
}


class AciSettings(BaseModel):
    """Everything the backend needs to create container groups (see ``itb azure settings``)."""

    model_config = ConfigDict(extra="forbid")

    subscription_id: str = ""
    resource_group: str = ""
    location: str = "westeurope"
    image: str = "itb:latest"
    registry_server: str | None = Field(
        default=None, description="ACR login server; pulled with the identity."
    )
    identity_id: str | None = Field(default=None, description="Resource id of the user-assigned identity.")
    identity_client_id: str | None = Field(default=None, description="Its client id (AZURE_CLIENT_ID).")
    subnet_id: str | None = None
    log_analytics_workspace_id: str | None = None
    log_analytics_key: str | None = Field(
        default=None, description="Secret reference ('env:NAME' or 'keyvault://VAULT/NAME') of the key."
    )
    storage_account_name: str | None = None
    keyvault_endpoint: str | None = Field(
        default=None, description="Vault URL template with {vault}; default https://{vault}.vault.azure.net."
    )
    stages: dict[str, StageResources] = Field(default_factory=dict)
    max_parallel: int = Field(default=8, ge=1, description="Container groups alive at once.")
    threads: int | None = Field(
        default=None,
        ge=1,
        description="Threads per stage process; default: the container's vCPUs. (The train stage records "
        "its thread count in the model files, so equal fingerprints with a local run need equal threads.)",
    )
    price_vcpu_s: float = Field(default=0.0000113, ge=0, description="USD per vCPU-second (Linux).")
    price_gb_s: float = Field(default=0.0000012, ge=0, description="USD per GB-second.")
    poll_interval_s: float = Field(default=2.0, gt=0)
    poll_max_interval_s: float = Field(default=30.0, gt=0)
    start_timeout_s: float = Field(default=900.0, gt=0, description="Give up on a group that never starts.")
    delete_timeout_s: float = Field(default=300.0, gt=0)
    keep: bool = Field(default=False, description="Keep container groups after the run (debugging).")
    arm_endpoint: str = "https://management.azure.com"
    ca_bundle: str | None = Field(default=None, description="CA file for the endpoints (the emulator's).")
    retry_total: int = Field(default=10, ge=0, description="ARM retries (429/5xx honour Retry-After).")

    @field_validator("log_analytics_key")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        if value is not None and not SECRET_REF.match(value):
            raise ValueError("log_analytics_key must be a secret reference ('env:NAME' or 'keyvault://V/N')")
        return value

    def resources(self, stage: str) -> StageResources:
        return self.stages.get(stage) or DEFAULT_STAGE_RESOURCES.get(stage) or StageResources()

    def vault_url(self, vault: str) -> str:
        return (self.keyvault_endpoint or "https://{vault}.vault.azure.net").format(vault=vault)

    def missing(self) -> list[str]:
        """Settings a real launch needs that are still empty."""
        return [name for name in ("subscription_id", "resource_group", "image") if not getattr(self, name)]


def _env_value(raw: str, annotation: Any) -> Any:
    if annotation in (bool, "bool"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw


def load_settings(options: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> AciSettings:
    """Config options first, then ``ITB_AZURE_<FIELD>`` variables on top (deployment wins)."""
    env = dict(os.environ if env is None else env)
    data = dict(options or {})
    for name, info in AciSettings.model_fields.items():
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is None or name == "stages":
            continue
        data[name] = _env_value(raw, info.annotation)
    try:
        return AciSettings.model_validate(data)
    except Exception as exc:
        raise ConfigError(f"backend.options.aci: {exc}") from exc


def static_token(env: dict[str, str] | None = None) -> str | None:
    """The emulator's bearer token (environment only, never config)."""
    return (os.environ if env is None else env).get(ENV_PREFIX + "STATIC_TOKEN") or None
