# The identity that itb's ACI stage containers run as, with exactly the roles a stage needs:
# pull the image, read and write the data container, read secrets. Optionally, a second identity
# for GitHub Actions (OIDC federated credentials, no client secret) that pushes images and launches
# pipeline runs.

resource "azurerm_user_assigned_identity" "stage" {
  name                = var.name
  resource_group_name = var.resource_group_name
  location            = var.location
  tags                = var.tags
}

resource "azurerm_role_assignment" "stage_acr_pull" {
  scope                            = var.registry_id
  role_definition_name             = "AcrPull"
  principal_id                     = azurerm_user_assigned_identity.stage.principal_id
  principal_type                   = "ServicePrincipal"
  skip_service_principal_aad_check = true
}

resource "azurerm_role_assignment" "stage_blob_data" {
  scope                            = var.data_container_scope
  role_definition_name             = "Storage Blob Data Contributor"
  principal_id                     = azurerm_user_assigned_identity.stage.principal_id
  principal_type                   = "ServicePrincipal"
  skip_service_principal_aad_check = true
}

resource "azurerm_role_assignment" "stage_kv_secrets" {
  scope                            = var.key_vault_id
  role_definition_name             = "Key Vault Secrets User"
  principal_id                     = azurerm_user_assigned_identity.stage.principal_id
  principal_type                   = "ServicePrincipal"
  skip_service_principal_aad_check = true
}

# --- GitHub Actions (optional) ----------------------------------------------------------------

locals {
  github_enabled = var.github_repository != null
  # One federated credential per subject: pushes to the main branch (release.yml, pipeline.yml)
  # and jobs bound to the GitHub environment of this deployment (terraform.yml's apply).
  github_subjects = local.github_enabled ? {
    main        = "repo:${var.github_repository}:ref:refs/heads/${var.github_branch}"
    environment = "repo:${var.github_repository}:environment:${var.github_environment}"
  } : {}
}

resource "azurerm_user_assigned_identity" "github" {
  count               = local.github_enabled ? 1 : 0
  name                = "${var.name}-github"
  resource_group_name = var.resource_group_name
  location            = var.location
  tags                = var.tags
}

resource "azurerm_federated_identity_credential" "github" {
  for_each            = local.github_subjects
  name                = "github-${each.key}"
  resource_group_name = var.resource_group_name
  parent_id           = azurerm_user_assigned_identity.github[0].id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = "https://token.actions.githubusercontent.com"
  subject             = each.value
}

# CI pushes images, launches ACI container groups in the resource group (assigning the stage
# identity to them and wiring their logs to the workspace, which reads its shared key: hence
# Contributor on the resource group rather than the narrower ACI role) and writes run manifests.
locals {
  github_roles = local.github_enabled ? {
    acr_push         = { scope = var.registry_id, role = "AcrPush" }
    rg_contributor   = { scope = var.resource_group_id, role = "Contributor" }
    identity_operate = { scope = azurerm_user_assigned_identity.stage.id, role = "Managed Identity Operator" }
    blob_data        = { scope = var.data_container_scope, role = "Storage Blob Data Contributor" }
  } : {}
}

resource "azurerm_role_assignment" "github" {
  for_each                         = local.github_roles
  scope                            = each.value.scope
  role_definition_name             = each.value.role
  principal_id                     = azurerm_user_assigned_identity.github[0].principal_id
  principal_type                   = "ServicePrincipal"
  skip_service_principal_aad_check = true
}
