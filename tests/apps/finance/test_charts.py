"""Charts are well-formed, self-contained SVG 1.1 with the expected bars, lines and labels, and fpdf2 draws them."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET

from fpdf import FPDF
from pypdf import PdfReader

from apps.finance.analytics import DcfInputs, FactSet, compute_facts, dcf_sensitivity
from apps.finance.charts import revenue_margin_chart, sensitivity_chart
from tests.apps.finance.finance_examples import roundco

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg.encode())
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("version") == "1.1"
    assert root.get("viewBox") and root.get("width") and root.get("height")
    # self-contained: no scripts, no links, no external references
    for el in root.iter():
        assert not el.tag.endswith(("script", "foreignObject", "image", "use", "style")), el.tag
        assert not any("href" in name or name.startswith("on") for name in el.attrib), el.attrib
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]


def by_id(root: ET.Element, ident: str) -> ET.Element | None:
    return next((el for el in root.iter() if el.get("id") == ident), None)


def test_revenue_margin_chart_bars_lines_and_labels():
    root = parse(revenue_margin_chart(compute_facts(roundco())))
    bars = {y: by_id(root, f"bar-{y}") for y in (2022, 2023, 2024)}
    assert all(bar is not None for bar in bars.values())
    heights = {y: float(bar.get("height")) for y, bar in bars.items()}
    # 800 : 1000 : 1210, bars from one baseline
    assert heights[2022] < heights[2023] < heights[2024]
    assert abs(heights[2024] / heights[2022] - 1210 / 800) < 0.01
    labels = texts(root)
    for label in ("FY2022", "FY2023", "FY2024", "800.0m", "1,000.0m", "1,210.0m", "Revenue", "Gross margin",
                  "Operating margin", "Net margin", "Revenue (USD) and margins"):
        assert label in labels
    # three margin lines through three years each
    for key in ("gross_margin", "operating_margin", "net_margin"):
        line = by_id(root, f"line-{key}-0")
        assert line is not None and len(line.get("points").split()) == 3
    # gross margin is 40% every year: a flat line above the operating margin line (SVG y grows downward)
    gross = [float(p.split(",")[1]) for p in by_id(root, "line-gross_margin-0").get("points").split()]
    operating = [float(p.split(",")[1]) for p in by_id(root, "line-operating_margin-0").get("points").split()]
    assert len(set(gross)) == 1 and all(g < o for g, o in zip(gross, operating, strict=True))


def test_revenue_chart_with_missing_and_degenerate_years():
    facts = compute_facts(roundco(overrides={("revenue", 2023): None}))
    root = parse(revenue_margin_chart(facts))
    assert by_id(root, "bar-2023") is None and "n/a" in texts(root)
    assert by_id(root, "line-gross_margin-0") is None  # one point each side of the gap: no segment
    empty = parse(revenue_margin_chart(FactSet()))
    assert by_id(empty, "empty") is not None


def test_sensitivity_chart_cells_values_and_base():
    grid = dcf_sensitivity(roundco(), DcfInputs(wacc=0.09, terminal_growth=0.025),
                           wacc_values=[0.02, 0.09, 0.10], growth_values=[0.02, 0.025, 0.03])
    root = parse(sensitivity_chart(grid, currency="USD"))
    cells = [by_id(root, f"cell-{i}-{j}") for i in range(3) for j in range(3)]
    assert all(c is not None for c in cells)
    labels = texts(root)
    for label in ("9.0%", "10.0%", "2.5%", f"{grid.values[1][1]:,.2f}", f"{grid.values[2][0]:,.2f}"):
        assert label in labels
    assert labels.count("n/a") == 3  # WACC 2% is not above any terminal growth
    assert by_id(root, "cell-0-0").get("fill") == "#dddddd"
    assert by_id(root, "base-cell") is not None
    # above the base value greener, below redder
    assert by_id(root, "cell-1-1").get("fill") == "#ffffff"
    high, low = by_id(root, "cell-1-2").get("fill"), by_id(root, "cell-2-0").get("fill")
    assert int(high[3:5], 16) > int(high[1:3], 16)  # more green than red
    assert int(low[1:3], 16) > int(low[3:5], 16)  # more red than green


def test_both_charts_render_through_fpdf2():
    facts = compute_facts(roundco())
    grid = dcf_sensitivity(roundco(), DcfInputs(), wacc_values=[0.08, 0.09], growth_values=[0.02, 0.03])
    pdf = FPDF()
    pdf.add_page()
    pdf.image(io.BytesIO(revenue_margin_chart(facts).encode()), w=pdf.epw)
    pdf.image(io.BytesIO(sensitivity_chart(grid).encode()), w=pdf.epw * 0.6)
    reader = PdfReader(io.BytesIO(bytes(pdf.output())))
    text = reader.pages[0].extract_text()
    assert "FY2024" in text and "Operating margin" in text and "1,210.0m" in text and "Terminal growth" in text
    content = reader.pages[0].get_contents().get_data().decode("latin-1")
    assert content.count(" re") >= 3 + 4  # the bars and the cells are drawn as rectangles


def test_sensitivity_chart_of_a_grid_stored_as_json():
    """The report app stores the grid as JSON and rebuilds it without the base inputs."""
    from apps.finance.analytics import SensitivityGrid

    grid = SensitivityGrid(wacc_values=[0.08, 0.09], growth_values=[0.02, 0.03],
                           values=[[12.0, 14.0], [10.0, None]], reasons={"1,1": "no"})
    root = parse(sensitivity_chart(grid))
    assert by_id(root, "base-cell") is None
    assert texts(root).count("n/a") == 1 and "14.00" in texts(root)
    # the median value (12.00) is the colour scale's middle
    assert by_id(root, "cell-0-0").get("fill") == "#ffffff"


def test_random_statements_chart_to_finite_svg():
    import random

    from apps.finance.analytics import FinancialPeriod
    from apps.finance.analytics.statements import LINE_ITEMS

    rng = random.Random(11)
    choices = [None, 0, -1e6, 1e6, 5e8, -3e9, 1e15, 1e-3, 1e300]
    for _ in range(100):
        periods = [FinancialPeriod(y, "EUR", {k: rng.choice(choices) for k in LINE_ITEMS})
                   for y in rng.sample(range(2015, 2026), rng.randint(0, 6))]
        for svg in (revenue_margin_chart(compute_facts(periods)),
                    sensitivity_chart(dcf_sensitivity(periods, DcfInputs(revenue_growth=0.05, fcf_margin=0.1),
                                                      wacc_values=[0.05, 0.09], growth_values=[0.0, 0.03]))):
            parse(svg)
            assert "nan" not in svg.lower().replace("margin", "") and "inf" not in svg.lower()


def test_dual_axes_share_zero_and_grid_lines():
    from apps.finance.charts import dual_ticks

    for revenue, margins in (((0, 1355), (0, 0.44)), ((0, 1355), (-0.385, 0.44)), ((-100, 1000), (0, 0.44)),
                             ((0, 5e9), (-2.0, 0.1)), ((-5, -1), (-0.2, -0.1))):
        r, m = dual_ticks(revenue, margins)
        assert len(r) == len(m) and r.index(0) == m.index(0)  # zero at the same height
        assert r[0] <= revenue[0] and r[-1] >= revenue[1] and m[0] <= margins[0] and m[-1] >= margins[1]
        assert r[-1] <= 2.5 * max(abs(revenue[0]), abs(revenue[1]))  # not squashed
    assert dual_ticks((0, 1355), (0, 0.44)) == ([0, 250, 500, 750, 1000, 1250, 1500],
                                               [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])


def test_margin_axis_below_zero_lines_up_with_revenue_zero():
    facts = compute_facts(roundco(overrides={("operating_income", 2023): -300, ("net_income", 2023): -350}))
    root = parse(revenue_margin_chart(facts))
    labels = texts(root)
    assert "0m" in labels and "0%" in labels and any(t.startswith("-") and t.endswith("%") for t in labels)
    zero_r = next(t for t in root.iter("{http://www.w3.org/2000/svg}text") if t.text == "0m")
    zero_m = next(t for t in root.iter("{http://www.w3.org/2000/svg}text") if t.text == "0%")
    assert zero_r.get("y") == zero_m.get("y")
