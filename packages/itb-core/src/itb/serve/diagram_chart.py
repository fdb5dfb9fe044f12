"""The diagram's data and picture: recent candles resampled to bars, drawn as a PNG.

:func:`resample` turns one-candle rows (``timestamp``, ``high``, ``low``, ``close``, a score) into
bars of ``every_ms``: high the max, low the min, close the last, and the score as the reference
project aggregates it (the max when every score in the bar is positive, the min when every one is
negative, else the mean: a bar shows the strongest signal it held). :func:`render_png` draws the
price (close line over the high-low band) and, on a second axis, the score with its threshold lines.

Rendering uses a bare :class:`matplotlib.figure.Figure` on the Agg canvas: it is never registered
with ``pyplot`` (no global figure list, no GUI backend, safe in a server thread) and is cleared in a
``finally`` once its PNG bytes are taken, so a long-running service does not accumulate figures.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import polars as pl

#: The columns :func:`resample` needs (``score`` is the score column renamed).
BAR_COLUMNS = ("timestamp", "high", "low", "close", "score")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def resample(rows: pl.DataFrame, every_ms: int, nrows: int | None) -> pl.DataFrame:
    """Bars of ``every_ms`` (aligned to multiples of it, epoch based) from candle rows, the last
    ``nrows`` of them (all when None). ``rows`` has :data:`BAR_COLUMNS`; null scores are ignored."""
    score = pl.col("score").drop_nulls()
    bars = (
        rows.sort("timestamp")
        .with_columns(bar=pl.col("timestamp") - pl.col("timestamp") % every_ms)
        .group_by("bar", maintain_order=True)
        .agg(
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.when((score > 0).all() & (score.len() > 0))
            .then(score.max())
            .when((score < 0).all() & (score.len() > 0))
            .then(score.min())
            .otherwise(score.mean())
            .alias("score"),
        )
        .rename({"bar": "timestamp"})
    )
    return bars if nrows is None else bars.tail(nrows)


def render_png(bars: pl.DataFrame, title: str, thresholds: Sequence[float], *, dpi: int = 100) -> bytes:
    """A PNG of ``bars`` (from :func:`resample`): price on the left axis, score and its thresholds
    on the right one. The figure is built, saved to bytes and cleared; nothing outlives the call."""
    # matplotlib is the optional `diagram` extra (the batch pipeline does not need it); the output
    # registry checks it is installed before this output is built.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure

    when = bars["timestamp"].cast(pl.Datetime("ms")).to_numpy()  # UTC, naive: the axis formats it
    fig = Figure(figsize=(12, 6), dpi=dpi)
    try:
        FigureCanvasAgg(fig)
        price = fig.add_subplot()
        price.fill_between(
            when, bars["low"].to_numpy(), bars["high"].to_numpy(), step="mid", lw=0.0,
            facecolor="skyblue", alpha=0.4,
        )  # fmt: skip
        price.plot(when, bars["close"].to_numpy(), drawstyle="steps-mid", lw=0.8, color="blue")
        price.set_ylabel("Close price", color="blue")
        price.xaxis.set_major_formatter(DateFormatter("%m-%d %H:%M"))  # type: ignore[no-untyped-call]
        price.tick_params(axis="x", rotation=90)
        price.xaxis.grid(True)
        score = price.twinx()
        values = bars["score"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
        drawn = np.abs(values[~np.isnan(values)])
        largest = max([float(drawn.max()) if drawn.size else 0.0, *(abs(t) for t in thresholds), 1e-9])
        score.set_ylim(-largest * 1.2, largest * 1.2)
        score.axhline(0.0, lw=0.3, color="black")
        for threshold in thresholds:
            score.axhline(threshold, lw=3.0, color="lightgray")
        score.plot(when, values, drawstyle="steps-mid", lw=1.0, color="red")
        score.set_ylabel("Score", color="red")
        price.set_title(title)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.1)
        return buffer.getvalue()
    finally:
        fig.clear()
