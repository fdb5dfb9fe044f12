"""terraform/modules/serve: the live service's container group, parsed with python-hcl2 (no provider:
`terraform validate` needs the azurerm provider, which is not available offline)."""

from __future__ import annotations

from itb_azure.serve_deploy import CONFIG_FILE, CONFIG_MOUNT, SERVE_CONTAINER

from tests.infra.hcl import TERRAFORM, load_module

SERVE = TERRAFORM / "modules" / "serve"


def test_an_always_group_running_itb_serve_as_the_stage_identity() -> None:
    module = load_module(SERVE)
    body = module.resource("azurerm_container_group.this").body
    assert body["restart_policy"] == "Always" and body["os_type"] == "Linux"
    assert body["identity"] == [{"type": "UserAssigned", "identity_ids": ["${var.identity_id}"]}]
    container = body["container"][0]
    assert container["name"] == SERVE_CONTAINER and container["commands"] == "${local.command}"
    # The same command as `itb deploy serve` (ServeDeployment.command) gives the container.
    assert module.locals["config_mount"] == CONFIG_MOUNT
    assert (
        f'"itb", "serve", "${{local.config_mount}}/{CONFIG_FILE}", "--data-root", var.data_root'
        in (module.locals["command"])
    )
    env = container["environment_variables"]
    assert env["AZURE_CLIENT_ID"] == "${var.identity_client_id}"
    assert env["AZURE_STORAGE_ACCOUNT_NAME"] == "${var.storage_account_name}"
    assert "secure_environment_variables" not in container  # secrets: keyvault:// references only
    volume = container["volume"][0]
    assert volume["mount_path"] == "${local.config_mount}" and volume["read_only"] is True
    assert volume["secret"] == {CONFIG_FILE: "${base64encode(var.itb_config)}"}


def test_data_root_must_be_blob_and_log_analytics_is_optional() -> None:
    module = load_module(SERVE)
    condition = module.variables["data_root"]["validation"][0]["condition"]
    assert "abfs" in condition
    assert module.variables["log_analytics_workspace_name"]["default"] is None
    dynamic = {
        k: v
        for block in module.resource("azurerm_container_group.this").body["dynamic"]
        for k, v in block.items()
    }
    analytics = dynamic["diagnostics"]["content"][0]["log_analytics"][0]
    assert analytics["workspace_key"] == "${data.azurerm_log_analytics_workspace.this[0].primary_shared_key}"
    assert (
        dynamic["image_registry_credential"]["content"][0]["user_assigned_identity_id"]
        == "${var.identity_id}"
    )


def test_dev_wires_the_service_optionally_from_the_stack() -> None:
    call = load_module(TERRAFORM / "envs" / "dev").modules["serve"]
    assert call["source"] == "../../modules/serve"
    assert call["count"] == "${var.serve_config_file == null ? 0 : 1}"
    for name in (
        "identity_id",
        "identity_client_id",
        "data_root",
        "storage_account_name",
        "resource_group_name",
    ):
        assert call[name] == f"${{module.itb.{name}}}"
    assert call["log_analytics_workspace_name"] == "${module.itb.log_analytics_workspace_name}"
