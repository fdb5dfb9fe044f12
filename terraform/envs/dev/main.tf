# The dev environment. A new environment is a copy of this folder with another `environment`
# below (and its own backend key): cp -r terraform/envs/dev terraform/envs/prod.
#
# State lives in an Azure storage account, configured at init time (see terraform/README.md):
#   terraform init -backend-config=backend.hcl
# The subscription comes from the environment (ARM_SUBSCRIPTION_ID or `az account set`), never code.

terraform {
  required_version = ">= 1.6"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  backend "azurerm" {}
}

provider "azurerm" {
  features {
    key_vault {
      purge_soft_delete_on_destroy = false
    }
    resource_group {
      prevent_deletion_if_contains_resources = true
    }
  }
  # Shared keys are off on the data account: data-plane calls (creating the container) use Entra ID.
  storage_use_azuread = true
}

locals {
  environment = "dev"
}

variable "location" {
  description = "Azure region of the environment."
  type        = string
  default     = "westeurope"
}

variable "name_suffix" {
  description = "Fixed suffix for the globally unique names (empty: random, kept in state)."
  type        = string
  default     = ""
}

variable "github_repository" {
  description = "GitHub repository (OWNER/NAME) allowed to deploy through OIDC; null for none."
  type        = string
  default     = null
}

variable "secrets_officer_principal_ids" {
  description = "Object ids of people or groups who set Key Vault secrets out of band."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Extra tags for every resource (owner, cost center...)."
  type        = map(string)
  default     = {}
}

module "itb" {
  source                        = "../../modules/stack"
  prefix                        = "itb"
  environment                   = local.environment
  location                      = var.location
  name_suffix                   = var.name_suffix
  github_repository             = var.github_repository
  secrets_officer_principal_ids = var.secrets_officer_principal_ids
  tags                          = var.tags
}
