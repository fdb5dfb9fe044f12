variable "name" {
  description = "Name of the stage identity (the GitHub identity, if any, is NAME-github)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9_-]{2,120}$", var.name))
    error_message = "An identity name is 3-121 letters, digits, hyphens and underscores."
  }
}

variable "resource_group_name" {
  description = "Resource group that holds the identities."
  type        = string
}

variable "resource_group_id" {
  description = "Resource id of that resource group (scope of the CI identity's ACI role)."
  type        = string
}

variable "location" {
  description = "Azure region of the identities."
  type        = string
}

variable "registry_id" {
  description = "Resource id of the container registry (AcrPull for stages, AcrPush for CI)."
  type        = string
}

variable "data_container_scope" {
  description = "Resource Manager id of the data container (Storage Blob Data Contributor)."
  type        = string
}

variable "key_vault_id" {
  description = "Resource id of the Key Vault (Key Vault Secrets User for stages)."
  type        = string
}

variable "github_repository" {
  description = "GitHub repository (OWNER/NAME) allowed to sign in through OIDC; null creates no CI identity."
  type        = string
  default     = null

  validation {
    condition     = var.github_repository == null || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must look like OWNER/NAME."
  }
}

variable "github_branch" {
  description = "Branch whose workflow runs may sign in (release and pipeline runs)."
  type        = string
  default     = "main"
}

variable "github_environment" {
  description = "GitHub environment whose jobs may sign in (protected; used by deployments)."
  type        = string
  default     = "dev"
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
}
