output "id" {
  description = "Resource id of the vault."
  value       = azurerm_key_vault.this.id
}

output "name" {
  description = "Name of the vault."
  value       = azurerm_key_vault.this.name
}

output "uri" {
  description = "URI of the vault (https://NAME.vault.azure.net/)."
  value       = azurerm_key_vault.this.vault_uri
}
