output "id" {
  description = "Resource id of the stage identity (assigned to ACI container groups)."
  value       = azurerm_user_assigned_identity.stage.id
}

output "client_id" {
  description = "Client id of the stage identity (AZURE_CLIENT_ID inside the containers)."
  value       = azurerm_user_assigned_identity.stage.client_id
}

output "principal_id" {
  description = "Object id of the stage identity."
  value       = azurerm_user_assigned_identity.stage.principal_id
}

output "github_client_id" {
  description = "Client id of the GitHub Actions identity (the AZURE_CLIENT_ID repository variable), or null."
  value       = local.github_enabled ? azurerm_user_assigned_identity.github[0].client_id : null
}
