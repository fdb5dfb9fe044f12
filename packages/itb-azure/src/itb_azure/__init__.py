"""itb's Azure backend (skeleton): Container Instances, Blob storage and Key Vault."""

__version__ = "0.1.0"
