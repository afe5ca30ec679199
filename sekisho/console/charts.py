"""Server-rendered SVG charts for the dashboard: no JavaScript, styled by CSS classes.

Pure functions from numbers and (already translated) labels to SVG markup; every label is
escaped. Each chart scales to its container (a viewBox, width 100%), so it fits 375 px.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 480
ROW = 26
LABEL_WIDTH = 150


def _nice_max(value: int) -> int:
    """A round upper bound for an axis (1, 2, 5, 10, 20, 50, …)."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _short(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def hourly_bars(
    hours: Sequence[tuple[str, int, int]], *, title: str, ok_label: str, bad_label: str
) -> SafeString:
    """Stacked bars per hour: (hour label, successes, failures), oldest first."""
    height, top, bottom, left = 200, 16, 30, 34
    inner_w, inner_h = WIDTH - left - 8, height - top - bottom
    peak = _nice_max(max((ok + bad for _, ok, bad in hours), default=0))
    slot = inner_w / max(len(hours), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        'aria-labelledby="chart-hours-title">'
        f'<title id="chart-hours-title">{escape(title)}</title>',
        f'<line class="axis" x1="{left}" y1="{top + inner_h}" x2="{WIDTH - 8}" '
        f'y2="{top + inner_h}"/>',
        f'<text class="tick" x="{left - 4}" y="{top + 4}" text-anchor="end">{peak}</text>',
        f'<text class="tick" x="{left - 4}" y="{top + inner_h}" text-anchor="end">0</text>',
    ]
    for index, (label, ok, bad) in enumerate(hours):
        x = left + index * slot + slot * 0.15
        w = slot * 0.7
        ok_h = inner_h * ok / peak
        bad_h = inner_h * bad / peak
        base = top + inner_h
        tip = f"{label}: {ok_label} {ok}, {bad_label} {bad}"
        parts.append(f"<g><title>{escape(tip)}</title>")
        if ok:
            parts.append(
                f'<rect class="ok" x="{x:.1f}" y="{base - ok_h:.1f}" width="{w:.1f}" '
                f'height="{ok_h:.1f}"/>'
            )
        if bad:
            parts.append(
                f'<rect class="bad" x="{x:.1f}" y="{base - ok_h - bad_h:.1f}" width="{w:.1f}" '
                f'height="{bad_h:.1f}"/>'
            )
        parts.append("</g>")
        if index % 3 == 0:
            parts.append(
                f'<text class="tick" x="{x + w / 2:.1f}" y="{height - 12}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece of text above is escaped


def horizontal_bars(
    rows: Sequence[tuple[str, int, int]], *, title: str, chart_id: str, second: bool = False
) -> SafeString:
    """One bar per row: (label, value, second value); the second (refused) stacks on the first."""
    height = max(len(rows), 1) * ROW + 10
    peak = _nice_max(max((a + b for _, a, b in rows), default=0))
    inner = WIDTH - LABEL_WIDTH - 50
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title"><title id="{chart_id}-title">{escape(title)}</title>'
    ]
    for index, (label, value, other) in enumerate(rows):
        y = 5 + index * ROW
        first_w = inner * value / peak
        other_w = inner * other / peak
        parts.append(
            f'<text class="label" x="{LABEL_WIDTH - 6}" y="{y + 16}" text-anchor="end">'
            f"{escape(_short(label))}</text>"
        )
        parts.append(
            f'<rect class="ok" x="{LABEL_WIDTH}" y="{y + 4}" width="{first_w:.1f}" height="16"/>'
        )
        if second and other:
            parts.append(
                f'<rect class="bad" x="{LABEL_WIDTH + first_w:.1f}" y="{y + 4}" '
                f'width="{other_w:.1f}" height="16"/>'
            )
        total = f"{value} / {other}" if second else str(value)
        parts.append(
            f'<text class="value" x="{LABEL_WIDTH + first_w + other_w + 4:.1f}" y="{y + 16}">'
            f"{escape(total)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece of text above is escaped
