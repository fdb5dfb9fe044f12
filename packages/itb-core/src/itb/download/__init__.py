"""Download Binance klines into ``<data_root>/klines/<market>/<symbol>/<interval>/<YYYY-MM>.parquet``.

The pieces are small on purpose so each can be tested alone:

- :mod:`.endpoints`: base URLs (config, then environment), intervals and the series to fetch;
- :mod:`.retry`: bounded retries with backoff and jitter, Retry-After, bans, used-weight pacing;
- :mod:`.rest`: the python-binance client and the REST pager;
- :mod:`.archive`: the public monthly archives, verified by their ``.CHECKSUM`` files;
- :mod:`.partitions`: the monthly Parquet partitions (merge, coverage, atomic writes);
- :mod:`.report`: the per-run validation report and progress display;
- :mod:`.engine`: the plan (holes to fill, archive or REST) and the run.
"""

from __future__ import annotations

from itb.download.engine import download_all
from itb.download.errors import DownloadError, IpBanned

__all__ = ["DownloadError", "IpBanned", "download_all"]
