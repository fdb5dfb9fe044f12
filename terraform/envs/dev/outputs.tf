# The outputs contract (terraform/README.md): identical in every environment.

output "resource_group_name" {
  description = "Resource group of the deployment."
  value       = module.itb.resource_group_name
}

output "location" {
  description = "Azure region of the deployment."
  value       = module.itb.location
}

output "storage_account_name" {
  description = "Storage account that holds the data root."
  value       = module.itb.storage_account_name
}

output "data_container_name" {
  description = "Blob container that holds the data root."
  value       = module.itb.data_container_name
}

output "data_root" {
  description = "itb data root, abfs://CONTAINER/PATH."
  value       = module.itb.data_root
}

output "acr_login_server" {
  description = "Login server of the container registry."
  value       = module.itb.acr_login_server
}

output "key_vault_name" {
  description = "Name of the Key Vault."
  value       = module.itb.key_vault_name
}

output "key_vault_uri" {
  description = "URI of the Key Vault."
  value       = module.itb.key_vault_uri
}

output "identity_id" {
  description = "Resource id of the stage identity."
  value       = module.itb.identity_id
}

output "identity_client_id" {
  description = "Client id of the stage identity."
  value       = module.itb.identity_client_id
}

output "log_analytics_workspace_id" {
  description = "Customer id (GUID) of the Log Analytics workspace."
  value       = module.itb.log_analytics_workspace_id
}

output "github_client_id" {
  description = "Client id of the GitHub Actions OIDC identity, or null."
  value       = module.itb.github_client_id
}

output "registry_name" {
  description = "Name of the container registry."
  value       = module.itb.registry_name
}

output "serve_container_group" {
  description = "Name of the live service's container group (null when serve_config_file is not set)."
  value       = one(module.serve[*].name)
}
