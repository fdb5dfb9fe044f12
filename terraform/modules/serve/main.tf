# The live service: one container group with restart policy Always running `itb serve` (ACI starts it
# again whenever it exits). It runs as the stage identity, reads and writes the data root on Blob
# through that identity, and resolves the config's keyvault:// references inside the container, so
# no secret value is in this module, its state or the container's command line. The config itself
# (references only) is a secret volume. `itb deploy serve --backend aci` makes the same group.

locals {
  config_mount = "/etc/itb"
  command = concat(
    ["itb", "serve", "${local.config_mount}/config.json", "--data-root", var.data_root],
    var.serve_arguments,
  )
  log_analytics = var.log_analytics_workspace_name == null ? [] : [1]
}

data "azurerm_log_analytics_workspace" "this" {
  count               = var.log_analytics_workspace_name == null ? 0 : 1
  name                = var.log_analytics_workspace_name
  resource_group_name = var.resource_group_name
}

resource "azurerm_container_group" "this" {
  #checkov:skip=CKV_AZURE_235:the plain variables are the identity client id and storage account name, not secrets; secrets are keyvault references resolved inside the container
  name                = var.name
  resource_group_name = var.resource_group_name
  location            = var.location
  os_type             = "Linux"
  restart_policy      = "Always"
  ip_address_type     = var.subnet_id == null ? "None" : "Private"
  subnet_ids          = var.subnet_id == null ? null : [var.subnet_id]
  tags                = var.tags

  identity {
    type         = "UserAssigned"
    identity_ids = [var.identity_id]
  }

  dynamic "image_registry_credential" {
    for_each = var.registry_server == null ? [] : [var.registry_server]
    content {
      server                    = image_registry_credential.value
      user_assigned_identity_id = var.identity_id
    }
  }

  container {
    name     = "serve"
    image    = var.image
    cpu      = var.cpu
    memory   = var.memory_gb
    commands = local.command

    environment_variables = {
      AZURE_CLIENT_ID            = var.identity_client_id
      AZURE_STORAGE_ACCOUNT_NAME = var.storage_account_name
      PYTHONUNBUFFERED           = "1"
      ITB_LOG_FORMAT             = "json"
    }

    volume {
      name       = "config"
      mount_path = local.config_mount
      read_only  = true
      secret = {
        "config.json" = base64encode(var.itb_config)
      }
    }
  }

  dynamic "diagnostics" {
    for_each = local.log_analytics
    content {
      log_analytics {
        workspace_id  = data.azurerm_log_analytics_workspace.this[0].workspace_id
        workspace_key = data.azurerm_log_analytics_workspace.this[0].primary_shared_key
        log_type      = "ContainerInsights"
      }
    }
  }
}
