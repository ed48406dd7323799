"""Candlestick charts drawn on the server as SVG: a page shows prices without JavaScript, and
a live page swaps in a freshly drawn chart when trades print.

Geometry is computed with floats (pixels only); every number shown to the client is the
instrument's Decimal, formatted to its tick and lot steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from apps.marketdata.snapshots import Formats

WIDTH = 760
HEIGHT = 340
VOLUME_SHARE = 0.22  # of the plot's height, under the prices
MARGIN = {"top": 12, "right": 70, "bottom": 26, "left": 8}
UP = "#0a7d3b"
DOWN = "#b3261e"
GRID = "#e3e8ed"
INK = "#5b6b79"


def _nice_step(span: float, count: int) -> float:
    """A round step (1, 2, 2.5 or 5 x 10^n) giving about ``count`` grid lines over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / max(count, 1)
    magnitude = 10 ** _floor_log10(raw)
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _floor_log10(value: float) -> int:
    exponent = 0
    while value >= 10:
        value /= 10
        exponent += 1
    while value < 1:
        value *= 10
        exponent -= 1
    return exponent


def _time_label(instant: datetime, width: timedelta) -> str:
    if width >= timedelta(days=1):
        return instant.strftime("%d %b")
    return instant.strftime("%H:%M")


def candle_chart(
    *,
    candles: Sequence[dict[str, Any]],
    formats: Formats,
    interval: timedelta,
    title: str,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> SafeString:
    """An SVG chart of ``candles`` (oldest first, as the candles selector returns them): one
    candle per bucket with its wick, volume bars underneath, a price axis on the right, time
    labels below, and the last close marked. No candles: a chart frame saying so."""
    left, right = MARGIN["left"], width - MARGIN["right"]
    top, bottom = MARGIN["top"], height - MARGIN["bottom"]
    plot_h = bottom - top
    volume_h = plot_h * VOLUME_SHARE
    price_bottom = bottom - volume_h - 6
    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="candles" role="img" aria-label="{escape(title)}" '
        f'data-candles="{len(candles)}" preserveAspectRatio="none">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{plot_h}" fill="#fff" '
        f'stroke="{GRID}"/>',
    ]
    if not candles:
        parts.append(
            f'<text x="{(left + right) / 2:.1f}" y="{(top + bottom) / 2:.1f}" '
            f'text-anchor="middle" fill="{INK}" font-size="14">No trades in this period yet</text>'
        )
        parts.append("</svg>")
        return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped

    highs = [float(c["high"]) for c in candles]
    lows = [float(c["low"]) for c in candles]
    hi, lo = max(highs), min(lows)
    if hi == lo:
        pad = hi * 0.005 or 1.0
        hi, lo = hi + pad, lo - pad
    else:
        pad = (hi - lo) * 0.06
        hi, lo = hi + pad, lo - pad
    max_volume = max(float(c["volume"]) for c in candles) or 1.0

    def y(price: float) -> float:
        return top + (hi - price) / (hi - lo) * (price_bottom - top)

    # Price grid and axis labels (Decimal text at the instrument's tick).
    step = _nice_step(hi - lo, 5)
    level = (lo // step + 1) * step
    while level < hi:
        py = y(level)
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{py:.1f}" y2="{py:.1f}" stroke="{GRID}"/>'
            f'<text x="{right + 6}" y="{py + 4:.1f}" font-size="11" fill="{INK}">'
            f"{escape(formats.p(Decimal(repr(round(level, 10)))))}</text>"
        )
        level += step

    slots = max(len(candles), 30)
    slot = (right - left) / slots
    body = max(slot * 0.64, 1.0)
    start_x = right - slot * len(candles)
    label_every = max(1, len(candles) // 6)
    for index, candle in enumerate(candles):
        cx = start_x + slot * (index + 0.5)
        o, c = float(candle["open"]), float(candle["close"])
        colour = UP if c >= o else DOWN
        y_top, y_bottom = y(max(o, c)), y(min(o, c))
        parts.append(
            f'<g class="candle" data-time="{candle["time"].isoformat()}">'
            f"<title>{escape(_time_label(candle['time'], interval))} "
            f"O {escape(formats.p(candle['open']))} H {escape(formats.p(candle['high']))} "
            f"L {escape(formats.p(candle['low']))} C {escape(formats.p(candle['close']))} "
            f"V {escape(formats.q(candle['volume']))}</title>"
            f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y(float(candle["high"])):.1f}" '
            f'y2="{y(float(candle["low"])):.1f}" stroke="{colour}"/>'
            f'<rect x="{cx - body / 2:.1f}" y="{y_top:.1f}" width="{body:.1f}" '
            f'height="{max(y_bottom - y_top, 1):.1f}" fill="{colour}"/>'
        )
        bar = float(candle["volume"]) / max_volume * volume_h
        parts.append(
            f'<rect class="volume" x="{cx - body / 2:.1f}" y="{bottom - bar:.1f}" '
            f'width="{body:.1f}" height="{max(bar, 0.5):.1f}" fill="{colour}" opacity=".35"/>'
            "</g>"
        )
        if index % label_every == 0:
            parts.append(
                f'<text x="{cx:.1f}" y="{height - 8}" font-size="11" fill="{INK}" '
                f'text-anchor="middle">{escape(_time_label(candle["time"], interval))}</text>'
            )

    last = candles[-1]["close"]
    ly = y(float(last))
    colour = UP if candles[-1]["close"] >= candles[-1]["open"] else DOWN
    parts.append(
        f'<line x1="{left}" x2="{right}" y1="{ly:.1f}" y2="{ly:.1f}" stroke="{colour}" '
        f'stroke-dasharray="3 3"/>'
        f'<rect x="{right + 2}" y="{ly - 9:.1f}" width="{MARGIN["right"] - 4}" height="18" '
        f'fill="{colour}" rx="3"/>'
        f'<text x="{right + 6}" y="{ly + 4:.1f}" font-size="11" fill="#fff" class="last">'
        f"{escape(formats.p(last))}</text>"
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped
