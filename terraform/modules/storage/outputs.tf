output "id" {
  description = "Resource id of the storage account."
  value       = azurerm_storage_account.this.id
}

output "name" {
  description = "Name of the storage account."
  value       = azurerm_storage_account.this.name
}

output "container_name" {
  description = "Name of the data container."
  value       = azurerm_storage_container.data.name
}

output "container_scope" {
  description = "Resource Manager id of the data container, the scope of its role assignments."
  value       = "${azurerm_storage_account.this.id}/blobServices/default/containers/${azurerm_storage_container.data.name}"
}

output "primary_blob_endpoint" {
  description = "Blob endpoint of the account."
  value       = azurerm_storage_account.this.primary_blob_endpoint
}
