# The container registry that holds the itb image (tagged by git sha). Admin user off: pushes come
# from CI through OIDC (AcrPush), pulls from the stage identity (AcrPull).

resource "azurerm_container_registry" "this" {
  #checkov:skip=CKV_AZURE_139:ACI without a VNet and GitHub-hosted runners pull and push over the public endpoint; private link needs the Premium SKU and a VNet (terraform/README.md, hardening).
  #checkov:skip=CKV_AZURE_163:Image vulnerability scanning is Microsoft Defender for Containers, a subscription-level plan enabled outside this stack.
  #checkov:skip=CKV_AZURE_164:Content trust (signed images) is Premium-only; images are immutable per git sha tag and pulled by an identity scoped to AcrPull.
  #checkov:skip=CKV_AZURE_165:Geo-replication is Premium-only; a lost registry is rebuilt by re-running release.yml.
  #checkov:skip=CKV_AZURE_166:Quarantine is Premium-only; only CI through OIDC can push.
  #checkov:skip=CKV_AZURE_167:Retention of untagged manifests is Premium-only; every image is tagged by git sha.
  #checkov:skip=CKV_AZURE_233:Zone redundancy is Premium-only; a lost registry is rebuilt by re-running release.yml.
  #checkov:skip=CKV_AZURE_237:Dedicated data endpoints are Premium-only and matter only behind a firewall, which this stack does not use.
  name                          = var.name
  resource_group_name           = var.resource_group_name
  location                      = var.location
  sku                           = var.sku
  admin_enabled                 = false
  public_network_access_enabled = true
  anonymous_pull_enabled        = false
  tags                          = var.tags
}

resource "azurerm_monitor_diagnostic_setting" "registry" {
  name                       = "diag-acr-to-log-analytics"
  target_resource_id         = azurerm_container_registry.this.id
  log_analytics_workspace_id = var.log_analytics_workspace_resource_id

  enabled_log {
    category_group = "audit"
  }
}
