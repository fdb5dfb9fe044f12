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

# The live service (`itb serve`) as an always-restarted container group: off unless serve_config_file
# names an itb config (JSON, secret references only). `itb deploy serve --backend aci` makes the same
# group without terraform.
variable "serve_config_file" {
  description = "Path of the itb config (JSON) the live service runs; null: no service."
  type        = string
  default     = null
}

variable "serve_image_tag" {
  description = "Tag of the itb image in the registry that the service runs."
  type        = string
  default     = "latest"
}

variable "serve_arguments" {
  description = "Extra arguments of `itb serve` (e.g. [\"--http\", \"0.0.0.0:8080\"])."
  type        = list(string)
  default     = []
}

module "serve" {
  source                       = "../../modules/serve"
  count                        = var.serve_config_file == null ? 0 : 1
  name                         = "itb-serve-${local.environment}"
  resource_group_name          = module.itb.resource_group_name
  location                     = module.itb.location
  image                        = "${module.itb.acr_login_server}/itb:${var.serve_image_tag}"
  registry_server              = module.itb.acr_login_server
  identity_id                  = module.itb.identity_id
  identity_client_id           = module.itb.identity_client_id
  storage_account_name         = module.itb.storage_account_name
  data_root                    = module.itb.data_root
  itb_config                   = file(var.serve_config_file)
  serve_arguments              = var.serve_arguments
  log_analytics_workspace_name = module.itb.log_analytics_workspace_name
  tags                         = var.tags
}
