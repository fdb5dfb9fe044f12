"""Small helpers to reach any fsspec URL the same way as a local path."""

from __future__ import annotations

import logging
import os
import re
from typing import Any

import fsspec
from fsspec.core import url_to_fs
from fsspec.registry import known_implementations, registry

from itb.errors import ConfigError

Filesystem = Any  # fsspec.AbstractFileSystem; fsspec ships no type information

#: URL schemes served by adlfs (Azure Blob Storage / ADLS Gen2).
AZURE_PROTOCOLS = ("abfs", "abfss", "az")


#: ``key=value`` pairs that carry a credential: SAS signatures, account keys, tokens, passwords.
SECRET_PAIRS = re.compile(
    r"(?i)\b(sig|accountkey|account_key|sharedaccesssignature|sas_token|client_secret|token|password)"
    r"=[^&;,:)\]\s'\"]+"
)


def redact(text: str) -> str:
    """``text`` with the value of every credential-carrying ``key=value`` (a SAS ``sig=``, a
    connection string's ``AccountKey=``) replaced by ``***``: for messages that quote a URL."""
    return SECRET_PAIRS.sub(lambda m: f"{m.group(1)}=***", text)


def protocol_of(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else "file"


def azure_storage_options(env: dict[str, str] | None = None) -> dict[str, Any]:
    """adlfs credentials from the environment, so no key ever sits in a config file or command line.

    Order: ``AZURE_STORAGE_CONNECTION_STRING`` (Azurite, development), then
    ``AZURE_STORAGE_ACCOUNT_NAME`` with ``AZURE_STORAGE_ACCOUNT_KEY``, then the account name alone with
    ``anon=False`` so adlfs signs in with DefaultAzureCredential (managed identity in a container,
    the Azure CLI login on a laptop). The listings cache is off: other processes (the stage
    containers) write under the same root, and a cached listing would hide their outputs.
    Nothing from ``azure.*`` is imported here; adlfs does that only when an abfs URL is opened.
    """
    env = dict(os.environ if env is None else env)
    options: dict[str, Any] = {"use_listings_cache": False}
    connection_string = env.get("AZURE_STORAGE_CONNECTION_STRING")
    account = env.get("AZURE_STORAGE_ACCOUNT_NAME")
    key = env.get("AZURE_STORAGE_ACCOUNT_KEY")
    if connection_string:
        options["connection_string"] = connection_string
    elif account and key:
        options.update(account_name=account, account_key=key)
    else:
        if account:
            options["account_name"] = account
        options["anon"] = False  # DefaultAzureCredential
    return options


def storage_options_for(url: str) -> dict[str, Any]:
    """Default fsspec options for ``url`` taken from the environment (empty for non-Azure URLs)."""
    if protocol_of(url) in AZURE_PROTOCOLS:
        # The Azure SDK logs every request and response at INFO; stage logs want stage messages.
        azure_log = logging.getLogger("azure")
        if azure_log.level == logging.NOTSET:
            azure_log.setLevel(logging.WARNING)
        return azure_storage_options()
    return {}


def filesystem(url: str, **options: Any) -> tuple[Filesystem, str]:
    """Return ``(filesystem, path)`` for a URL or a local path (relative paths are made absolute).

    Explicit ``options`` win over the environment defaults of :func:`storage_options_for`. Azure
    URLs take ``client_options`` (retry and timeout keywords of the blob service client, also from
    ``ITB_STORAGE_RETRY_TOTAL``/``ITB_STORAGE_CONNECTION_TIMEOUT_S``: :mod:`itb.storage.azure_fs`).
    """
    if "://" not in url:
        url = os.path.abspath(url)
    merged = {**storage_options_for(url), **options}
    if protocol_of(url) in AZURE_PROTOCOLS:
        from itb.storage.azure_fs import LimitedAzureBlobFileSystem, client_limits  # imports the Azure SDK

        limits = {**client_limits(), **merged.pop("client_options", {})}
        if limits:
            cls = LimitedAzureBlobFileSystem
            fs = cls(**{**cls._get_kwargs_from_urls(url), **merged, "client_options": limits})
            return fs, cls._strip_protocol(url)
    fs, path = url_to_fs(url, **merged)
    return fs, path


def read_text(url: str) -> str:
    target = url if "://" in url else os.path.abspath(url)
    with fsspec.open(target, "r", encoding="utf-8", **storage_options_for(target)) as handle:
        return str(handle.read())


def join(base: str, *parts: str) -> str:
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def check_data_root(url: str) -> None:
    """Raise :class:`ConfigError` (one line) unless ``url`` can hold a data root: a known fsspec
    protocol, and locally a folder that exists or can be created and written to.

    Remote roots are only checked for their protocol here: reaching them needs credentials and the
    network, and their first write reports any problem as a storage error.
    """
    protocol = protocol_of(url)
    if protocol != "file":
        if protocol not in known_implementations and protocol not in registry:
            raise ConfigError(f"data root {url}: unknown storage protocol {protocol!r}")
        return
    path = os.path.abspath(url)
    existing = path
    while not os.path.exists(existing):  # the folder may not exist yet: its first write creates it
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigError(f"data root {path}: {existing} is a file, not a folder")
    probe = os.path.join(existing, f".itb-write-probe-{os.getpid()}")
    try:
        with open(probe, "wb"):
            pass
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"data root {path}: cannot write in {existing}: {exc.strerror or exc}") from None
