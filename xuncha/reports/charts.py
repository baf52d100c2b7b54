"""Inline SVG charts for the report pages: no script, no download, labels escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def bars_svg(items: Sequence[tuple[str, float, str]], title: str, colour: str = "#2f6f9f") -> str:
    """Horizontal bars: (label, value, text shown after the bar) per row, longest bar = largest value."""
    bar_h, gap, label_w, bar_w, text_w = 20, 6, 200, 360, 150
    top = max((v for _, v, _ in items), default=0) or 1
    height = max(1, len(items)) * (bar_h + gap) + gap + 20
    width = label_w + bar_w + text_w
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg"><text x="4" y="14">{escape(title)}</text>'
    ]
    for i, (label, value, text) in enumerate(items):
        y = 20 + gap + i * (bar_h + gap)
        w = round(bar_w * value / top, 1)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(label[:22])}</text>'
            f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="{bar_h}" fill="#eef1f5"/>'
            f'<rect class="bar" x="{label_w}" y="{y}" width="{w}" height="{bar_h}" fill="{colour}"/>'
            f'<text x="{label_w + bar_w + 8}" y="{y + 15}">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def hours_svg(counts: Sequence[int], title: str) -> str:
    """24 columns, one per local hour of the day."""
    width, height, pad = 720, 200, 28
    top = max(counts, default=0) or 1
    step = (width - 2 * pad) / 24
    plot_h = height - 2 * pad
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" width="{width}"'
        f' height="{height}" xmlns="http://www.w3.org/2000/svg"><text x="{pad}" y="16">{escape(title)}'
        f"（最多 {top}）</text>"
    ]
    for h, n in enumerate(counts):
        bh = plot_h * n / top
        x = pad + h * step
        parts.append(
            f'<rect class="bar" x="{x + step * 0.15:.1f}" y="{height - pad - bh:.1f}" width="{step * 0.7:.1f}"'
            f' height="{bh:.1f}" fill="#c0392b"><title>{h} 时：{n}</title></rect>'
            f'<text x="{x + step / 2:.1f}" y="{height - 10}" text-anchor="middle">{h}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
