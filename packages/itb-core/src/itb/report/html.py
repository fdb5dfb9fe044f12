"""report.html: one self-contained page a person reads at a glance (inline SVG, no scripts, no CDN).

Panels share one time axis: price with the trades (long entries ▲, short entries ▼, exits ●), the
score with its buy/sell thresholds, the equity curve against buy-and-hold, the drawdown; then the
summary, profit per month, the grid heat map and its top-N table. Long series are reduced to the
minimum and maximum of each pixel column, so a year of minutes stays a small file and looks the same.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from itb.backtest.vectorised import Backtest
from itb.timefmt import utc_day

WIDTH, LEFT, RIGHT = 1100, 70, 20
#: Opening of every chart; the font is named so the SVG also reads well outside the page (viewers, PNG).
SVG = '<svg xmlns="http://www.w3.org/2000/svg" font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'
PLOT_W = WIDTH - LEFT - RIGHT
MAX_MARKERS = 800
GREEN, RED, BLUE, GREY, ORANGE = "#1a9850", "#d73027", "#2c7bb6", "#888888", "#f28e2b"

Array = NDArray[np.float64]


def _reduce(x: Array, y: Array, buckets: int = PLOT_W) -> tuple[Array, Array]:
    """Min and max of ``y`` per bucket of rows (in time order), so lines keep their extremes."""
    keep = ~np.isnan(y)
    x, y = x[keep], y[keep]
    if y.size <= 2 * buckets:
        return x, y
    edges = np.linspace(0, y.size, buckets + 1).astype(int)
    starts = edges[:-1][edges[1:] > edges[:-1]]  # non-empty buckets
    lengths = np.diff(np.append(starts, y.size))
    bucket = np.repeat(np.arange(starts.size), lengths)
    lowest = _first_where(y == np.repeat(np.minimum.reduceat(y, starts), lengths), bucket, starts.size)
    highest = _first_where(y == np.repeat(np.maximum.reduceat(y, starts), lengths), bucket, starts.size)
    first, second = np.minimum(lowest, highest), np.maximum(lowest, highest)
    picks = np.stack([first, second], axis=1).ravel()
    picks = picks[np.stack([np.ones(first.size, dtype=bool), second != first], axis=1).ravel()]
    return x[picks], y[picks]


def _first_where(mask: NDArray[np.bool_], bucket: NDArray[np.int64], count: int) -> NDArray[np.int64]:
    """Per bucket, the first row where ``mask`` holds (every bucket has one)."""
    rows = np.flatnonzero(mask)
    _, first = np.unique(bucket[rows], return_index=True)
    assert first.size == count
    return rows[first]


def _nice(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


class _Panel:
    """One chart: a y range over the shared time range, drawn as SVG elements."""

    def __init__(self, title: str, t0: float, t1: float, lo: float, hi: float, height: int = 220) -> None:
        if hi <= lo:
            lo, hi = lo - 1, hi + 1
        pad = (hi - lo) * 0.05
        self.title, self.t0, self.t1, self.lo, self.hi = title, t0, max(t1, t0 + 1), lo - pad, hi + pad
        self.height, self.top, self.bottom = height, 28, height - 24
        self.parts: list[str] = []

    def x(self, t: Array) -> Array:
        return LEFT + (t - self.t0) / (self.t1 - self.t0) * PLOT_W

    def y(self, v: Array) -> Array:
        return self.bottom - (v - self.lo) / (self.hi - self.lo) * (self.bottom - self.top)

    def line(self, t: Array, v: Array, color: str, width: float = 1.2, label: str | None = None) -> None:
        tr, vr = _reduce(t, v)
        if tr.size == 0:
            return
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(self.x(tr), self.y(vr), strict=True))
        self.parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="{width}" points="{points}"/>'
        )
        if label:
            self.legend(label, color)

    def area(self, t: Array, v: Array, color: str) -> None:
        tr, vr = _reduce(t, v)
        if tr.size == 0:
            return
        xs, ys = self.x(tr), self.y(vr)
        base = self.y(np.asarray([0.0]))[0]
        points = f"{xs[0]:.1f},{base:.1f} " + " ".join(
            f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys, strict=True)
        )
        points += f" {xs[-1]:.1f},{base:.1f}"
        self.parts.append(f'<polygon fill="{color}" fill-opacity="0.35" stroke="{color}" points="{points}"/>')

    def hline(self, value: float, color: str, label: str) -> None:
        y = self.y(np.asarray([value]))[0]
        self.parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y:.1f}" y2="{y:.1f}" stroke="{color}" '
            f'stroke-dasharray="5,4"/><text x="{LEFT + PLOT_W - 4}" y="{y - 4:.1f}" text-anchor="end" '
            f'fill="{color}" font-size="11">{html.escape(label)}</text>'
        )

    def markers(self, t: Array, v: Array, shape: str, color: str, label: str) -> None:
        if t.size == 0:
            return
        if t.size > MAX_MARKERS:
            pick = np.linspace(0, t.size - 1, MAX_MARKERS).astype(int)
            t, v = t[pick], v[pick]
        out = []
        for a, b in zip(self.x(t), self.y(v), strict=True):
            if shape == "up":
                out.append(f"M{a:.1f},{b + 3:.1f}l-4,7h8z")
            elif shape == "down":
                out.append(f"M{a:.1f},{b - 3:.1f}l-4,-7h8z")
            else:
                out.append(f"M{a - 2.5:.1f},{b:.1f}a2.5,2.5 0 1,0 5,0a2.5,2.5 0 1,0 -5,0")
        self.parts.append(f'<path d="{"".join(out)}" fill="{color}" fill-opacity="0.85"/>')
        self.legend(label, color)

    def legend(self, label: str, color: str) -> None:
        n = sum(1 for p in self.parts if p.startswith("<!--legend-->"))
        x = LEFT + 10 + n * 170
        self.parts.append(
            f'<!--legend--><rect x="{x}" y="{self.top + 4}" width="12" height="4" fill="{color}"/>'
            f'<text x="{x + 16}" y="{self.top + 10}" font-size="11" fill="#333">{html.escape(label)}</text>'
        )

    def svg(self) -> str:
        grid = []
        for v in np.linspace(self.lo, self.hi, 5)[1:-1]:
            y = self.y(np.asarray([v]))[0]
            grid.append(
                f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#555">'
                f"{_nice(float(v))}</text>"
            )
        for i, t in enumerate(np.linspace(self.t0, self.t1, 6)):
            x = self.x(np.asarray([t]))[0]
            anchor = "start" if i == 0 else "end" if i == 5 else "middle"
            grid.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{self.top}" y2="{self.bottom}" stroke="#f2f2f2"/>'
                f'<text x="{x:.1f}" y="{self.bottom + 16}" text-anchor="{anchor}" font-size="11" fill="#555">'
                f"{utc_day(float(t))}</text>"
            )
        frame = (
            f'<rect x="{LEFT}" y="{self.top}" width="{PLOT_W}" height="{self.bottom - self.top}" '
            f'fill="none" stroke="#ccc"/>'
        )
        title = (
            f'<text x="{LEFT}" y="18" font-size="14" font-weight="bold" fill="#222">'
            f"{html.escape(self.title)}</text>"
        )
        body = "".join(grid) + frame + "".join(self.parts) + title
        return f'{SVG} width="{WIDTH}" height="{self.height}">{body}</svg>'


def _heatmap(grid: dict[str, Any]) -> str:
    rows = grid.get("all", [])
    if not rows:
        return ""
    buys = sorted({r["buy_threshold"] for r in rows})
    sells = sorted({r["sell_threshold"] for r in rows})
    value = {(r["buy_threshold"], r["sell_threshold"]): r.get("profit_pct") for r in rows}
    finite = [v for v in value.values() if v is not None]
    scale = max((abs(v) for v in finite), default=1.0) or 1.0
    cell_w, cell_h, left, top = 70, 28, 90, 40
    parts = [
        f'<text x="{left}" y="16" font-size="14" font-weight="bold">Grid: profit % by buy (rows) x sell '
        f"(columns) threshold</text>"
    ]
    for j, s in enumerate(sells):
        parts.append(
            f'<text x="{left + j * cell_w + cell_w / 2}" y="{top - 6}" text-anchor="middle" '
            f'font-size="11">{s:g}</text>'
        )
    for i, b in enumerate(buys):
        y = top + i * cell_h
        parts.append(f'<text x="{left - 8}" y="{y + 18}" text-anchor="end" font-size="11">{b:g}</text>')
        for j, s in enumerate(sells):
            v = value.get((b, s))
            x = left + j * cell_w
            if v is None:
                parts.append(
                    f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="#f4f4f4"/>'
                )
                continue
            strength = min(1.0, abs(v) / scale)
            color = GREEN if v >= 0 else RED
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{color}" '
                f'fill-opacity="{0.15 + 0.75 * strength:.2f}"/><text x="{x + cell_w / 2 - 1}" y="{y + 18}" '
                f'text-anchor="middle" font-size="11">{v:.1f}</text>'
            )
    width, height = left + len(sells) * cell_w + 20, top + len(buys) * cell_h + 10
    return f'{SVG} width="{width}" height="{height}">{"".join(parts)}</svg>'


def _month_bars(months: list[dict[str, Any]]) -> str:
    if not months:
        return ""
    values = np.asarray([m["profit_pct"] for m in months], dtype=float)
    scale = float(np.abs(values).max()) or 1.0
    bar_w = max(6, min(40, PLOT_W // max(1, len(months)) - 4))
    height, mid = 200, 100
    parts = ['<text x="70" y="16" font-size="14" font-weight="bold">Profit per month (%)</text>']
    parts.append(f'<line x1="{LEFT}" x2="{LEFT + PLOT_W}" y1="{mid}" y2="{mid}" stroke="#999"/>')
    for i, (m, v) in enumerate(zip(months, values, strict=True)):
        x = LEFT + i * (bar_w + 4)
        h = abs(v) / scale * 68
        y = mid - h if v >= 0 else mid
        color = GREEN if v >= 0 else RED
        parts.append(f'<rect x="{x}" y="{y:.1f}" width="{bar_w}" height="{h:.1f}" fill="{color}"/>')
        if len(months) <= 40:
            parts.append(
                f'<text x="{x + bar_w / 2}" y="{mid + 97}" font-size="10" text-anchor="middle">'
                f"{m['month'][2:]}</text>"
            )
            label_y = y - 3 if v >= 0 else y + h + 11
            parts.append(
                f'<text x="{x + bar_w / 2}" y="{label_y:.1f}" font-size="9" text-anchor="middle">'
                f"{v:.1f}</text>"
            )
    return f'{SVG} width="{WIDTH}" height="{height}">{"".join(parts)}</svg>'


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return html.escape(str(value))


def render_report(
    *,
    title: str,
    signals: pl.DataFrame,
    result: Backtest,
    document: dict[str, Any],
    score_column: str | None,
    thresholds: tuple[float, float] | None,
    price_column: str = "close",
) -> str:
    """The HTML page for one simulation."""
    if signals.height == 0:
        head = f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
        return head + "<p>No rows to simulate.</p>"
    t = signals["timestamp"].cast(pl.Float64).to_numpy()
    price = signals[price_column].cast(pl.Float64).to_numpy()
    t0, t1 = float(t[0]), float(t[-1])
    charts = []

    p = _Panel(
        f"Price ({price_column}) and trades", t0, t1, float(np.nanmin(price)), float(np.nanmax(price)), 300
    )
    p.line(t, price, "#444", 1.0, price_column)
    side = result.position[result.entries] if result.entries.size else np.empty(0)
    longs, shorts = result.entries[side > 0], result.entries[side < 0]
    p.markers(t[longs], price[longs], "up", GREEN, f"long entry ({longs.size})")
    p.markers(t[shorts], price[shorts], "down", RED, f"short entry ({shorts.size})")
    p.markers(t[result.exits], price[result.exits], "dot", BLUE, f"exit ({result.exits.size})")
    charts.append(p.svg())

    if score_column:
        score = signals[score_column].cast(pl.Float64).fill_null(np.nan).to_numpy()
        finite = score[~np.isnan(score)]
        if finite.size:
            lo, hi = float(np.quantile(finite, 0.001)), float(np.quantile(finite, 0.999))
            if thresholds:
                lo, hi = min(lo, thresholds[1]), max(hi, thresholds[0])
            s = _Panel(f"Score ({score_column}) and thresholds", t0, t1, lo, hi, 200)
            s.line(t, np.clip(score, lo, hi), ORANGE, 0.8, score_column)
            if thresholds:
                s.hline(thresholds[0], GREEN, f"buy >= {thresholds[0]:g}")
                s.hline(thresholds[1], RED, f"sell <= {thresholds[1]:g}")
            charts.append(s.svg())

    hold = price / price[0]
    equity = result.equity
    e = _Panel(
        "Equity (start = 1)",
        t0,
        t1,
        float(min(equity.min(), hold.min())),
        float(max(equity.max(), hold.max())),
        260,
    )
    e.line(t, hold, GREY, 1.0, "buy and hold")
    e.line(t, equity, BLUE, 1.6, "strategy")
    charts.append(e.svg())

    drawdown = -(1 - equity / np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]) * 100
    d = _Panel("Drawdown (%)", t0, t1, float(drawdown.min()), 0.0, 160)
    d.area(t, drawdown, RED)
    charts.append(d.svg())

    summary_keys = ["trades", "long_trades", "short_trades", "profit_pct", "buy_and_hold_pct", "win_rate",
                    "mean_trade_pct", "max_drawdown_pct", "sharpe", "profit_per_month_pct",
                    "trades_per_month", "exposure"]  # fmt: skip
    cards = "".join(
        f"<div class='card'><div class='k'>{k.replace('_', ' ')}</div>"
        f"<div class='v'>{_cell(document.get(k))}</div></div>"
        for k in summary_keys
    )
    facts = (
        f"{document.get('rows', 0):,} rows, {html.escape(' .. '.join(document.get('range') or []))}; fee "
        f"{document.get('fee')}, slippage {document.get('slippage')}, direction {document.get('direction')}"
    )
    sections = [
        f"<h1>{html.escape(title)}</h1><p class='facts'>{facts}</p><div class='cards'>{cards}</div>",
        *charts,
        _month_bars(document.get("months", [])),
    ]
    grid = document.get("grid")
    if grid:
        sections.append(_heatmap(grid))
        columns = ["buy_threshold", "sell_threshold", "trades", "profit_pct", "win_rate", "max_drawdown_pct",
                   "sharpe", "profit_per_month_pct"]  # fmt: skip
        sections.append(
            f"<h2>Grid top {len(grid['top'])} by {grid['sort_by']}</h2>" + _table(grid["top"], columns)
        )
    months = document.get("months", [])
    if months:
        sections.append(
            "<h2>Months</h2>" + _table(months, ["month", "trades", "wins", "profit_pct", "equity"])
        )
    style = (
        "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;"
        "max-width:1140px}"
        "h1{font-size:20px}h2{font-size:16px;margin-top:28px}.facts{color:#555}"
        ".cards{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0}"
        ".card{border:1px solid #ddd;border-radius:6px;padding:6px 10px;min-width:110px}"
        ".k{font-size:11px;color:#666}.v{font-size:17px;font-weight:600}"
        "svg{display:block;margin:10px 0}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f6f6f6}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(sections)}</body></html>"
    )
