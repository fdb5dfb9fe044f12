"""Secrets: resolved inside the stage (env and Key Vault), never in logs, manifests or plain env."""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import pytest
from itb import secret_refs
from itb.config.loader import parse_config
from itb.errors import ConfigError
from itb.plugins.manager import secret_resolvers
from itb.runs.runner import run_pipeline
from itb_azure.backend import AciBackend
from itb_azure.emulator.server import Emulator

from .conftest import groups_left

KV_VALUE = "kv-s3cret-value-9f8e7d"
ENV_VALUE = "env-s3cret-value-1a2b3c"


def test_redaction_masks_values_in_every_logger(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    monkeypatch.setenv("ITB_TEST_TOKEN", ENV_VALUE)
    handler = logging.StreamHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    capture = Capture()
    root.addHandler(capture)
    try:
        with secret_refs.activate({"token": "env:ITB_TEST_TOKEN"}) as scope:
            assert scope.names == ["token"]
            secret_refs.install_redaction()
            assert secret_refs.get("token") == ENV_VALUE
            logging.getLogger("itb.stage").warning("calling with %s", ENV_VALUE)
            try:
                raise RuntimeError(f"bad token {ENV_VALUE}")
            except RuntimeError:
                logging.getLogger("some.lib").exception("failed")
    finally:
        root.removeHandler(handler)
        root.removeHandler(capture)
    assert records and all(ENV_VALUE not in r for r in records)
    assert "calling with ***" in records[0]
    assert "bad token ***" in records[1]


def test_unresolvable_references_say_which(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ITB_NOPE", raising=False)
    with pytest.raises(ConfigError, match="ITB_NOPE is not set"):
        secret_refs.resolve("env:ITB_NOPE")
    with pytest.raises(ConfigError, match="no resolver for 'vault'"):
        secret_refs.resolve("vault://x/y", {"env": secret_refs._env})
    assert "keyvault" in secret_resolvers()  # provided by itb-azure through the hook


def _run(
    small_config_data: dict[str, Any], root: str, aci: dict[str, Any], refs: dict[str, str], keep: bool
) -> Any:
    data = copy.deepcopy(small_config_data)
    data["data_root"] = root
    data["merge"] = {"gaps": "fill", "start": "2024-02-01T00:00:00Z", "end": "2024-02-02T00:00:00Z"}
    data["secrets"] = refs
    data["backend"] = {"name": "aci", "options": {"aci": {**aci, "keep": keep}}}
    return run_pipeline(parse_config(data, "test"), backend="aci", only=["merge"])


def test_secrets_reach_the_stage_and_nowhere_else(
    small_config_data: dict[str, Any],
    container_url: str,
    aci_options: dict[str, Any],
    aci_env: dict[str, str],
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ITB_TEST_TOKEN", ENV_VALUE)
    emulator.state.secrets[("itbvault", "api-key")] = KV_VALUE
    refs = {"api": "keyvault://itbvault/api-key", "token": "env:ITB_TEST_TOKEN"}
    kv_requests_before = sum(1 for r in emulator.state.requests if "/secrets/api-key" in r["path"])
    result = _run(small_config_data, container_url, aci_options, refs, keep=True)
    assert result.ok, result.manifest.model_dump_json(include={"stages"}, indent=1)
    # Merge uses no secret, so nothing fetched the Key Vault one: references resolve on first use.
    kv_requests = sum(1 for r in emulator.state.requests if "/secrets/api-key" in r["path"])
    assert kv_requests == kv_requests_before
    # keep=True: the group is still there to inspect (then deleted by hand below).
    [name] = groups_left(emulator, aci_options["resource_group"])
    group = next(g for g in emulator.state.groups.values() if g.name == name)
    env = group.container["properties"]["environmentVariables"]
    plain = {v["name"]: v["value"] for v in env if "value" in v}
    secure = {v["name"]: v["secureValue"] for v in env if "secureValue" in v}
    assert secure["ITB_TEST_TOKEN"] == ENV_VALUE
    assert secure["AZURE_STORAGE_CONNECTION_STRING"] == aci_env["AZURE_STORAGE_CONNECTION_STRING"]
    assert "ITB_AZURE_STATIC_TOKEN" in secure
    assert plain["AZURE_CLIENT_ID"] == aci_options["identity_client_id"]
    secret_values = [ENV_VALUE, KV_VALUE, "AccountKey=", emulator.token]
    everything_plain = json.dumps([plain, group.command()])
    assert not any(value in everything_plain for value in secret_values)
    # What ARM gives back never includes secure values.
    view = json.dumps(emulator.state.view(group))
    assert not any(value in view for value in secret_values)
    manifest = result.manifest.model_dump_json()
    log = result.storage.read_bytes(f"runs/{result.run_id}/logs/merge.log").decode()
    stored = result.storage.read_bytes(f"runs/{result.run_id}/manifest.json").decode()
    config = result.storage.read_bytes(f"runs/{result.run_id}/config.json").decode()
    for text in (manifest, log, stored, config):
        assert not any(value in text for value in secret_values)
    assert "keyvault://itbvault/api-key" in config  # references are fine
    emulator.state.delete(group.sub, group.rg, group.name)


def test_missing_key_vault_secret_fails_no_stage_that_does_not_use_it(
    small_config_data: dict[str, Any], container_url: str, aci_options: dict[str, Any], emulator: Emulator
) -> None:
    refs = {"api": "keyvault://itbvault/does-not-exist"}
    result = _run(small_config_data, container_url, aci_options, refs, keep=False)
    record = result.manifest.stages["merge"]
    assert record.status == "succeeded", record
    assert groups_left(emulator, aci_options["resource_group"]) == []


def test_dry_run_plans_groups_and_cost(
    small_config_data: dict[str, Any], aci_options: dict[str, Any], container_url: str
) -> None:
    data = copy.deepcopy(small_config_data)
    data["data_root"] = container_url  # a local root is refused: containers cannot reach it
    data["backend"] = {"name": "aci", "options": {"aci": {**aci_options, "price_vcpu_s": 0.001}}}
    result = run_pipeline(parse_config(data, "t"), backend="aci", dry_run=True)
    plan = result.manifest.plan
    assert len(plan) >= 7 and all(line.startswith("aci container group itb-") for line in plan)
    assert "vCPU-s" in plan[-1] and "run total $" in plan[-1]
    backend = AciBackend(aci_options)
    assert backend._client is None  # planning needs no ARM client
