#!/usr/bin/env bash
# One-time bootstrap of the Terraform remote state: a resource group, a storage account (Entra ID
# only, TLS 1.2, versioning and soft delete) and a `tfstate` container, then a backend.hcl for
# `terraform init -backend-config=backend.hcl`. Idempotent; needs the Azure CLI, signed in
# (`az login`) on the target subscription (`az account set --subscription ...`).
#
# Usage: terraform/bootstrap/state.sh [ENV]   (ENV defaults to dev)
# Environment: LOCATION (westeurope), STATE_RG (rg-itb-tfstate), STATE_ACCOUNT (derived from the
# subscription id, so that it is globally unique without being written anywhere), and
# GITHUB_REPOSITORY=OWNER/NAME to also create the deploy identity that terraform.yml signs in as
# (OIDC federated credentials for pull requests, main and the ENV GitHub environment; Contributor
# and Role Based Access Control Administrator on the subscription; state blob access).
set -euo pipefail

ENV_NAME="${1:-dev}"
LOCATION="${LOCATION:-westeurope}"
STATE_RG="${STATE_RG:-rg-itb-tfstate}"
here="$(cd "$(dirname "$0")" && pwd)"
env_dir="$here/../envs/$ENV_NAME"
[[ -d "$env_dir" ]] || { echo "no environment folder $env_dir" >&2; exit 2; }

subscription_id="$(az account show --query id -o tsv)"
STATE_ACCOUNT="${STATE_ACCOUNT:-stitbtf$(printf '%s' "$subscription_id" | sha256sum | cut -c1-12)}"
me="$(az ad signed-in-user show --query id -o tsv 2>/dev/null || true)"

az group create --name "$STATE_RG" --location "$LOCATION" --tags project=itb managed_by=bootstrap -o none
if ! az storage account show --name "$STATE_ACCOUNT" --resource-group "$STATE_RG" -o none 2>/dev/null; then
    az storage account create --name "$STATE_ACCOUNT" --resource-group "$STATE_RG" --location "$LOCATION" \
        --sku Standard_GRS --kind StorageV2 --min-tls-version TLS1_2 --https-only true \
        --allow-blob-public-access false --allow-shared-key-access false \
        --tags project=itb managed_by=bootstrap -o none
fi
az storage account blob-service-properties update --account-name "$STATE_ACCOUNT" \
    --resource-group "$STATE_RG" --enable-versioning true --enable-delete-retention true \
    --delete-retention-days 30 -o none
account_id="$(az storage account show --name "$STATE_ACCOUNT" --resource-group "$STATE_RG" --query id -o tsv)"
if [[ -n "$me" ]]; then
    az role assignment create --assignee-object-id "$me" --assignee-principal-type User \
        --role "Storage Blob Data Contributor" --scope "$account_id" -o none 2>/dev/null || true
fi
az storage container create --name tfstate --account-name "$STATE_ACCOUNT" --auth-mode login -o none

if [[ -n "${GITHUB_REPOSITORY:-}" ]]; then
    deploy=id-itb-deploy
    az identity create --name "$deploy" --resource-group "$STATE_RG" --location "$LOCATION" \
        --tags project=itb managed_by=bootstrap -o none
    principal="$(az identity show --name "$deploy" --resource-group "$STATE_RG" --query principalId -o tsv)"
    client="$(az identity show --name "$deploy" --resource-group "$STATE_RG" --query clientId -o tsv)"
    declare -A subjects=(
        [pull-requests]="repo:$GITHUB_REPOSITORY:pull_request"
        [main]="repo:$GITHUB_REPOSITORY:ref:refs/heads/main"
        [env-$ENV_NAME]="repo:$GITHUB_REPOSITORY:environment:$ENV_NAME"
    )
    for name in "${!subjects[@]}"; do
        az identity federated-credential create --name "github-$name" --identity-name "$deploy" \
            --resource-group "$STATE_RG" --issuer https://token.actions.githubusercontent.com \
            --subject "${subjects[$name]}" --audiences api://AzureADTokenExchange -o none 2>/dev/null || true
    done
    for role in "Contributor" "Role Based Access Control Administrator"; do
        az role assignment create --assignee-object-id "$principal" --assignee-principal-type ServicePrincipal \
            --role "$role" --scope "/subscriptions/$subscription_id" -o none 2>/dev/null || true
    done
    az role assignment create --assignee-object-id "$principal" --assignee-principal-type ServicePrincipal \
        --role "Storage Blob Data Contributor" --scope "$account_id" -o none 2>/dev/null || true
    echo "deploy identity $deploy: set the repository variable AZURE_DEPLOY_CLIENT_ID=$client"
fi

cat >"$env_dir/backend.hcl" <<HCL
resource_group_name  = "$STATE_RG"
storage_account_name = "$STATE_ACCOUNT"
container_name       = "tfstate"
key                  = "itb/$ENV_NAME.tfstate"
use_azuread_auth     = true
HCL
echo "wrote $env_dir/backend.hcl (TF_STATE_RESOURCE_GROUP=$STATE_RG TF_STATE_ACCOUNT=$STATE_ACCOUNT)"
echo "next: make infra-plan ENV=$ENV_NAME && make infra-apply ENV=$ENV_NAME"
