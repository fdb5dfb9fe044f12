"""``python -m itb_azure.emulator``: run the ARM + Key Vault emulator in the foreground (offline demos).

Prints the endpoint, the certificate to trust and the matching ``ITB_AZURE_*`` settings; Ctrl-C
stops it together with every container process it started.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from itb_azure.emulator.server import start_emulator


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m itb_azure.emulator")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    emulator = start_emulator(args.workdir, args.port)
    print(f"ITB_AZURE_ARM_ENDPOINT={emulator.url}")
    print(f"ITB_AZURE_CA_BUNDLE={emulator.cert_path}")
    print(f"ITB_AZURE_KEYVAULT_ENDPOINT={emulator.url}/vaults/{{vault}}")
    print(f"ITB_AZURE_STATIC_TOKEN={emulator.token}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
