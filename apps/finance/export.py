"""Export of a research report to Markdown and PDF (fpdf2), charts included.

The document is plain data (ReportDocument); the report app builds it from a report's current section
versions, tables, charts and provenance. Section bodies are light Markdown: paragraphs, "- " bullets,
"1. " lists, "### " sub-headings, **bold**, _italic_; "[[unverified: ...]]" grounding marks print in red.
"""
from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace


@dataclass
class DocSection:
    heading: str
    markdown_body: str
    flags: list[str] = field(default_factory=list)


@dataclass
class DocTable:
    title: str
    columns: list[str]
    rows: list[list[str]]


@dataclass
class DocChart:
    title: str
    svg: str


@dataclass
class ReportDocument:
    title: str
    company_name: str
    subtitle: str = ""
    sections: list[DocSection] = field(default_factory=list)
    tables: list[DocTable] = field(default_factory=list)
    charts: list[DocChart] = field(default_factory=list)
    provenance: dict[str, str] = field(default_factory=dict)
    disclaimer: str = ""


# --- Markdown ---------------------------------------------------------------------------------------------
def _cell(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def _pipe_table(columns: list[str], rows: list[list[str]]) -> list[str]:
    width = len(columns)
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "|".join(["---"] * width) + "|"]
    for row in rows:
        cells = [_cell(c) for c in list(row)[:width]] + [""] * max(0, width - len(row))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def render_markdown(doc: ReportDocument) -> str:
    out = [f"# {doc.title}", "", f"**{doc.company_name}**" + (f" \u2014 {doc.subtitle}" if doc.subtitle else ""), ""]
    for section in doc.sections:
        out += [f"## {section.heading}", ""]
        for flag in section.flags:
            out.append(f"> **Unverified:** {flag}")
        if section.flags:
            out.append("")
        out += [section.markdown_body.strip(), ""]
    for table in doc.tables:
        out += [f"## {table.title}", "", *_pipe_table(table.columns, table.rows), ""]
    for chart in doc.charts:
        alt = chart.title.replace("[", "(").replace("]", ")")
        out += [f"## {chart.title}", "", f"![{alt}]({_svg_data_uri(chart.svg)})", ""]
    if doc.provenance:
        out += ["## Provenance", "", *_pipe_table(["Item", "Value"], [[k, v] for k, v in doc.provenance.items()]), ""]
    if doc.disclaimer:
        out += ["---", "", f"_{doc.disclaimer.strip()}_", ""]
    return "\n".join(out)


# --- PDF --------------------------------------------------------------------------------------------------
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts/dejavu")
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf",
              "BI": "DejaVuSans-BoldOblique.ttf"}
_LATIN1 = str.maketrans({"\u2014": "-", "\u2013": "-", "\u2212": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"',
                         "\u201d": '"', "\u2026": "...", "\u2022": "*", "\u00a0": " ", "\u2264": "<=", "\u2265": ">=",
                         "\u20ac": "EUR ", "\u2192": "->"})
RED = (180, 20, 20)
INK = (30, 30, 30)
MUTED = (90, 90, 90)
_INLINE = re.compile(r"\*\*(.+?)\*\*|(?<![\w*])[_*](?![_*\s])(.+?)(?<![\s_*])[_*](?![\w*])|\[\[(.+?)\]\]")


def _font_dir() -> Path | None:
    for d in FONT_DIRS:
        if all((Path(d) / f).exists() for f in FONT_FILES.values()):
            return Path(d)
    return None


