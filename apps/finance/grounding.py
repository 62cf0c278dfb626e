"""Numeric grounding: every number in a report's prose must be one of the computed facts, within rounding.

    checks = check_numbers("Gross margin was 40.0% in FY2024.", facts)
    annotate(text, checks)  # each mismatch marked inline with the fact it should have used

How a number is read: its currency ($, EUR ...), sign (-3.2, (3.2)%, "fell 3.2%"), scale (k, m, bn,
thousand, million, billion) and unit (%, x, years; pp and bps are changes of a ratio and match only the
<margin>_change facts). It matches a fact of a compatible unit when it equals the fact's value rounded the way the number is written (12.3% matches 12.25%..12.35%; 1.2bn matches
1.15bn..1.25bn), or lies within `rel_tol` of it. A number written without a sign matches by magnitude (the
words carry the sign: "a loss of 3.0m"); "fell 3.2%" and "-3.2%" must match a negative fact. A written
currency must be the facts' currency ("$" stands for any dollar; "€1.2bn" never matches a USD fact).

Which facts a number is compared with: the metric named just before it in the same sentence ("gross margin
of 40.0%") or right after it ("40.0% gross margin"), narrowed to the fiscal year named nearest to it ("in
2024", "FY2023"). When the text names no metric (or no fact of that metric has a compatible unit) every fact
of a compatible unit is a candidate. So "gross margin of 16.5% in 2024" is flagged even when 16.5% is the
operating margin: the expected fact is gross_margin.2024.

Not claims: years (2024, FY2023, 2022-2024), quarters and ordinals (Q3, 1st), section and list numbers at the
start of a line or after "Section"/"Table"/"Note" ..., day numbers of dates, and bare integers up to 10
(counts: "three risks" written as "3 risks").
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from apps.finance.analytics import Fact, FactSet

_NUMBER_RE = re.compile(
    r"""
    (?<![\w.,/])
    (?P<cur>(?:US\$|C\$|A\$|\$|€|£|¥|USD|EUR|GBP|JPY|CHF|CAD|AUD|SEK|NOK|DKK)\s?)?
    (?P<open>\()?
    (?P<sign>[-−–+])?
    (?P<cur2>\$|€|£)?
    (?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)
    (?P<close>\))?
    (?P<unit>\s?(?:
        %|percent\b|per\s?cent\b|percentage\s+points?\b|pp\b|ppts?\b|bps\b|bp\b|basis\s+points?\b
        |x\b|×|times\b
        |tn\b|trillion\b|bn\b|billion\b|b\b|mn\b|mm\b|million\b|m\b|k\b|thousand\b
        |-?years?\b
    ))?
    (?P<cur3>\s(?:USD|EUR|GBP|JPY|CHF|CAD|AUD|SEK|NOK|DKK)\b)?
    (?P<close2>\))?
    """,
    re.VERBOSE | re.IGNORECASE,
)
_SCALES = {"tn": 1e12, "trillion": 1e12, "bn": 1e9, "billion": 1e9, "b": 1e9, "mn": 1e6, "mm": 1e6,
           "million": 1e6, "m": 1e6, "k": 1e3, "thousand": 1e3}
_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*"
_LABEL_WORDS_BEFORE = re.compile(
    r"\b(?:section|table|figure|fig\.|chart|note|page|step|item|part|chapter|appendix|exhibit|no\.|number|#)\s*$",
    re.IGNORECASE)
_DECLINE = re.compile(r"\b(?:fell|fall|falls|falling|declined?|declining|decreased?|dropped|drop|shrank|shrunk|"
                      r"contracted|compressed|narrowed|slipped|deteriorated|down)\s+(?:by\s+)?$", re.IGNORECASE)
_RISE = re.compile(r"\b(?:grew|grow|grows|growing|rose|rise|rises|increased?|expanded|climbed|improved|widened|up)"
                   r"\s+(?:by\s+)?$", re.IGNORECASE)
_YEAR_RE = re.compile(r"(?<![\w.])(?:FY\s?)?((?:19|20)\d\d)(?![\d.,]*\d)|(?<![\w])FY\s?(\d\d)(?!\d)", re.IGNORECASE)
_RANGE_RE = re.compile(
    r"(?P<sep>\s?(?:-|–|to|and)\s?)(?:US\$|\$|€|£)?\d[\d,]*(?:\.\d+)?(?P<unit>\s?(?:%|x\b|bn\b|billion\b|mn\b|million\b|m\b|"
    r"pp\b|bps\b))", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?;](?=\s)|\n")

# words people use for a metric besides its label; a metric also owns the facts whose key extends it
# (revenue -> revenue_growth_yoy, revenue_cagr)
_ALIASES: dict[str, tuple[str, ...]] = {
    "revenue": ("revenue", "revenues", "sales", "top line", "turnover"),
    "net_income": ("net income", "net profit", "earnings", "profit"),
    "eps_diluted": ("eps", "earnings per share", "diluted eps"),
    "fcf": ("free cash flow", "fcf"),
    "ebitda": ("ebitda",),
    "operating_income": ("operating income", "operating profit", "ebit"),
    "gross_profit": ("gross profit",),
    "pe": ("p/e", "pe ratio", "price/earnings", "price-to-earnings", "earnings multiple"),
    "ev_to_ebitda": ("ev/ebitda",),
    "ev_to_sales": ("ev/sales", "ev/revenue"),
    "pb": ("p/b", "price/book", "price-to-book"),
    "net_debt_to_ebitda": ("net debt/ebitda", "net debt to ebitda", "leverage"),
    "debt_to_equity": ("debt/equity", "debt-to-equity", "debt to equity", "gearing"),
    "roe": ("roe", "return on equity"),
    "roa": ("roa", "return on assets"),
    "roic": ("roic", "return on invested capital", "return on capital"),
    "interest_cover": ("interest cover", "interest coverage"),
    "cash_conversion": ("cash conversion",),
    "price_per_share": ("share price", "stock price", "trades at", "trading at", "shares at"),
    "shares_diluted": ("shares", "share count", "diluted shares"),
    "dcf.value_per_share": ("dcf value",),
    "dcf": ("dcf", "discounted cash flow", "forecast", "forecasts", "projected", "projection", "projections"),
    "dcf.wacc": ("wacc", "discount rate", "cost of capital"),
    "dcf.terminal_growth": ("terminal growth", "perpetual growth", "long-term growth"),
    "dcf.upside": ("upside", "downside"),
    "peers.median_pe": ("peer median p/e", "peers trade at", "peer p/e", "median p/e"),
    "peers": ("peers", "peer group", "peer median", "peers' median", "comparables", "comparable companies", "comps"),
    "market_cap": ("market cap", "market capitalisation", "market capitalization"),
    "enterprise_value": ("enterprise value",),
}
# phrases that name any of several valuations
_SHARED: dict[str, tuple[str, ...]] = {
    phrase: ("dcf.value_per_share", "peers.implied_value_per_share")
    for phrase in ("value per share", "intrinsic value", "fair value", "worth", "price target", "target price",
                   "valuation", "valued at", "implied value", "implies", "imply", "implying")
}
_GENERIC = {"margin": "_margin", "growth": "_growth_yoy", "cagr": "_cagr"}

_COMPATIBLE = {
    "percent": ("ratio",),
    "points": ("ratio",),
    "multiple": ("multiple",),
    "amount": ("currency", "shares"),
    "money": ("per_share", "currency"),
    "years": ("years",),
    "bare": ("per_share", "multiple", "currency", "shares", "years"),
}


@dataclass(frozen=True)
class NumberCheck:
    start: int
    end: int
    text: str
    value: float  # in the facts' units: a fraction for percentages, whole currency units for amounts
    matched_key: str | None
    ok: bool
    expected: Fact | None  # for a mismatch: the fact it most plausibly should have used


@dataclass(frozen=True)
class _Claim:
    start: int
    end: int
    text: str
    number: float  # as written, in its own scale ("1.2" of "1.2bn", "12.3" of "12.3%")
    decimals: int
    kind: str  # percent | points (pp, bps) | multiple | amount | money | years | bare
    scale: float  # amount: 1e9 for bn; percent and points: 1 for % and pp, 0.01 for bps
    signed: bool
    currencies: frozenset[str] = frozenset()  # ISO codes the written currency may stand for; empty: none written


def _parse(text: str) -> list[_Claim]:
    claims = []
    for m in _NUMBER_RE.finditer(text):
        num = m.group("num")
        unit = (m.group("unit") or "").strip().lower()
        currency = m.group("cur") or m.group("cur2") or m.group("cur3")
        year_like = re.fullmatch(r"(?:19|20)\d\d", num) is not None
        if not unit and not m.group("close") and not year_like:
            # the first end of a range takes the unit of the second: "10-12%", "8 to 10%", "between 8 and 10%"
            ahead = _RANGE_RE.match(text, m.end())
            if ahead and (ahead.group("sep").strip() != "and"
                          or re.search(r"\bbetween\s+\S*$", text[max(0, m.start() - 20):m.end()], re.I)):
                unit = ahead.group("unit").strip().lower()
        after = text[m.end():m.end() + 1]
        if not unit and (after.isalpha() or re.match(r"-[A-Za-z]", text[m.end():m.end() + 2])):
            continue  # 3rd, 10K, 2Q24, 12-month, 10-K: identifiers and compound words, not amounts
        value = float(num.replace(",", ""))
        decimals = len(num.split(".")[1]) if "." in num else 0
        plain_int = decimals == 0 and "," not in num and not unit and not currency
        before = text[max(0, m.start() - 40):m.start()]
        line_start = text.rfind("\n", 0, m.start()) + 1
        if plain_int:
            if 1900 <= value <= 2100 and len(num) == 4:
                continue  # a year
            if value <= 10 and not m.group("sign"):
                continue  # a count
            if _LABEL_WORDS_BEFORE.search(before):
                continue
            if value <= 31 and (re.match(rf"\s+{_MONTHS}\b", text[m.end():], re.I)
                                or re.search(rf"\b{_MONTHS}\.?\s+$", before, re.I)):
                continue  # a day of a date
        if (not unit and not currency and text[line_start:m.start()].strip(" #*-") == ""
                and re.match(r"(?:[.):]\s|[.):]?\s+[A-Z]|[.):]?$)", text[m.end():m.end() + 3])):
            continue  # a section or list number: "1. Summary", "2.1 Margins"
        negative_paren = bool(m.group("open") and m.group("close"))
        negative = m.group("sign") in ("-", "−", "–") or negative_paren
        signed = negative or m.group("sign") == "+"
        if not signed and _DECLINE.search(before):
            negative = signed = True
        elif not signed and _RISE.search(before):
            signed = True
        number = -value if negative else value
        scale = 1.0
        if unit in ("%", "percent") or unit.startswith("per "):
            kind = "percent"
        elif unit.startswith(("pp", "percentage")):
            kind = "points"
        elif unit in ("bps", "bp") or unit.startswith("basis"):
            kind, scale = "points", 0.01
        elif unit in ("x", "×", "times"):
            kind = "multiple"
        elif unit in _SCALES:
            kind, scale = "amount", _SCALES[unit]
        elif "year" in unit:
            kind = "years"
        elif currency:
            kind = "money"
        else:
            kind = "bare"
        start, end = m.start(), m.end()
        if m.group("open") and not negative_paren:
            start += 1
        if m.group("close2") or (m.group("close") and not m.group("open") and not unit):
            end -= 1  # a closing parenthesis of the prose, not of the number
        claims.append(_Claim(start, end, text[start:end], number, decimals, kind, scale, signed,
                             _currencies(currency)))
    return claims


_SYMBOLS = {"$": frozenset({"USD", "CAD", "AUD", "NZD", "HKD", "SGD"}), "US$": frozenset({"USD"}),
            "C$": frozenset({"CAD"}), "A$": frozenset({"AUD"}), "€": frozenset({"EUR"}), "£": frozenset({"GBP"}),
            "¥": frozenset({"JPY", "CNY"})}


def _currencies(written: str | None) -> frozenset[str]:
    if not written:
        return frozenset()
    written = written.strip()
    return _SYMBOLS.get(written, frozenset({written.upper()}))


def _written(fact_value: float, claim: _Claim, fact: Fact) -> float:
    """The fact's value in the claim's written scale."""
    if claim.kind in ("percent", "points"):
        return fact_value * 100 / claim.scale
    if claim.kind == "amount":
        return fact_value / claim.scale
    return fact_value


def _candidates_written(claim: _Claim, fact: Fact) -> list[tuple[float, float]]:
    """(the fact's value in the claim's written scale, the scale the claim is then read in)."""
    values = [(_written(fact.value, claim, fact), 1.0)]
    if claim.kind in ("bare", "money") and fact.unit in ("currency", "shares"):
        values.append((fact.value / 1e6, 1e6))  # tables and prose "in millions"
    return values


def _distance(claim: _Claim, written: float) -> tuple[bool, float]:
    """(within rounding or rel_tol, relative distance)."""
    c, f = claim.number, written
    if not claim.signed:
        c, f = abs(c), abs(f)
    half = 0.5 * 10 ** -claim.decimals + 1e-9
    diff = abs(c - f)
    return diff <= half, diff / max(abs(f), 1e-12)


def _sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    s = max((m.end() for m in _SENTENCE_END.finditer(text, 0, start)), default=0)
    nxt = _SENTENCE_END.search(text, end)
    return s, nxt.start() if nxt else len(text)


class _Vocabulary:
    """Alias phrase -> metrics, from the facts at hand."""

    def __init__(self, facts: FactSet):
        self.metrics: dict[str, list[Fact]] = {}
        for fact in facts.available():
            self.metrics.setdefault(fact.metric, []).append(fact)
        phrases: dict[str, set[str]] = {}
        for metric, group in self.metrics.items():
            label = group[0].label.lower()
            names = {re.sub(r"\s*\(.*?\)", "", label).strip()} | set(re.findall(r"\((.*?)\)", label))
            if metric.endswith("_change"):
                names.add(label.removesuffix(" change"))  # "gross margin expanded 120bps"
            if metric.startswith("peers.") and not metric.startswith(("peers.median", "peers.implied")):
                names = set()  # "<peer name> P/E": a short peer name would make ordinary words a metric
            for base, aliases in _ALIASES.items():
                if metric == base or metric.startswith(base + "_") or metric.startswith(base + "."):
                    names.update(aliases)
            for word, suffix in _GENERIC.items():
                if metric.endswith(suffix) or suffix in metric:
                    names.add(word)
            for name in names:
                if len(name) >= 2 and name not in ("yoy",):
                    phrases.setdefault(name, set()).add(metric)
            for phrase, bases in _SHARED.items():
                if any(metric == b or metric.startswith(b + "_") for b in bases):
                    phrases.setdefault(phrase, set()).add(metric)
        self.phrases = phrases
        self._re = re.compile(
            r"(?<![\w/])(" + "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True)) + r")(?![\w/])",
            re.IGNORECASE) if phrases else None

    def mentioned(self, text: str, claim: _Claim, lo: int, hi: int) -> list[set[str]]:
        """Sets of metrics the number may be about, most likely first: the metric named nearest before it
        in its sentence (or right after it, "40.0% gross margin", when nothing is named right before it),
        then the one named after it, then the others named before it, nearest first."""
        if self._re is None:
            return []
        before = sorted(((m.end(), len(m.group(1)), m.group(1).lower())
                         for m in self._re.finditer(text, max(lo, claim.start - 160), claim.start)), reverse=True)
        after = None
        gap = re.match(r"[ \t]*(?:of |in )?", text[claim.end:hi])
        start_after = claim.end + (gap.end() if gap else 0)
        if start_after < hi:
            after = self._re.match(text, start_after, hi)
        before_sets = [set(self.phrases.get(phrase, ())) for _, _, phrase in before]
        after_set = set(self.phrases.get(after.group(1).lower(), ())) if after else set()
        adjacent_before = bool(before) and not text[before[0][0]:claim.start].strip(" :=")
        if adjacent_before or after is None or after.start() - claim.end > 1:
            order = before_sets[:1] + [after_set] + before_sets[1:]
        else:
            order = [after_set] + before_sets
        return [m for m in order if m]


def _year_tokens(text: str, lo: int, hi: int) -> list[tuple[int, int, frozenset[int]]]:
    """(start, end, years) of the fiscal years named in text[lo:hi]; a span "2022-2024" names all of them."""
    found = [(m.start(), m.end(), int(m.group(1)) if m.group(1) else 2000 + int(m.group(2)))
             for m in _YEAR_RE.finditer(text, lo, hi)]
    tokens, i = [], 0
    while i < len(found):
        start, end, year = found[i]
        if i + 1 < len(found) and re.fullmatch(r"\s?(?:-|–|to|through)\s?", text[end:found[i + 1][0]]) \
                and found[i + 1][2] > year:
            tokens.append((start, found[i + 1][1], frozenset(range(year, found[i + 1][2] + 1))))
            i += 2
        else:
            tokens.append((start, end, frozenset({year})))
            i += 1
    return tokens


def _years_near(text: str, claim: _Claim, lo: int, hi: int, claims: list[_Claim]) -> frozenset[int] | None:
    """The fiscal year (or span of years) named nearest to the number in its sentence, not past another number."""
    others = [c for c in claims if c is not claim and lo <= c.start < hi]
    best: tuple[int, int, frozenset[int]] | None = None  # (distance, after-first tiebreak, years)
    for start, end, years in _year_tokens(text, lo, hi):
        if start >= claim.end:
            if any(claim.end <= c.start < start for c in others):
                continue
            dist, order = start - claim.end, 0
        elif end <= claim.start:
            if any(end <= c.start < claim.start for c in others):
                continue
            dist, order = claim.start - end, 1
        else:
            continue
        if best is None or (dist, order) < best[:2]:
            best = (dist, order, years)
    return best[2] if best else None


def check_numbers(text: str, facts: FactSet, *, rel_tol: float = 0.005) -> list[NumberCheck]:
    """One NumberCheck per number-like claim in `text`, in order."""
    vocabulary = _Vocabulary(facts)
    available = facts.available()
    claims = _parse(text)
    checks = []
    for claim in claims:
        units = _COMPATIBLE[claim.kind]
        compatible = [f for f in available if f.unit in units
                      and not (claim.currencies and f.unit in ("shares", "years", "multiple"))
                      and (f.unit != "ratio" or f.metric.endswith("_change") == (claim.kind == "points"))]
        lo, hi = _sentence_bounds(text, claim.start, claim.end)
        years = _years_near(text, claim, lo, hi, claims)
        named = [n for metrics in vocabulary.mentioned(text, claim, lo, hi)
                 if (n := [f for f in compatible if f.metric in metrics])]
        # the nearest named metric in the named year; else another named metric in that year ("revenue is
        # forecast to reach 1,331m in 2025, after 1,210m in 2024"); else the nearest named metric; else any fact
        # a named metric of no fiscal year at all (WACC, peer medians) is as true in any year
        options = [[f for f in n if years.intersection(f.years)] if any(f.years for f in n) else n
                   for n in named] if years else []
        options += named[:1]
        if years:
            options.append([f for f in compatible if years.intersection(f.years)])
        options.append(compatible)
        pool = next((o for o in options if o), [])
        best_ok: tuple[tuple[float, int], Fact, float] | None = None
        nearest: tuple[tuple[float, int], Fact] | None = None
        for fact in pool:
            same_currency = not (claim.currencies and fact.currency and fact.currency not in claim.currencies)
            for written, read_scale in _candidates_written(claim, fact):
                within, rel = _distance(claim, written)
                rank = (rel, -(fact.period or 0))  # on a tie, the latest year
                if (within or rel <= rel_tol) and same_currency and (best_ok is None or rank < best_ok[0]):
                    best_ok = (rank, fact, read_scale)
                if nearest is None or rank < nearest[0]:
                    nearest = (rank, fact)
        value = claim.number * (claim.scale / 100 if claim.kind in ("percent", "points") else claim.scale)
        if best_ok is not None:
            value *= best_ok[2]  # "1,210.0" read in millions
            checks.append(NumberCheck(claim.start, claim.end, claim.text, value, best_ok[1].key, True, None))
        else:
            checks.append(NumberCheck(claim.start, claim.end, claim.text, value, None, False,
                                      nearest[1] if nearest else None))
    return checks


def annotate(text: str, checks: list[NumberCheck]) -> str:
    """`text` with each mismatch marked: 14.0% [[unverified: 14.0% — fact gross_margin.2024 is 40.0%]]."""
    out, pos = [], 0
    for check in sorted((c for c in checks if not c.ok), key=lambda c: c.start):
        if check.start < pos:
            continue
        out.append(text[pos:check.end])
        hint = f" \u2014 fact {check.expected.key} is {check.expected.display}" if check.expected else \
            " \u2014 no computed fact matches"
        out.append(f" [[unverified: {check.text}{hint}]]")
        pos = check.end
    out.append(text[pos:])
    return "".join(out)


def summary(checks: list[NumberCheck]) -> dict[str, int]:
    bad = sum(1 for c in checks if not c.ok)
    return {"numbers": len(checks), "matched": len(checks) - bad, "unverified": bad}


__all__ = ["NumberCheck", "annotate", "check_numbers", "summary"]
