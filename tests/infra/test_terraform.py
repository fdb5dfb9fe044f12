"""Structure of terraform/: parsed with python-hcl2, no provider or network needed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.hcl import TERRAFORM, env_dirs, load_file, load_module, module_dirs, tf_files

#: The outputs that itb reads (`itb azure settings --from-terraform`); terraform/README.md.
CONTRACT = [
    "resource_group_name",
    "location",
    "storage_account_name",
    "data_container_name",
    "data_root",
    "acr_login_server",
    "key_vault_name",
    "key_vault_uri",
    "identity_id",
    "identity_client_id",
    "log_analytics_workspace_id",
]
#: Resource types that Azure cannot tag; every other resource must carry the tags.
UNTAGGABLE = {
    "azurerm_role_assignment",
    "azurerm_storage_container",
    "azurerm_federated_identity_credential",
    "azurerm_monitor_diagnostic_setting",
    "random_string",
}
#: Globally unique names, and the variables each must be derived from.
GLOBAL_NAMES = {"storage_account": "st", "registry": "acr", "key_vault": "kv-"}
SECRET_WORDS = re.compile(
    r"secret|password|passwd|token|api_?key|access_?key|shared_?key|connection|sas", re.IGNORECASE
)
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

STACK = TERRAFORM / "modules" / "stack"


def is_expression(value: object) -> bool:
    return isinstance(value, str) and "${" in value


# --- parsing and module hygiene -----------------------------------------------------------------


@pytest.mark.parametrize("path", tf_files(), ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_file_parses(path: Path) -> None:
    assert isinstance(load_file(path), dict)


def test_layout() -> None:
    names = {p.name for p in module_dirs()}
    assert {"stack", "storage", "registry", "key_vault", "identity", "monitoring"} <= names
    assert [p.name for p in env_dirs()][:1] == ["dev"] or "dev" in {p.name for p in env_dirs()}
    assert (TERRAFORM / "README.md").is_file()
    assert (TERRAFORM / "bootstrap" / "state.sh").is_file()


@pytest.mark.parametrize("path", module_dirs() + env_dirs(), ids=lambda p: p.name)
def test_variables_and_outputs_are_documented(path: Path) -> None:
    module = load_module(path)
    for name, body in module.variables.items():
        assert body.get("description"), f"{path.name}: variable {name} has no description"
        assert "type" in body, f"{path.name}: variable {name} has no type"
    for name, body in module.outputs.items():
        assert body.get("description"), f"{path.name}: output {name} has no description"


@pytest.mark.parametrize("path", module_dirs() + env_dirs(), ids=lambda p: p.name)
def test_provider_versions_are_pinned(path: Path) -> None:
    module = load_module(path)
    required = {}
    for block in module.terraform:
        for providers in block.get("required_providers", []):
            required.update(providers)
        assert block.get("required_version"), f"{path.name}: no required_version"
    used = {r.type.split("_")[0] for r in module.resources + module.data}
    for provider in used:
        assert provider in required, f"{path.name}: provider {provider} not in required_providers"
        assert required[provider]["version"].startswith("~>"), f"{path.name}: pin {provider} with ~>"


def test_name_validation_on_naming_inputs() -> None:
    stack = load_module(STACK)
    for name in ("prefix", "environment", "name_suffix", "location", "data_root_path"):
        assert stack.variables[name].get("validation"), f"stack variable {name} has no validation"
    for module, var in (("storage", "name"), ("registry", "name"), ("key_vault", "name")):
        assert load_module(TERRAFORM / "modules" / module).variables[var].get("validation")


# --- names from variables -----------------------------------------------------------------------


def test_globally_unique_names_are_derived() -> None:
    stack = load_module(STACK)
    names = stack.locals["names"]
    for key, prefix in GLOBAL_NAMES.items():
        value = names[key]
        assert value.startswith(prefix), value
        for part in ("${var.prefix}", "${var.environment}", "${local.suffix}"):
            assert part in value, f"{key} name {value!r} is not derived from {part}"
    assert "random_string.suffix" in stack.locals["suffix"] and "var.name_suffix" in stack.locals["suffix"]


@pytest.mark.parametrize("path", module_dirs(), ids=lambda p: p.name)
def test_no_resource_name_is_hard_coded(path: Path) -> None:
    for res in load_module(path).resources:
        if "name" in res.body and res.type not in {"azurerm_monitor_diagnostic_setting"}:
            name = res.body["name"]
            assert is_expression(name), f"{res.address} in {path.name}: literal name {name!r}"


def test_child_modules_get_names_from_the_stack() -> None:
    stack = load_module(STACK)
    for call, body in stack.modules.items():
        assert body["name"].startswith("${local.names."), f"module {call}: name {body['name']!r}"


def test_no_subscription_or_tenant_id_in_code() -> None:
    for path in tf_files() + sorted(TERRAFORM.rglob("*.example")):
        text = path.read_text()
        assert not GUID.search(text.replace("00000000-0000-0000-0000-000000000000", "")), path
    for env in env_dirs():
        for provider in load_module(env).providers:
            azurerm = provider.get("azurerm", {})
            assert "subscription_id" not in azurerm and "tenant_id" not in azurerm, env.name


# --- tags ---------------------------------------------------------------------------------------


def test_stack_tags_merge_defaults_with_the_variable() -> None:
    stack = load_module(STACK)
    assert stack.locals["tags"] == "${merge(local.default_tags, var.tags)}"
    assert {"project", "environment", "managed_by"} <= set(stack.locals["default_tags"])
    for call, body in stack.modules.items():
        assert body.get("tags") == "${local.tags}", f"module {call} does not get local.tags"
    assert stack.resource("azurerm_resource_group.this").body["tags"] == "${local.tags}"


@pytest.mark.parametrize("path", module_dirs(), ids=lambda p: p.name)
def test_every_taggable_resource_is_tagged(path: Path) -> None:
    module = load_module(path)
    for res in module.resources:
        if res.type in UNTAGGABLE:
            continue
        assert res.body.get("tags") in ("${var.tags}", "${local.tags}"), f"{res.address} is not tagged"
    if path.name != "stack":
        assert module.variables["tags"]["type"] == "${map(string)}"


def test_envs_pass_tags() -> None:
    for env in env_dirs():
        call = load_module(env).modules["itb"]
        assert call["tags"] == "${var.tags}", env.name


# --- no secrets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", module_dirs() + env_dirs(), ids=lambda p: p.name)
def test_no_secret_in_variables_or_outputs(path: Path) -> None:
    module = load_module(path)
    for name, body in module.variables.items():
        assert not SECRET_WORDS.search(name) or name == "secrets_officer_principal_ids", (
            f"{path.name}: variable {name} looks like a secret; secrets go to Key Vault out of band"
        )
        assert not body.get("sensitive"), f"{path.name}: sensitive variable {name}"
    for name, body in module.outputs.items():
        assert not body.get("sensitive"), f"{path.name}: sensitive output {name}"
        value = str(body["value"])
        for attr in ("access_key", "shared_key", "connection_string", "primary_key", "secret"):
            assert attr not in value, f"{path.name}: output {name} exposes {attr}"
    for res in module.resources:
        assert res.type not in {"azurerm_key_vault_secret", "random_password"}, res.address


def test_no_tfvars_committed_with_values() -> None:
    for path in TERRAFORM.rglob("*.tfvars"):
        pytest.fail(f"{path}: use *.tfvars.example; real tfvars are git-ignored")
    ignore = (TERRAFORM / ".gitignore").read_text().split()
    assert {"terraform.tfvars", "backend.hcl", ".terraform/", "*.tfstate"} <= set(ignore)


# --- security settings --------------------------------------------------------------------------


def test_storage_account_settings() -> None:
    body = load_module(TERRAFORM / "modules" / "storage").resource("azurerm_storage_account.this").body
    assert body["https_traffic_only_enabled"] is True
    assert body["min_tls_version"] == "TLS1_2"
    assert body["allow_nested_items_to_be_public"] is False
    assert body["shared_access_key_enabled"] is False
    blob = body["blob_properties"][0]
    assert blob["versioning_enabled"] is True
    assert blob["delete_retention_policy"][0]["days"] == "${var.soft_delete_retention_days}"
    assert blob["container_delete_retention_policy"]
    container = load_module(TERRAFORM / "modules" / "storage").resource("azurerm_storage_container.data")
    assert container.body["container_access_type"] == "private"


def test_registry_and_key_vault_settings() -> None:
    acr = load_module(TERRAFORM / "modules" / "registry").resource("azurerm_container_registry.this").body
    assert acr["admin_enabled"] is False
    assert acr["anonymous_pull_enabled"] is False
    kv = load_module(TERRAFORM / "modules" / "key_vault").resource("azurerm_key_vault.this").body
    assert kv["enable_rbac_authorization"] is True
    assert kv["purge_protection_enabled"] is True
    assert kv["soft_delete_retention_days"] == "${var.soft_delete_retention_days}"
    assert "access_policy" not in kv


# --- the identity's roles -----------------------------------------------------------------------


def test_stage_identity_has_exactly_its_three_roles() -> None:
    identity = load_module(TERRAFORM / "modules" / "identity")
    principal = "${azurerm_user_assigned_identity.stage.principal_id}"
    roles = {
        r.body["role_definition_name"]: r.body["scope"]
        for r in identity.of_type("azurerm_role_assignment")
        if r.body["principal_id"] == principal
    }
    assert roles == {
        "AcrPull": "${var.registry_id}",
        "Storage Blob Data Contributor": "${var.data_container_scope}",
        "Key Vault Secrets User": "${var.key_vault_id}",
    }


def test_stack_wires_the_role_scopes() -> None:
    call = load_module(STACK).modules["identity"]
    assert call["registry_id"] == "${module.registry.id}"
    assert call["data_container_scope"] == "${module.storage.container_scope}"
    assert call["key_vault_id"] == "${module.key_vault.id}"
    # Blob data access is scoped to the data container, not the whole account.
    scope = load_module(TERRAFORM / "modules" / "storage").outputs["container_scope"]["value"]
    assert scope.endswith("/blobServices/default/containers/${azurerm_storage_container.data.name}")


def test_github_oidc_is_optional_and_secretless() -> None:
    identity = load_module(TERRAFORM / "modules" / "identity")
    assert identity.variables["github_repository"]["default"] is None
    gh = identity.resource("azurerm_user_assigned_identity.github")
    assert "local.github_enabled ? 1 : 0" in gh.body["count"]
    cred = identity.resource("azurerm_federated_identity_credential.github")
    assert cred.body["issuer"] == "https://token.actions.githubusercontent.com"
    assert cred.body["audience"] == ["api://AzureADTokenExchange"]
    subjects = identity.locals["github_subjects"]
    assert "repo:${var.github_repository}:ref:refs/heads/${var.github_branch}" in subjects
    roles = identity.locals["github_roles"]
    assert "AcrPush" in roles and "Owner" not in roles


# --- backend and outputs contract ---------------------------------------------------------------


@pytest.mark.parametrize("env", env_dirs(), ids=lambda p: p.name)
def test_env_backend_is_configured_at_init(env: Path) -> None:
    module = load_module(env)
    backends = [b for block in module.terraform for b in block.get("backend", [])]
    assert backends == [{"azurerm": {}}], "the backend is filled by -backend-config (backend.hcl)"
    example = (env / "backend.hcl.example").read_text()
    assert "use_azuread_auth     = true" in example
    assert f'key                  = "itb/{env.name}.tfstate"' in example
    provider = module.providers[0]["azurerm"]
    assert provider["storage_use_azuread"] is True


@pytest.mark.parametrize("env", env_dirs(), ids=lambda p: p.name)
def test_env_is_a_small_copy(env: Path) -> None:
    module = load_module(env)
    assert module.locals["environment"] == env.name
    call = module.modules["itb"]
    assert call["source"] == "../../modules/stack"
    assert call["environment"] == "${local.environment}"
    assert not module.resources, "environments only call the stack module"


@pytest.mark.parametrize("path", [STACK, *env_dirs()], ids=lambda p: p.name)
def test_outputs_contract(path: Path) -> None:
    outputs = load_module(path).outputs
    missing = [name for name in CONTRACT if name not in outputs]
    assert not missing, f"{path.name}: missing contract outputs {missing}"
    if path == STACK:
        assert outputs["data_root"]["value"].startswith("abfs://${module.storage.container_name}/")
        assert outputs["identity_id"]["value"] == "${module.identity.id}"
        assert outputs["log_analytics_workspace_id"]["value"] == "${module.monitoring.workspace_id}"
    else:
        for name in CONTRACT:
            assert outputs[name]["value"] == f"${{module.itb.{name}}}"


def test_contract_is_documented() -> None:
    text = (TERRAFORM / "README.md").read_text()
    for name in CONTRACT:
        assert f"`{name}`" in text, f"terraform/README.md does not document {name}"


def test_workspace_output_is_the_customer_id_not_a_key() -> None:
    value = load_module(TERRAFORM / "modules" / "monitoring").outputs["workspace_id"]["value"]
    assert value == "${azurerm_log_analytics_workspace.this.workspace_id}"


# --- checkov skips ------------------------------------------------------------------------------


def test_every_checkov_skip_has_a_reason() -> None:
    skips = 0
    others = [
        TERRAFORM.parent / "Dockerfile",
        *sorted((TERRAFORM.parent / ".github" / "workflows").glob("*.yml")),
    ]
    for path in tf_files() + others:
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                skips += 1
                match = re.search(r"# ?checkov:skip=(CKV2?_[A-Z]+_\d+):(.+)$", line.strip())
                assert match, f"{path}: malformed skip {line.strip()!r}"
                assert len(match.group(2).split()) >= 8, f"{path}: skip {match.group(1)} needs a reason"
    assert skips > 0


# --- references (a part of `terraform validate` that needs no provider) -------------------------


@pytest.mark.parametrize("path", module_dirs() + env_dirs(), ids=lambda p: p.name)
def test_references_resolve(path: Path) -> None:
    module = load_module(path)
    text = "\n".join(
        line
        for tf in sorted(path.glob("*.tf"))
        for line in tf.read_text().splitlines()
        if not line.lstrip().startswith("#")
    )
    for name in set(re.findall(r"\bvar\.(\w+)", text)):
        assert name in module.variables, f"{path.name}: var.{name} is not declared"
    for name in set(re.findall(r"\blocal\.(\w+)", text)):
        assert name in module.locals, f"{path.name}: local.{name} is not defined"
    for call, output in set(re.findall(r"\bmodule\.(\w+)\.(\w+)", text)):
        assert call in module.modules, f"{path.name}: module.{call} is not called"
        child = load_module((path / module.modules[call]["source"]).resolve())
        assert output in child.outputs, f"{path.name}: module.{call} has no output {output}"
    addresses = {r.address for r in module.resources} | {f"data.{r.address}" for r in module.data}
    for ref in set(re.findall(r"\b((?:data\.)?(?:azurerm|random)_\w+\.\w+)", text)):
        assert ref in addresses, f"{path.name}: {ref} is not declared"
    for call, body in module.modules.items():
        child = load_module((path / body["source"]).resolve())
        passed = {k for k in body if k not in {"source", "version", "providers", "count", "for_each"}}
        assert passed <= set(child.variables), (
            f"{path.name}: module {call} gets unknown {passed - set(child.variables)}"
        )
        required = {k for k, v in child.variables.items() if "default" not in v}
        assert required <= passed, f"{path.name}: module {call} misses {required - passed}"
