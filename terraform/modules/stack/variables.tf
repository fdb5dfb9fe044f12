variable "prefix" {
  description = "Short name of the deployment (2-6 lowercase letters and digits), the first part of every resource name."
  type        = string
  default     = "itb"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,5}$", var.prefix))
    error_message = "prefix is 2-6 lowercase letters and digits, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (2-6 lowercase letters and digits: dev, test, prod...)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,5}$", var.environment))
    error_message = "environment is 2-6 lowercase letters and digits, starting with a letter."
  }
}

variable "name_suffix" {
  description = "Suffix (4-6 lowercase letters and digits) that makes the storage account, registry and vault names globally unique; empty for a random one kept in state."
  type        = string
  default     = ""

  validation {
    condition     = var.name_suffix == "" || can(regex("^[a-z0-9]{4,6}$", var.name_suffix))
    error_message = "name_suffix is empty or 4-6 lowercase letters and digits."
  }
}

variable "location" {
  description = "Azure region of every resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+[a-z0-9]*$", var.location))
    error_message = "location is a region name such as westeurope (lowercase, no spaces)."
  }
}

variable "tags" {
  description = "Extra tags merged over the defaults (project, environment, managed_by, component) on every resource."
  type        = map(string)
  default     = {}
}

variable "data_container_name" {
  description = "Blob container that holds the itb data root."
  type        = string
  default     = "itb-data"
}

variable "data_root_path" {
  description = "Path of the itb data root inside the data container."
  type        = string
  default     = "itb"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.data_root_path))
    error_message = "data_root_path is a relative path without leading or trailing slash."
  }
}

variable "storage_replication_type" {
  description = "Redundancy of the storage account (GRS, RAGRS, GZRS, RAGZRS)."
  type        = string
  default     = "GRS"
}

variable "blob_soft_delete_days" {
  description = "Days that deleted blobs and containers can be restored."
  type        = number
  default     = 14
}

variable "registry_sku" {
  description = "Container registry SKU (Basic, Standard, Premium)."
  type        = string
  default     = "Basic"
}

variable "log_retention_days" {
  description = "Days that Log Analytics keeps logs."
  type        = number
  default     = 30
}

variable "secrets_officer_principal_ids" {
  description = "Object ids of people or groups who set Key Vault secret values out of band."
  type        = list(string)
  default     = []
}

variable "github_repository" {
  description = "GitHub repository (OWNER/NAME) whose Actions may sign in through OIDC; null for none."
  type        = string
  default     = null
}
