"""Credentials for Azure SDK clients: DefaultAzureCredential for real Azure, a static token for the
local ARM/Key Vault emulator (which checks that a bearer token is sent, not who signed it)."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential


class StaticTokenCredential:
    """A TokenCredential that always returns the same bearer token (emulator and tests only)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    def close(self) -> None:
        """Nothing to release."""


def azure_credential(static_token: str | None = None, client_id: str | None = None) -> TokenCredential:
    """The static emulator token if given, else DefaultAzureCredential (managed identity in ACI,
    the Azure CLI login on a laptop); ``client_id`` selects a user-assigned identity."""
    if static_token:
        return StaticTokenCredential(static_token)
    from azure.identity import DefaultAzureCredential

    return (
        DefaultAzureCredential(managed_identity_client_id=client_id)
        if client_id
        else DefaultAzureCredential()
    )
