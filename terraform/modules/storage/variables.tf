variable "name" {
  description = "Globally unique storage account name (3-24 lowercase letters and digits), derived by the stack."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]{3,24}$", var.name))
    error_message = "A storage account name is 3-24 lowercase letters and digits."
  }
}

variable "resource_group_name" {
  description = "Resource group that holds the account."
  type        = string
}

variable "location" {
  description = "Azure region of the account."
  type        = string
}

variable "replication_type" {
  description = "Redundancy of the account: GRS, RAGRS, GZRS or RAGZRS (geo-redundant, so that a regional outage loses no run)."
  type        = string
  default     = "GRS"

  validation {
    condition     = contains(["GRS", "RAGRS", "GZRS", "RAGZRS"], var.replication_type)
    error_message = "replication_type must be one of GRS, RAGRS, GZRS, RAGZRS."
  }
}

variable "container_name" {
  description = "Name of the private blob container that holds the itb data root."
  type        = string
  default     = "itb-data"

  validation {
    condition     = can(regex("^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){2,62}$", var.container_name))
    error_message = "A container name is 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit."
  }
}

variable "soft_delete_retention_days" {
  description = "Days that deleted blobs and containers can be restored."
  type        = number
  default     = 14

  validation {
    condition     = var.soft_delete_retention_days >= 7 && var.soft_delete_retention_days <= 365
    error_message = "soft_delete_retention_days must be between 7 and 365."
  }
}

variable "log_analytics_workspace_resource_id" {
  description = "Resource id of the Log Analytics workspace that receives the blob service logs."
  type        = string
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
}
