output "id" {
  description = "Resource id of the service's container group."
  value       = azurerm_container_group.this.id
}

output "name" {
  description = "Name of the service's container group (itb deploy serve --name)."
  value       = azurerm_container_group.this.name
}

output "command" {
  description = "The command the container runs."
  value       = local.command
}
