"""Charts of a report as self-contained SVG 1.1 (no scripts, no external references, no CSS classes), so
that browsers show them inline and fpdf2 draws them into the PDF as vectors.

revenue_margin_chart: revenue bars (left axis) with gross, operating and net margin lines (right axis).
sensitivity_chart: a heat table of DCF value per share by WACC (rows) and terminal growth (columns).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from apps.finance.analytics import FactSet, SensitivityGrid
from apps.finance.analytics.facts import format_amount

FONT = "Helvetica, Arial, sans-serif"
BAR = "#4c78a8"
MARGIN_LINES = (("gross_margin", "Gross margin", "#f58518"), ("operating_margin", "Operating margin", "#54a24b"),
                ("net_margin", "Net margin", "#e45756"))


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, content: str, *, size: int = 11, anchor: str = "start", weight: str = "normal",
          fill: str = "#222222", id: str | None = None) -> str:
    ident = f" id={quoteattr(id)}" if id else ""
    return (f'<text{ident} x="{_num(x)}" y="{_num(y)}" font-family="{FONT}" font-size="{size}" '
            f'text-anchor="{anchor}" font-weight="{weight}" fill="{fill}">{escape(content)}</text>')


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        *body,
        "</svg>",
    ])


def _nice_up(x: float) -> float:
    """The smallest round step (1, 2, 2.5 or 5 x 10^k) at least x."""
    power = 10 ** math.floor(math.log10(x))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= x * (1 - 1e-12))


def dual_ticks(a: tuple[float, float], b: tuple[float, float]) -> tuple[list[float], list[float]]:
    """Ticks for two axes side by side, each covering its (lo, hi) with round steps, with zero and every grid
    line at the same height on both: the same number of steps below and above zero on each axis (4 to 7 steps,
    whichever wastes least height)."""
    need_below = any(lo < 0 for lo, _ in (a, b))
    need_above = any(hi > 0 for _, hi in (a, b))
    best: tuple[float, list[float], list[float]] | None = None
    for intervals, below in ((n, k) for n in range(4, 8) for k in range(0, n + 1)):
        above = intervals - below
        if (need_below and below == 0) or (need_above and above == 0):
            continue
        ticks, waste = [], 0.0
        for lo, hi in (a, b):
            step = _nice_up(max(hi / above if above else 0.0, -lo / below if below else 0.0, 1e-300))
            ticks.append([round(step * k, 12) for k in range(-below, above + 1)])
            waste += step * intervals / max(hi - lo, 1e-300) + 0.02 * intervals  # fewer lines on a tie
        if best is None or waste < best[0]:
            best = (waste, ticks[0], ticks[1])
    assert best is not None
    return best[1], best[2]


def _amount_tick(value: float, top: float) -> str:
    if top >= 1e6:
        return f"{value / 1e6:,.0f}m" if top >= 1e7 else f"{value / 1e6:,.1f}m"
    return f"{value:,.0f}"


def revenue_margin_chart(facts: FactSet, *, width: int = 640, height: int = 360) -> str:
    years = facts.years()
    revenue = {y: v for y, v in facts.series("revenue") if v is not None}
    margins = {key: {y: v for y, v in facts.series(key) if v is not None} for key, _, _ in MARGIN_LINES}
    currency = facts.currency or ""
    title = f"Revenue ({currency}) and margins" if currency else "Revenue and margins"
    if not years or (not revenue and not any(margins.values())):
        return _svg(width, height, title, [_text(width / 2, height / 2, "No revenue or margin data to chart",
                                                 size=13, anchor="middle", id="empty")])
    left, right, top, bottom = 72, 60, 56, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    # headroom above the tallest bar and the highest margin for the value labels
    all_m = [v for series in margins.values() for v in series.values()]
    r_ticks, m_ticks = dual_ticks(
        (min(0.0, *revenue.values()) * 1.1 if revenue else 0.0, max(1.0, *revenue.values()) * 1.12 if revenue else 1.0),
        (min(0.0, *all_m) * 1.1 if all_m else 0.0, max(0.01, *all_m) * 1.1 if all_m else 0.01))
    r_lo, r_hi = r_ticks[0], r_ticks[-1]
    m_lo, m_hi = m_ticks[0], m_ticks[-1]

    def ry(v: float) -> float:
        return top + plot_h * (1 - (v - r_lo) / (r_hi - r_lo))

    def my(v: float) -> float:
        return top + plot_h * (1 - (v - m_lo) / (m_hi - m_lo))

    slot = plot_w / len(years)
    cx = {y: left + slot * (i + 0.5) for i, y in enumerate(years)}
    body = [_text(left, 20, title, size=14, weight="bold")]
    # legend
    lx = left
    body.append(f'<rect x="{lx}" y="30" width="12" height="12" fill="{BAR}"/>')
    body.append(_text(lx + 16, 40, "Revenue", size=11))
    lx += 80
    for _key, label, color in MARGIN_LINES:
        body.append(f'<line x1="{lx}" y1="36" x2="{lx + 16}" y2="36" stroke="{color}" stroke-width="2.5"/>')
        body.append(_text(lx + 20, 40, label, size=11))
        lx += 28 + 7 * len(label)
    # grid and axes
    for t in r_ticks:
        y = ry(t)
        body.append(f'<line x1="{left}" y1="{_num(y)}" x2="{left + plot_w}" y2="{_num(y)}" stroke="#e0e0e0" '
                    f'stroke-width="1"/>')
        body.append(_text(left - 6, y + 4, _amount_tick(t, r_hi), size=10, anchor="end", fill="#555555"))
    m_step = (m_ticks[1] - m_ticks[0]) * 100 if len(m_ticks) > 1 else 1.0
    m_decimals = max(0, -math.floor(math.log10(m_step) + 1e-9)) if 0 < m_step < 1 else 0
    for t in m_ticks:
        body.append(_text(left + plot_w + 6, my(t) + 4, f"{t * 100:.{m_decimals}f}%", size=10, fill="#555555"))
    body.append(f'<line x1="{left}" y1="{_num(ry(0))}" x2="{left + plot_w}" y2="{_num(ry(0))}" stroke="#555555" '
                f'stroke-width="1"/>')
    body.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#555555" stroke-width="1"/>')
    body.append(f'<line x1="{left + plot_w}" y1="{top}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#555555" '
                f'stroke-width="1"/>')
    # revenue bars with their values
    bar_w = min(56.0, slot * 0.6)
    for year in years:
        body.append(_text(cx[year], top + plot_h + 18, f"FY{year}", size=11, anchor="middle"))
        if year not in revenue:
            body.append(_text(cx[year], ry(0) - 6, "n/a", size=10, anchor="middle", fill="#888888"))
            continue
        v = revenue[year]
        y0, y1 = sorted((ry(0), ry(v)))
        body.append(f'<rect id="bar-{year}" x="{_num(cx[year] - bar_w / 2)}" y="{_num(y0)}" width="{_num(bar_w)}" '
                    f'height="{_num(max(y1 - y0, 0.5))}" fill="{BAR}"/>')
        body.append(_text(cx[year], (y0 - 4) if v >= 0 else (y1 + 12), format_amount(v), size=10, anchor="middle",
                          id=f"bar-label-{year}"))
    # margin lines (broken where a year is missing)
    for key, _label, color in MARGIN_LINES:
        series = margins[key]
        run: list[str] = []
        runs: list[list[str]] = []
        for year in years:
            if year in series:
                run.append(f"{_num(cx[year])},{_num(my(series[year]))}")
            elif run:
                runs.append(run)
                run = []
        if run:
            runs.append(run)
        for i, points in enumerate(runs):
            if len(points) > 1:
                body.append(f'<polyline id="line-{key}-{i}" points="{" ".join(points)}" fill="none" '
                            f'stroke="{color}" stroke-width="2.5"/>')
        for year in years:
            if year in series:
                body.append(f'<circle cx="{_num(cx[year])}" cy="{_num(my(series[year]))}" r="3.5" fill="{color}"/>')
    return _svg(width, height, title, body)


def _heat(value: float, base: float) -> str:
    """White at the base value, towards green above it and red below it (full colour at +-30%)."""
    t = max(-1.0, min(1.0, (value / base - 1) / 0.3)) if base > 0 else 0.0
    target = (26, 152, 80) if t > 0 else (215, 48, 39)
    r, g, b = (round(255 + (c - 255) * abs(t) * 0.8) for c in target)
    return f"#{r:02x}{g:02x}{b:02x}"


def sensitivity_chart(grid: SensitivityGrid, *, currency: str = "") -> str:
    waccs: Sequence[float] = list(grid.wacc_values)
    growths: Sequence[float] = list(grid.growth_values)
    cell_w, cell_h, head_w, head_h, top = 84, 30, 96, 30, 52
    width = head_w + cell_w * max(1, len(growths)) + 20
    height = top + head_h + cell_h * max(1, len(waccs)) + 34
    title = f"DCF value per share{f' ({currency})' if currency else ''}: WACC by terminal growth"
    body = [_text(10, 20, title, size=14, weight="bold"),
            _text(head_w + cell_w * len(growths) / 2, top - 8, "Terminal growth", size=11, anchor="middle",
                  weight="bold"),
            _text(10, top + head_h - 10, "WACC", size=11, weight="bold")]
    base_i = next((i for i, w in enumerate(waccs) if grid.base_wacc is not None
                   and abs(w - grid.base_wacc) < 1e-9), None)
    base_j = next((j for j, g in enumerate(growths) if grid.base_growth is not None
                   and abs(g - grid.base_growth) < 1e-9), None)
    present = [v for row in grid.values for v in row if v is not None]
    if base_i is not None and base_j is not None and grid.values[base_i][base_j] is not None:
        base = grid.values[base_i][base_j]
    else:
        base = sorted(present)[len(present) // 2] if present else 0.0
    for j, g in enumerate(growths):
        body.append(_text(head_w + cell_w * (j + 0.5), top + head_h - 10, f"{g:.1%}", size=11, anchor="middle",
                          weight="bold"))
    for i, w in enumerate(waccs):
        y = top + head_h + cell_h * i
        body.append(_text(head_w - 10, y + cell_h / 2 + 4, f"{w:.1%}", size=11, anchor="end", weight="bold"))
        for j, _g in enumerate(growths):
            value = grid.values[i][j] if i < len(grid.values) and j < len(grid.values[i]) else None
            x = head_w + cell_w * j
            fill = _heat(value, base) if value is not None else "#dddddd"
            body.append(f'<rect id="cell-{i}-{j}" x="{x}" y="{y}" width="{cell_w}" height="{cell_h}" fill="{fill}" '
                        f'stroke="#ffffff" stroke-width="1"/>')
            body.append(_text(x + cell_w / 2, y + cell_h / 2 + 4, f"{value:,.2f}" if value is not None else "n/a",
                              size=11, anchor="middle", fill="#222222" if value is not None else "#666666",
                              weight="bold" if (i, j) == (base_i, base_j) else "normal"))
    if base_i is not None and base_j is not None:
        body.append(f'<rect id="base-cell" x="{head_w + cell_w * base_j + 1}" y="{top + head_h + cell_h * base_i + 1}" '
                    f'width="{cell_w - 2}" height="{cell_h - 2}" fill="none" stroke="#222222" stroke-width="2"/>')
    note = ("Bold: the report's inputs. " if base_i is not None and base_j is not None else "") + \
        "n/a: WACC not above terminal growth, or no positive equity value."
    body.append(_text(10, height - 12, note, size=10, fill="#555555"))
    return _svg(width, height, title, body)
