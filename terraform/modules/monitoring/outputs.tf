output "id" {
  description = "Resource id of the workspace (for diagnostic settings)."
  value       = azurerm_log_analytics_workspace.this.id
}

output "workspace_id" {
  description = "The workspace's customer id (a GUID) that ACI log shipping uses; not a secret."
  value       = azurerm_log_analytics_workspace.this.workspace_id
}

output "name" {
  description = "Name of the workspace."
  value       = azurerm_log_analytics_workspace.this.name
}
