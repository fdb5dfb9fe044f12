"""`itb azure settings --from-terraform`: every non-secret contract output is kept, credentials never."""

from __future__ import annotations

from itb_azure.cli import settings_env


def test_key_vault_outputs_are_kept_and_keys_are_dropped() -> None:
    env = settings_env(
        {
            "key_vault_name": "kv-itb-dev",
            "key_vault_uri": "https://kv-itb-dev.vault.azure.net/",
            "resource_group_name": "rg-itb-dev",
            "storage_account_key": "c2VjcmV0",
        }
    )
    assert env["ITB_AZURE_KEY_VAULT_NAME"] == "kv-itb-dev"
    assert env["ITB_AZURE_KEY_VAULT_URI"] == "https://kv-itb-dev.vault.azure.net/"
    assert "c2VjcmV0" not in env.values()
