"""The itb-serve chart renders (Helm as a library, offline) into manifests that keep the service's
promises: one trader at a time, state on a volume or Blob, the image's non-root user, probes on the
endpoints ``itb serve --http`` serves, the config from a ConfigMap whose change rolls the pod, secrets
only by reference. ``nox -s helm`` runs these; the default run skips them (no helm-python-sdk there).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("helm_python", reason="nox -s helm installs helm-python-sdk")
pytest.importorskip("kubernetes_validate", reason="nox -s helm installs kubernetes-validate")

import helm_python as helm
from itb.config import load_config
from itb.serve.arguments import add_serve_arguments
from itb.serve.health import parse_http

from tests.deploy.helm_chart import (
    CHART,
    ROOT,
    Rendered,
    lint_problems,
    load_values,
    merged_values,
    render,
    schema_problems,
)

DEFAULTS = CHART / "values.yaml"
AKS = CHART / "examples" / "aks-values.yaml"
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|KEY|CONNECTION_STRING|SAS", re.IGNORECASE)


def dockerfile_user() -> tuple[int, int]:
    """The image's ``USER uid:gid`` from the repository's Dockerfile (the oracle for the pod's user)."""
    [line] = [x for x in (ROOT / "Dockerfile").read_text().splitlines() if x.startswith("USER ")]
    uid, gid = line.split()[1].split(":")
    return int(uid), int(gid)


def container(rendered: Rendered) -> dict[str, Any]:
    [serve] = rendered.one("Deployment")["spec"]["template"]["spec"]["containers"]
    return serve  # type: ignore[no-any-return]


def pod_spec(rendered: Rendered) -> dict[str, Any]:
    return rendered.one("Deployment")["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def argument(rendered: Rendered, flag: str) -> str:
    args: list[str] = container(rendered)["args"]
    return args[args.index(flag) + 1]


def mounts(rendered: Rendered) -> dict[str, dict[str, Any]]:
    """Mount path -> the pod volume mounted there."""
    volumes = {v["name"]: v for v in pod_spec(rendered)["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in container(rendered)["volumeMounts"]}


@pytest.fixture(scope="module", params=["defaults", "aks"])
def case(request: pytest.FixtureRequest) -> tuple[dict[str, Any], Rendered]:
    values = load_values(DEFAULTS if request.param == "defaults" else AKS)
    return merged_values(values), render(values)


def test_lint_is_clean_for_the_defaults_and_the_aks_example() -> None:
    assert lint_problems(load_values(DEFAULTS)) == []
    assert lint_problems(load_values(AKS)) == []


def test_manifests_validate_against_the_kubernetes_schemas(case: tuple[dict[str, Any], Rendered]) -> None:
    _, rendered = case
    assert schema_problems(rendered.documents, ["1.27.0", "1.37.0"]) == []


def test_the_schema_check_rejects_an_unknown_field() -> None:
    """The validator is strict: a misspelt field (the kind of slip that renders fine) is a problem."""
    deployment = copy.deepcopy(render().one("Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    [problem] = schema_problems([deployment], ["1.37.0"])
    assert "livenessProbes" in problem


def test_one_replica_recreated_never_two_traders(case: tuple[dict[str, Any], Rendered]) -> None:
    _, rendered = case
    spec = rendered.one("Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert rendered.of_kind("HorizontalPodAutoscaler") == []


def serve_arguments(rendered: Rendered) -> argparse.Namespace:
    """The container's arguments as ``itb serve``'s own parser reads them (the image's entrypoint is
    ``itb``: the first argument is the command)."""
    args: list[str] = container(rendered)["args"]
    assert args[0] == "serve"
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_serve_arguments(parser)
    return parser.parse_args(args[1:])


def test_the_arguments_start_itb_serve_live(case: tuple[dict[str, Any], Rendered]) -> None:
    values, rendered = case
    parsed = serve_arguments(rendered)
    assert parsed.words == ["/etc/itb/config.jsonc"] and parsed.replay is None  # live, one config
    assert parsed.close_delay_s == values["serve"]["closeDelaySeconds"]
    assert parsed.data_root == argument(rendered, "--data-root") and parsed.http is not None
    picked = serve_arguments(render({"serve": {"symbols": ["BTCUSDT", "ETHUSDT"]}}))
    assert picked.symbols == ["BTCUSDT", "ETHUSDT"] and picked.words == parsed.words


def test_probes_ask_the_port_itb_serve_listens_on(case: tuple[dict[str, Any], Rendered]) -> None:
    values, rendered = case
    serve = container(rendered)
    host, port = parse_http(argument(rendered, "--http"))  # what itb serve itself accepts
    assert (host, port) == ("0.0.0.0", values["serve"]["port"])
    [named] = serve["ports"]
    assert (named["name"], named["containerPort"]) == ("http", port)
    assert serve["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert serve["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert serve["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    [service_port] = rendered.one("Service")["spec"]["ports"]
    assert service_port["targetPort"] == "http"


def test_runs_as_the_images_non_root_user_on_a_read_only_root(case: tuple[dict[str, Any], Rendered]) -> None:
    _, rendered = case
    uid, gid = dockerfile_user()
    pod = pod_spec(rendered)["securityContext"]
    assert pod["runAsNonRoot"] is True and (pod["runAsUser"], pod["runAsGroup"]) == (uid, gid)
    assert pod["fsGroup"] == gid  # the data volume is writable for that user
    own = container(rendered)["securityContext"]
    assert own["readOnlyRootFilesystem"] is True and own["allowPrivilegeEscalation"] is False
    assert own["capabilities"]["drop"] == ["ALL"]
    assert "emptyDir" in mounts(rendered)["/tmp"]
    assert pod_spec(rendered)["automountServiceAccountToken"] is False


def test_the_default_data_root_is_a_claim_mounted_where_itb_writes() -> None:
    rendered = render(load_values(DEFAULTS))
    claim = rendered.one("PersistentVolumeClaim")
    root = argument(rendered, "--data-root")
    assert mounts(rendered)[root]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_the_blob_data_root_mounts_nothing_and_names_the_account() -> None:
    values = load_values(AKS)
    rendered = render(values)
    assert rendered.of_kind("PersistentVolumeClaim") == []
    assert argument(rendered, "--data-root") == values["dataRoot"]["blobUrl"]
    assert not any("persistentVolumeClaim" in v for v in mounts(rendered).values())
    env = {e["name"]: e for e in container(rendered)["env"]}
    assert env["AZURE_STORAGE_ACCOUNT_NAME"]["value"] == values["dataRoot"]["storageAccountName"]


def test_an_existing_claim_is_used_not_made() -> None:
    rendered = render({"persistence": {"existingClaim": "itb-data"}})
    assert rendered.of_kind("PersistentVolumeClaim") == []
    assert mounts(rendered)["/var/lib/itb"]["persistentVolumeClaim"]["claimName"] == "itb-data"


def test_the_config_comes_from_the_configmap_and_loads_as_an_itb_config(
    case: tuple[dict[str, Any], Rendered], tmp_path: Path
) -> None:
    _, rendered = case
    config_map = rendered.one("ConfigMap")
    path = Path(container(rendered)["args"][1])
    volume = mounts(rendered)[str(path.parent)]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    assert [item["path"] for item in volume["configMap"]["items"]] == [path.name]
    copy_of = tmp_path / path.name
    copy_of.write_text(config_map["data"][path.name])
    assert load_config(copy_of).symbol == "BTCUSDT"  # itb's own loader: the mounted file is valid


def test_a_changed_config_rolls_the_pod() -> None:
    values = load_values(DEFAULTS)
    before = render(values)
    template = before.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    config_map = before.sources["itb-serve/templates/configmap.yaml"]
    assert template["checksum/config"] == hashlib.sha256(config_map.encode()).hexdigest()
    changed = copy.deepcopy(values)
    changed["config"]["content"] = values["config"]["content"].replace('"fee": 0.001', '"fee": 0.002')
    after = render(changed).one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert after["checksum/config"] != template["checksum/config"]


def _no_secret_values(rendered: Rendered) -> None:
    assert rendered.of_kind("Secret") == []
    for variable in container(rendered)["env"]:
        if SECRET_NAME.search(variable["name"]) and variable["name"] != "AZURE_STORAGE_ACCOUNT_NAME":
            assert "value" not in variable and "valueFrom" in variable, variable["name"]


def test_no_secret_value_in_the_manifests(case: tuple[dict[str, Any], Rendered]) -> None:
    _no_secret_values(case[1])


def test_a_pre_created_secret_becomes_the_environment_by_name_only() -> None:
    rendered = render({"secrets": {"existingSecret": "itb-serve-secrets"}})
    _no_secret_values(rendered)
    assert container(rendered)["envFrom"] == [{"secretRef": {"name": "itb-serve-secrets"}}]


def test_key_vault_objects_reach_the_environment_through_the_csi_driver() -> None:
    values = load_values(AKS)
    rendered = render(values)
    provider = rendered.one("SecretProviderClass")
    assert provider["spec"]["parameters"]["keyvaultName"] == values["secrets"]["keyVault"]["vaultName"]
    assert provider["spec"]["parameters"]["clientID"] == values["azureWorkloadIdentity"]["clientId"]
    [synced] = provider["spec"]["secretObjects"]
    wanted = {o["env"]: o["name"] for o in values["secrets"]["keyVault"]["objects"]}
    assert {d["key"]: d["objectName"] for d in synced["data"]} == wanted
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container(rendered)["env"] if "valueFrom" in e}
    assert refs == {env: {"name": synced["secretName"], "key": env} for env in wanted}
    csi = next(v["csi"] for v in mounts(rendered).values() if "csi" in v)
    assert csi["volumeAttributes"]["secretProviderClass"] == provider["metadata"]["name"]
    config = rendered.one("ConfigMap")["data"]["config.jsonc"]
    assert all(f'"env:{env}"' in config for env in wanted)  # the config refers to them by name


def test_the_aks_example_uses_workload_identity() -> None:
    values = load_values(AKS)
    rendered = render(values)
    account = rendered.one("ServiceAccount")
    annotations = account["metadata"]["annotations"]
    assert annotations["azure.workload.identity/client-id"] == values["azureWorkloadIdentity"]["clientId"]
    assert pod_spec(rendered)["serviceAccountName"] == account["metadata"]["name"]
    labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"
    plain = render(load_values(DEFAULTS))
    assert "annotations" not in plain.one("ServiceAccount")["metadata"]
    assert (
        "azure.workload.identity/use" not in plain.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    )


def test_the_disruption_budget_and_the_service_select_the_pod(case: tuple[dict[str, Any], Rendered]) -> None:
    _, rendered = case
    labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    budget = rendered.one("PodDisruptionBudget")["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert rendered.one("Service")["spec"]["selector"].items() <= labels.items()
    requests = container(rendered)["resources"]["requests"]
    assert {"cpu", "memory"} <= set(requests) and {"cpu", "memory"} <= set(
        container(rendered)["resources"]["limits"]
    )


def test_a_service_monitor_only_when_enabled() -> None:
    assert render(load_values(DEFAULTS)).of_kind("ServiceMonitor") == []
    rendered = render({"serviceMonitor": {"enabled": True}})
    monitor = rendered.one("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    [endpoint] = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    service = rendered.one("Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"dataRoot": {"type": "blob"}}, "dataRoot.blobUrl: an abfs://"),
        ({"dataRoot": {"type": "blob", "blobUrl": "/var/lib/itb"}}, "at '/dataRoot/blobUrl'"),
        ({"dataRoot": {"type": "nfs"}}, "at '/dataRoot/type': value must be one of 'pvc', 'blob'"),
        ({"replicaCount": 2}, "additional properties 'replicaCount' not allowed"),  # one trader, always
        ({"serve": {"port": "8080"}}, "at '/serve/port': got string, want integer"),
        ({"secrets": {"keyVault": {"enabled": True}}}, "azureWorkloadIdentity.enabled"),
        ({"azureWorkloadIdentity": {"enabled": True}}, "azureWorkloadIdentity.clientId"),
        ({**load_values(AKS), "secrets": {**load_values(AKS)["secrets"], "existingSecret": "s"}}, "not both"),
    ],
)
def test_wrong_values_fail_to_render_naming_the_key(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError) as caught:
        render(values)
    assert message in str(caught.value)


def test_no_value_can_hold_a_secret() -> None:
    """The values schema has no place for a secret's value: a Key Vault object is a name and a variable,
    the pre-created Secret is a name."""
    leaked = {"name": "telegram-bot-token", "env": "TELEGRAM_BOT_TOKEN", "value": "123:abc"}
    with pytest.raises(helm.HelmError, match="additional properties 'value' not allowed"):
        render({"secrets": {"keyVault": {"objects": [leaked]}}})
    with pytest.raises(helm.HelmError, match="additional properties 'TELEGRAM_BOT_TOKEN' not allowed"):
        render({"secrets": {"TELEGRAM_BOT_TOKEN": "123:abc"}})
