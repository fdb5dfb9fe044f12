# Key Vault for the pipeline's secrets (exchange API keys and the like). RBAC authorization, soft
# delete and purge protection. Terraform creates no secret: values are set out of band with
# `az keyvault secret set`, so no secret value ever reaches Terraform variables or state.

resource "azurerm_key_vault" "this" {
  #checkov:skip=CKV_AZURE_109:ACI stage containers (no VNet, no fixed egress IP) read secrets at run time, so the firewall stays open; every request still needs an Entra ID token with the Key Vault Secrets User role.
  #checkov:skip=CKV_AZURE_189:Same reason as CKV_AZURE_109: public network access is needed by ACI without a VNet.
  #checkov:skip=CKV2_AZURE_32:Private endpoints need a VNet-injected ACI deployment, which this stack does not create yet; see terraform/README.md (hardening).
  name                          = var.name
  resource_group_name           = var.resource_group_name
  location                      = var.location
  tenant_id                     = var.tenant_id
  sku_name                      = "standard"
  enable_rbac_authorization     = true
  purge_protection_enabled      = true
  soft_delete_retention_days    = var.soft_delete_retention_days
  public_network_access_enabled = true

  network_acls {
    bypass         = "AzureServices"
    default_action = "Allow"
  }

  tags = var.tags
}

resource "azurerm_monitor_diagnostic_setting" "vault" {
  name                       = "diag-kv-to-log-analytics"
  target_resource_id         = azurerm_key_vault.this.id
  log_analytics_workspace_id = var.log_analytics_workspace_resource_id

  enabled_log {
    category_group = "audit"
  }
}

resource "azurerm_role_assignment" "secrets_officers" {
  for_each             = toset(var.secrets_officer_principal_ids)
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = each.value
}
