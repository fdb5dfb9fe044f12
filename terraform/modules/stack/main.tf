# The whole itb deployment of one environment: names, tags, resource group and the child modules.
# Globally unique names are derived from prefix, environment and a suffix (random unless given), so
# nothing globally unique is written in code.

data "azurerm_client_config" "current" {}

resource "random_string" "suffix" {
  count   = var.name_suffix == "" ? 1 : 0
  length  = 6
  upper   = false
  special = false
  numeric = true
}

locals {
  suffix = var.name_suffix != "" ? var.name_suffix : random_string.suffix[0].result
  base   = "${var.prefix}-${var.environment}"

  names = {
    resource_group  = "rg-${local.base}"
    log_analytics   = "log-${local.base}"
    identity        = "id-${local.base}-stage"
    storage_account = "st${var.prefix}${var.environment}${local.suffix}"
    registry        = "acr${var.prefix}${var.environment}${local.suffix}"
    key_vault       = "kv-${var.prefix}-${var.environment}-${local.suffix}"
  }

  default_tags = {
    project     = "itb"
    environment = var.environment
    managed_by  = "terraform"
    component   = var.prefix
  }
  tags = merge(local.default_tags, var.tags)
}

resource "azurerm_resource_group" "this" {
  name     = local.names.resource_group
  location = var.location
  tags     = local.tags
}

module "monitoring" {
  source              = "../monitoring"
  name                = local.names.log_analytics
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  retention_in_days   = var.log_retention_days
  tags                = local.tags
}

module "storage" {
  source                              = "../storage"
  name                                = local.names.storage_account
  resource_group_name                 = azurerm_resource_group.this.name
  location                            = azurerm_resource_group.this.location
  replication_type                    = var.storage_replication_type
  container_name                      = var.data_container_name
  soft_delete_retention_days          = var.blob_soft_delete_days
  log_analytics_workspace_resource_id = module.monitoring.id
  tags                                = local.tags
}

module "registry" {
  source                              = "../registry"
  name                                = local.names.registry
  resource_group_name                 = azurerm_resource_group.this.name
  location                            = azurerm_resource_group.this.location
  sku                                 = var.registry_sku
  log_analytics_workspace_resource_id = module.monitoring.id
  tags                                = local.tags
}

module "key_vault" {
  source                              = "../key_vault"
  name                                = local.names.key_vault
  resource_group_name                 = azurerm_resource_group.this.name
  location                            = azurerm_resource_group.this.location
  tenant_id                           = data.azurerm_client_config.current.tenant_id
  secrets_officer_principal_ids       = var.secrets_officer_principal_ids
  log_analytics_workspace_resource_id = module.monitoring.id
  tags                                = local.tags
}

module "identity" {
  source               = "../identity"
  name                 = local.names.identity
  resource_group_name  = azurerm_resource_group.this.name
  resource_group_id    = azurerm_resource_group.this.id
  location             = azurerm_resource_group.this.location
  registry_id          = module.registry.id
  data_container_scope = module.storage.container_scope
  key_vault_id         = module.key_vault.id
  github_repository    = var.github_repository
  github_environment   = var.environment
  tags                 = local.tags
}
