"""Pages over time as an inline SVG bar chart, drawn on the server (no script, no library)."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT, PAD = 720, 160, 24


def bar_chart(points: list[tuple[str, int]]) -> str:
    """One bar per ``(label, count)``; styled by viewer.css (``.chart``)."""
    if not points:
        return '<p class="muted">No pages yet.</p>'
    top = max(count for _, count in points) or 1
    step = (WIDTH - 2 * PAD) / len(points)
    bar = max(1.0, step * 0.8)
    bars = []
    for index, (label, count) in enumerate(points):
        height = (HEIGHT - 2 * PAD) * count / top
        x = PAD + index * step
        y = HEIGHT - PAD - height
        bars.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}">'
                    f"<title>{escape(label)}: {count} pages</title></rect>")
    first, last = escape(points[0][0]), escape(points[-1][0])
    return (f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="pages per day">'
            f'<line class="axis" x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}"/>'
            f'{"".join(bars)}'
            f'<text class="label" x="{PAD}" y="{HEIGHT - 6}">{first}</text>'
            f'<text class="label end" x="{WIDTH - PAD}" y="{HEIGHT - 6}">{last}</text>'
            f'<text class="label" x="{PAD}" y="14">{top} pages/day</text></svg>')
