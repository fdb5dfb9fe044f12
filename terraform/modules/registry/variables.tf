variable "name" {
  description = "Globally unique registry name (5-50 letters and digits), derived by the stack."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9]{5,50}$", var.name))
    error_message = "A registry name is 5-50 letters and digits."
  }
}

variable "resource_group_name" {
  description = "Resource group that holds the registry."
  type        = string
}

variable "location" {
  description = "Azure region of the registry."
  type        = string
}

variable "sku" {
  description = "Registry SKU: Basic, Standard or Premium (Premium adds private link, geo-replication and retention)."
  type        = string
  default     = "Basic"

  validation {
    condition     = contains(["Basic", "Standard", "Premium"], var.sku)
    error_message = "sku must be Basic, Standard or Premium."
  }
}

variable "log_analytics_workspace_resource_id" {
  description = "Resource id of the Log Analytics workspace that receives the registry's audit logs."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
}
