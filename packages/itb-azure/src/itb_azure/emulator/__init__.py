"""Local protocol peers for offline tests and demos: Azurite (Blob) and an ARM + Key Vault emulator."""