class _Pdf(FPDF):
    def __init__(self, doc: ReportDocument):
        super().__init__(format="A4")
        self.doc = doc
        font_dir = _font_dir()
        if font_dir is not None:
            for style, name in FONT_FILES.items():
                self.add_font("dejavu", style, str(font_dir / name))
            self.family, self.unicode = "dejavu", True
        else:
            self.family, self.unicode = "helvetica", False  # core font: Latin-1 text only
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(True, margin=18)
        self.alias_nb_pages()
        self.set_title(self.t(doc.title))
        self.set_subject(self.t(doc.company_name))
        self.set_author("Plumbline")
        self.set_creator("Plumbline finance export (fpdf2)")

    def t(self, text: str) -> str:
        """Text the current fonts can print."""
        text = text.replace("\t", "    ")
        if self.unicode:
            return text
        return text.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")

    def font(self, style: str = "", size: float = 10, color: tuple[int, int, int] = INK) -> None:
        self.set_font(self.family, style, size)
        self.set_text_color(*color)

    def footer(self) -> None:
        self.set_y(-12)
        self.font("", 8, MUTED)
        self.cell(0, 6, self.t(f"{self.doc.company_name} \u2014 {self.doc.title}"), align="L")
        self.set_x(self.l_margin)
        self.cell(0, 6, f"Page {self.page_no()}/{{nb}}", align="R")

    # blocks
    def heading(self, text: str, size: float = 14) -> None:
        if self.get_y() > self.h - self.b_margin - 30:
            self.add_page()
        self.ln(3)
        self.font("B", size)
        self.multi_cell(0, size * 0.5, self.t(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1.5)

    def rich(self, text: str, size: float = 10, base_style: str = "") -> None:
        """One paragraph with **bold**, _italic_ and red [[grounding marks]], wrapped."""
        h = size * 0.5
        pos = 0
        for m in _INLINE.finditer(text):
            self._write(text[pos:m.start()], base_style, size, INK, h)
            if m.group(1) is not None:
                self._write(m.group(1), "B", size, INK, h)
            elif m.group(2) is not None:
                self._write(m.group(2), "I", size, INK, h)
            else:
                self._write(f"[{m.group(3)}]", "B", size, RED, h)
            pos = m.end()
        self._write(text[pos:], base_style, size, INK, h)
        self.ln(h)

    def _write(self, text: str, style: str, size: float, color: tuple[int, int, int], h: float) -> None:
        if text:
            self.font(style, size, color)
            self.write(h, self.t(text))

    def markdown(self, body: str) -> None:
        for block in re.split(r"\n\s*\n", body.strip()):
            lines = [ln.rstrip() for ln in block.splitlines() if ln.strip()]
            paragraph: list[str] = []
            for line in lines:
                stripped = line.strip()
                bullet = re.match(r"^([-*+]|\d+[.)])\s+(.*)$", stripped)
                if stripped.startswith("#"):
                    self._flush(paragraph)
                    self.heading(stripped.lstrip("#").strip(), size=11.5)
                elif bullet:
                    self._flush(paragraph)
                    marker = "\u2022" if bullet.group(1) in "-*+" else bullet.group(1)
                    self.set_x(self.l_margin + 4)
                    self.font("", 10)
                    self.write(5, self.t(marker + " "))
                    self.rich(bullet.group(2))
                else:
                    paragraph.append(stripped)
            self._flush(paragraph)
            self.ln(2)

    def _flush(self, paragraph: list[str]) -> None:
        if paragraph:
            self.rich(" ".join(paragraph))
            paragraph.clear()

    def flags(self, flags: list[str]) -> None:
        for flag in flags:
            self.set_fill_color(252, 235, 235)
            self.font("B", 9, RED)
            self.multi_cell(0, 5, self.t(f"Unverified: {flag}"), fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if flags:
            self.ln(2)

    def table_block(self, table: DocTable) -> None:
        self.heading(table.title, size=12)
        width = max(1, len(table.columns))
        rows = [list(table.columns)] + [[str(c) for c in list(r)[:width]] + [""] * max(0, width - len(r))
                                        for r in table.rows]
        # columns as wide as their longest text (within limits), so short figures leave room for prose
        widths = tuple(max(8, min(60, max(len(r[i]) for r in rows) + 2)) for i in range(width))
        self.font("", 8.5)
        self.set_fill_color(246, 247, 250)  # not the colour of a flag drawn before
        style = FontFace(emphasis="BOLD", fill_color=(225, 230, 240), color=INK)
        with self.table(col_widths=widths, text_align="LEFT", headings_style=style, line_height=4.6, padding=1.2,
                        borders_layout="HORIZONTAL_LINES", cell_fill_color=(246, 247, 250),
                        cell_fill_mode="ROWS") as pdf_table:
            for row in rows:
                pdf_row = pdf_table.row()
                for value in row:
                    pdf_row.cell(self.t(value))
        self.ln(3)

    def chart(self, chart: DocChart) -> None:
        svg = re.sub(r"<title>.*?</title>", "", chart.svg, flags=re.S)  # fpdf2 would log it as unsupported
        width = self.epw * 0.95  # a 640-pixel chart spans the text width; smaller ones keep their scale
        size = re.search(r'<svg[^>]*?\swidth="([\d.]+)"[^>]*?\sheight="([\d.]+)"', svg)
        if size:
            px_w, px_h = float(size.group(1)), float(size.group(2))
            width = min(width, width * px_w / 640)
            height = width * px_h / px_w
        else:
            height = width * 0.6
        if self.get_y() + 14 + height > self.h - self.b_margin:
            self.add_page()  # keep the title with its chart
        self.heading(chart.title, size=12)
        self.image(io.BytesIO(svg.encode("utf-8")), w=width, alt_text=self.t(chart.title))
        self.ln(4)


def render_pdf(doc: ReportDocument) -> bytes:
    pdf = _Pdf(doc)
    pdf.add_page()
    pdf.font("B", 18)
    pdf.multi_cell(0, 9, pdf.t(doc.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.font("B", 13)
    pdf.multi_cell(0, 7, pdf.t(doc.company_name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if doc.subtitle:
        pdf.font("I", 10, MUTED)
        pdf.multi_cell(0, 5, pdf.t(doc.subtitle), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(150, 150, 150)
    pdf.line(pdf.l_margin, pdf.get_y() + 2, pdf.w - pdf.r_margin, pdf.get_y() + 2)
    pdf.ln(5)
    for section in doc.sections:
        pdf.heading(section.heading)
        pdf.flags(section.flags)
        pdf.markdown(section.markdown_body)
    for chart in doc.charts:
        pdf.chart(chart)
    for table in doc.tables:
        pdf.table_block(table)
    if doc.provenance:
        pdf.table_block(DocTable("Provenance", ["Item", "Value"], [[k, v] for k, v in doc.provenance.items()]))
    if doc.disclaimer:
        pdf.ln(2)
        pdf.font("I", 8.5, MUTED)
        pdf.multi_cell(0, 4.5, pdf.t(doc.disclaimer), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
