"""``keyvault://VAULT/NAME`` secret references, resolved inside the stage with the managed identity.

The vault URL is ``https://VAULT.vault.azure.net`` unless ``ITB_AZURE_KEYVAULT_ENDPOINT`` gives a
template (the emulator: ``https://127.0.0.1:PORT/vaults/{vault}``). The credential is
DefaultAzureCredential for the identity in ``AZURE_CLIENT_ID`` (set on every container group), or the
emulator's static token. Values are returned, never logged.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from itb.errors import ConfigError

from itb_azure.credentials import azure_credential
from itb_azure.settings import ENV_PREFIX, static_token


def parse_ref(ref: str) -> tuple[str, str]:
    body = ref.removeprefix("keyvault://")
    vault, _, name = body.partition("/")
    if not vault or not name or "/" in name:
        raise ConfigError(f"secret reference {ref!r}: expected keyvault://VAULT/NAME")
    return vault, name


@cache
def _client(vault_url: str) -> Any:
    from azure.keyvault.secrets import SecretClient

    credential = azure_credential(static_token(), os.environ.get("AZURE_CLIENT_ID"))
    verify: Any = os.environ.get(ENV_PREFIX + "CA_BUNDLE") or True
    # verify_challenge_resource=False: the emulator's challenge names 127.0.0.1, not *.vault.azure.net.
    return SecretClient(
        vault_url, credential, verify_challenge_resource=False, connection_verify=verify, retry_total=5
    )


def resolve_keyvault(ref: str) -> str:
    """Fetch the current version of the secret named by ``ref``."""
    from azure.core.exceptions import ResourceNotFoundError

    vault, name = parse_ref(ref)
    template = os.environ.get(ENV_PREFIX + "KEYVAULT_ENDPOINT") or "https://{vault}.vault.azure.net"
    try:
        value = _client(template.format(vault=vault)).get_secret(name).value
    except ResourceNotFoundError:
        raise ConfigError(f"secret reference {ref!r}: no secret {name!r} in vault {vault!r}") from None
    if value is None:
        raise ConfigError(f"secret reference {ref!r}: the secret has no value")
    return str(value)
