# The outputs contract that itb reads (`itb azure settings --from-terraform DIR`); see
# terraform/README.md. Names are fixed; no output is a secret.

output "resource_group_name" {
  description = "Resource group of the deployment (ACI container groups are created in it)."
  value       = azurerm_resource_group.this.name
}

output "location" {
  description = "Azure region of the deployment."
  value       = azurerm_resource_group.this.location
}

output "storage_account_name" {
  description = "Storage account that holds the data root (adlfs account_name)."
  value       = module.storage.name
}

output "data_container_name" {
  description = "Blob container that holds the data root."
  value       = module.storage.container_name
}

output "data_root" {
  description = "itb data root as an adlfs URL, abfs://CONTAINER/PATH (the account name is storage_account_name)."
  value       = "abfs://${module.storage.container_name}/${var.data_root_path}"
}

output "acr_login_server" {
  description = "Login server of the container registry."
  value       = module.registry.login_server
}

output "key_vault_name" {
  description = "Name of the Key Vault that holds the pipeline's secrets."
  value       = module.key_vault.name
}

output "key_vault_uri" {
  description = "URI of the Key Vault."
  value       = module.key_vault.uri
}

output "identity_id" {
  description = "Resource id of the user-assigned identity that stage containers run as."
  value       = module.identity.id
}

output "identity_client_id" {
  description = "Client id of that identity."
  value       = module.identity.client_id
}

output "log_analytics_workspace_id" {
  description = "Customer id (GUID) of the Log Analytics workspace; keys are never outputs."
  value       = module.monitoring.workspace_id
}

output "github_client_id" {
  description = "Client id of the GitHub Actions OIDC identity (null unless github_repository is set)."
  value       = module.identity.github_client_id
}

output "registry_name" {
  description = "Name of the container registry (for `az acr login --name`)."
  value       = module.registry.name
}

output "log_analytics_workspace_name" {
  description = "Name of the Log Analytics workspace (the serve module reads its workspace id and key itself)."
  value       = module.monitoring.name
}
