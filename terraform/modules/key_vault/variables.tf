variable "name" {
  description = "Globally unique Key Vault name (3-24 letters, digits and hyphens), derived by the stack."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z](?:[a-zA-Z0-9]|-[a-zA-Z0-9]){2,23}$", var.name)) && length(var.name) <= 24
    error_message = "A Key Vault name is 3-24 letters, digits and single hyphens, starting with a letter."
  }
}

variable "resource_group_name" {
  description = "Resource group that holds the vault."
  type        = string
}

variable "location" {
  description = "Azure region of the vault."
  type        = string
}

variable "tenant_id" {
  description = "Entra ID tenant of the vault (taken from the provider's credentials, never written in code)."
  type        = string
}

variable "soft_delete_retention_days" {
  description = "Days a deleted vault or secret can be recovered (7-90)."
  type        = number
  default     = 90

  validation {
    condition     = var.soft_delete_retention_days >= 7 && var.soft_delete_retention_days <= 90
    error_message = "soft_delete_retention_days must be between 7 and 90."
  }
}

variable "secrets_officer_principal_ids" {
  description = "Object ids of people or groups who set secret values out of band (Key Vault Secrets Officer)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.secrets_officer_principal_ids : can(regex("^[0-9a-fA-F-]{36}$", id))])
    error_message = "Each principal id must be an object id (GUID)."
  }
}

variable "log_analytics_workspace_resource_id" {
  description = "Resource id of the Log Analytics workspace that receives the vault's audit logs."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
}
