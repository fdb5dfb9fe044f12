"""`python -m itb` is the same entry point as the `itb` script (and the container image)."""

from itb.cli.main import main

raise SystemExit(main())
