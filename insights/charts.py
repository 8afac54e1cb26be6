"""Server-rendered inline SVG charts for the dashboard: no CDN, no JavaScript, crisp at any zoom."""

import datetime as dt
import math
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#db2777")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _short(value: float) -> str:
    if value >= 10_000:
        return f"{value / 10_000:.1f}万".replace(".0万", "万")
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def line_chart(
    *, days: list[dt.date], series: list[tuple[str, list[Decimal | int]]], width: int = 760, height: int = 240
) -> SafeString:
    """Trend lines over days, one per (label, values); the y axis is shared and starts at zero."""
    left, right, top, bottom = 56, 16, 28, 32
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = _nice_max(max((float(v) for _, values in series for v in values), default=0))
    if all(isinstance(v, int) for _, values in series for v in values):
        # Counts: five gridlines at whole numbers, never "0.4 customers".
        peak = max(5, math.ceil(peak / 5) * 5)
    step = plot_w / max(len(days) - 1, 1)

    def point(i: int, v) -> str:
        return f"{left + i * step:.1f},{top + plot_h - float(v) / peak * plot_h:.1f}"

    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/>'
        '<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>',
        (
            (left, width - right, y, y, left - 6, y + 4, _short(peak * k / 5))
            for k in range(6)
            for y in [round(top + plot_h - plot_h * k / 5, 1)]
        ),
    )
    every = max(1, len(days) // 8)
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" class="tick" text-anchor="middle">{}</text>',
        ((round(left + i * step, 1), height - 10, f"{d:%m-%d}") for i, d in enumerate(days) if i % every == 0),
    )
    lines = format_html_join(
        "",
        '<polyline points="{}" fill="none" stroke="{}" stroke-width="2.5" stroke-linejoin="round"/>'
        '<rect x="{}" y="8" width="12" height="12" rx="2" fill="{}"/><text x="{}" y="18" class="legend">{}</text>',
        (
            (
                " ".join(point(i, v) for i, v in enumerate(values)),
                PALETTE[n % 4],
                left + n * 130,
                PALETTE[n % 4],
                left + n * 130 + 16,
                label,
            )
            for n, (label, values) in enumerate(series)
        ),
    )
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" xmlns="http://www.w3.org/2000/svg">'
        '{}<g class="days">{}</g>{}</svg>',
        width,
        height,
        grid,
        labels,
        lines,
    )


def funnel(*, steps: list[tuple[str, int | Decimal]], width: int = 360) -> SafeString:
    """A funnel: one bar per step, widths proportional to the first, with each step's rate from the previous."""
    bar_h, gap = 34, 10
    height = len(steps) * (bar_h + gap)
    if not steps or float(steps[0][1]) <= 0:
        return format_html(
            '<svg class="funnel" viewBox="0 0 {} {}" role="img" xmlns="http://www.w3.org/2000/svg">'
            '<rect width="{}" height="{}" rx="4" fill="#f3f4f6"/>'
            '<text x="{}" y="{}" class="funnel-empty" text-anchor="middle">暂无数据</text></svg>',
            width,
            bar_h,
            width,
            bar_h,
            width / 2,
            bar_h / 2 + 5,
        )
    first = float(steps[0][1]) if steps and float(steps[0][1]) > 0 else 1.0
    rows = []
    previous = None
    for i, (label, value) in enumerate(steps):
        bar_w = max(4.0, (width - 8) * min(float(value) / first, 1.0))
        x = (width - bar_w) / 2
        y = i * (bar_h + gap)
        rate = ""
        if previous is not None:
            rate = f" · {float(value) / previous:.0%}" if previous else " · —"
        rows.append(
            format_html(
                '<rect x="0" y="{}" width="{}" height="{}" rx="4" fill="#f3f4f6"/>'
                '<rect x="{}" y="{}" width="{}" height="{}" rx="4" fill="{}"/>'
                '<text x="{}" y="{}" class="funnel-label" text-anchor="middle">{} {}{}</text>',
                y,
                width,
                bar_h,
                round(x, 1),
                y,
                round(bar_w, 1),
                bar_h,
                PALETTE[i % 4],
                width / 2,
                y + bar_h / 2 + 5,
                label,
                _short(float(value)),
                rate,
            )
        )
        previous = float(value)
    return format_html(
        '<svg class="funnel" viewBox="0 0 {} {}" role="img" xmlns="http://www.w3.org/2000/svg">{}</svg>',
        width,
        height,
        mark_safe("".join(rows)),  # each row was built by format_html
    )
