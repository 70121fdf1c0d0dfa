"""A report chart drawn on the server as SVG: one line per staff member or service, average
score (0-100) per week or month. Presentation attributes only (the CSP allows no inline style),
no script; the page shows the same figures as a table for screen readers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from xml.sax.saxutils import escape, quoteattr

from quality.reports import ReportRow

WIDTH, HEIGHT = 900, 360
LEFT, RIGHT, TOP, BOTTOM = 48, 190, 16, 44
# Okabe-Ito: distinguishable with the common colour-vision deficiencies
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
MAX_LINES = len(PALETTE)


def chart(rows: Sequence[ReportRow], period: str) -> str:
    periods = sorted({r.period_start for r in rows})
    groups: dict[str, dict[date, float]] = {}
    for r in rows:
        if r.average_score is not None:
            groups.setdefault(r.group or "(none)", {})[r.period_start] = r.average_score
    shown = sorted(groups)[:MAX_LINES]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(d: date) -> float:
        i = periods.index(d)
        return LEFT + (plot_w / 2 if len(periods) == 1 else plot_w * i / (len(periods) - 1))

    def y(score: float) -> float:
        return TOP + plot_h * (1 - score / 100)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" font-family="sans-serif" font-size="12">',
        f"<title>Average QA score per {escape(period)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    for tick in range(0, 101, 25):
        ty = y(tick)
        out.append(
            f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{LEFT + plot_w}" y2="{ty:.1f}" '
            'stroke="#dddddd" stroke-width="1"/>'
        )
        out.append(f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">{tick}</text>')
    step = max(1, len(periods) // 10)
    for i, d in enumerate(periods):
        if i % step == 0:
            label = d.strftime("%d %b") if period == "week" else d.strftime("%b %Y")
            out.append(
                f'<text x="{x(d):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    if not shown:
        out.append(
            f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle">'
            "No scored evaluations in this period</text>"
        )
    for n, name in enumerate(shown):
        colour = PALETTE[n]
        pts = sorted(groups[name].items())
        path = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in pts)
        if len(pts) > 1:
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>'
            )
        for d, v in pts:
            out.append(
                f'<circle cx="{x(d):.1f}" cy="{y(v):.1f}" r="4" fill="{colour}">'
                f"<title>{escape(name)}, {d.isoformat()}: {v:.1f}</title></circle>"
            )
        ly = TOP + 14 + n * 20
        lx = WIDTH - RIGHT + 16
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="12" height="12" fill="{colour}"/>')
        label = name if len(name) <= 22 else name[:21] + "…"
        out.append(f'<text x={quoteattr(str(lx + 18))} y="{ly + 1}">{escape(label)}</text>')
    if len(groups) > MAX_LINES:
        out.append(
            f'<text x="{WIDTH - RIGHT + 16}" y="{TOP + 14 + MAX_LINES * 20}">'
            f"+{len(groups) - MAX_LINES} more (see the table)</text>"
        )
    out.append("</svg>")
    return "\n".join(out)
