variable "name" {
  description = "Name of the service's container group (lowercase letters, digits, hyphens)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", var.name))
    error_message = "The container group name is 1-63 lowercase letters, digits and hyphens."
  }
}

variable "resource_group_name" {
  description = "Resource group of the container group (the stack's)."
  type        = string
}

variable "location" {
  description = "Azure region of the container group."
  type        = string
}

variable "image" {
  description = "The itb image, e.g. LOGIN_SERVER/itb:TAG."
  type        = string
}

variable "registry_server" {
  description = "Login server of the registry the image is pulled from with the identity (null: a public image)."
  type        = string
  default     = null
}

variable "identity_id" {
  description = "Resource id of the stage's user-assigned identity (Blob data, Key Vault secrets, AcrPull)."
  type        = string
}

variable "identity_client_id" {
  description = "Client id of that identity (AZURE_CLIENT_ID in the container)."
  type        = string
}

variable "storage_account_name" {
  description = "Storage account of the data root (AZURE_STORAGE_ACCOUNT_NAME; signed in with the identity)."
  type        = string
}

variable "data_root" {
  description = "The Blob data root, abfs://CONTAINER/PATH (the stack's data_root output)."
  type        = string

  validation {
    condition     = can(regex("^(abfs|abfss|az)://", var.data_root))
    error_message = "data_root must be a Blob URL (abfs://CONTAINER/PATH): the container cannot reach a local path."
  }
}

variable "itb_config" {
  description = "The itb config (JSON). It holds secret references only (keyvault://VAULT/NAME, resolved in the container with the identity); mounted as a secret volume."
  type        = string

  validation {
    condition     = can(jsondecode(var.itb_config))
    error_message = "itb_config must be JSON (itb writes it with `itb validate`-checked configs; JSONC comments are not allowed here)."
  }
}

variable "serve_arguments" {
  description = "Extra arguments of `itb serve` (e.g. [\"--http\", \"0.0.0.0:8080\"])."
  type        = list(string)
  default     = []
}

variable "cpu" {
  description = "vCPUs of the service container."
  type        = number
  default     = 1
}

variable "memory_gb" {
  description = "Memory of the service container in GB."
  type        = number
  default     = 2
}

variable "log_analytics_workspace_name" {
  description = "Log Analytics workspace (in resource_group_name) that receives the container's logs; null for none."
  type        = string
  default     = null
}

variable "subnet_id" {
  description = "Subnet for a private container group; null for none (the service only calls out)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags of the container group."
  type        = map(string)
  default     = {}
}
