"""Numeric grounding: every number in a report's prose must be one of the computed facts, within rounding.

    checks = check_numbers("Gross margin was 40.0% in FY2024.", facts)
    annotate(text, checks)  # each mismatch marked inline with the fact it should have used

What a check says (its status): MATCHED, the number is one of the facts (of the metric its clause names; or,
when its clause names none, of any metric: `by_value`); FLAGGED, a confident contradiction: the number's own
clause names its metric (or continues the subject of the clause before: ", up from 73.4%", "(2023: 8.5%)",
"; it rose 4.0pp") and, for a value of another year, the year is certain (named in its clause, or the only year of
its sentence), yet the number is not that fact, with a kind (KINDS: the value of another year / metric / scale /
sign / unit, or none) and the fact it should have used; UNATTRIBUTED, the checker cannot tell which fact it is
about ("could not check": no error, shown apart to the analyst). The rest of this note is how a number is
attributed.

How a number is read: its currency ($, EUR ...), sign (-3.2, (3.2)%, "fell 3.2%"), scale (k, m, bn,
thousand, million, billion) and unit (%, x, years; pp and bps are changes of a ratio and match only the
<margin>_change facts). It matches a fact of a compatible unit when it equals the fact's value rounded the way the number is written (12.3% matches 12.25%..12.35%; 1.2bn matches
1.15bn..1.25bn), or lies within `rel_tol` of it. A number written without a sign matches by magnitude (the
words carry the sign: "a loss of 3.0m"); "fell 3.2%" and "-3.2%" must match a negative fact. A written
currency must be the facts' currency ("$" stands for any dollar; "€1.2bn" never matches a USD fact).

Which facts a number is compared with: sentences are split into clauses (at ";", ", while", ", and", ", giving",
" - ", " and " before a new metric or year ...). The metric is the one named in the number's own clause: just
before it ("gross margin of 40.0%", "net income was $135.0m"), or right after it ("40.0% gross margin", "$70.0m on
capex", "16.4x FY2024 earnings": a multiple of earnings / EBITDA / sales / book names the valuation multiple);
only when its clause names none does one of an earlier clause carry over. "X% of net income" / "X% of sales"
names the ratio (cash conversion or payout by what the clause says X is; the margin of X). "$0.60 per share"
matches only per-share facts. The fiscal year is the one named nearest to it in its own clause, not past another
number, or leading the clause ("In 2023, revenue grew 25.0% to $1.0bn"); else one of an earlier clause carries
over; "a year earlier" / "the prior year" name the year before, "that year" / "the same year" the one named
before; a base year ("up 21.0% on FY2023") makes a change about the next year. When the text names no metric
(or no fact of that metric has a compatible unit) every fact of a compatible unit is a candidate. So "gross
margin of 16.5% in 2024" is flagged even when 16.5% is the operating margin: the expected fact is
gross_margin.2024. A span fact (revenue_cagr.2020_2024) is about the years at its ends, or any of its years when
the year is carried over from another clause.

Signs: an unsigned number is positive unless its clause has a word that makes it negative ("a loss of", "fell",
"downside", "deficit" ...), when it matches by magnitude. Scales: a number whose scale is wrong ("$260.0bn" for
260.0m) matches nothing and is flagged with the fact it should have used (its display, "260.0m").

What people write: before a text is read, Unicode spaces (no-break, thin) become spaces, a space between a
number and its unit goes ("24 %", "$195.8 m"), an en dash or minus sign before a number is a minus, and a
misspelt metric word is read as the metric word (two neighbouring letters swapped: "Reveune", "yeild"; a letter
missing, added or changed only where that completes a name of several words: "net incme", "gross margn"), with
the positions in the checks those of the text as written. The full stop of an abbreviation ("rev.", "op. inc.", "i.e.")
ends no sentence; "NI", "GM", "mgn", "op. margin", "FCF conversion", "tax rate" name their metrics. A
comma before a new metric starts a clause once the sentence has a number; "(2023: $200.0m)" holds its year
(and makes a sentence that names no other year about the year after); the start year of a comparison ("since
2020", "from $88.0m in 2022") is the year of its own number only, and a "from X" in a clause naming no year takes
it; "higher than in 2023" is a base year; "a year later" / "has since" name the next / any later year; a year
bound by "in" right after a number is its year; a change takes the year closing its clause ("rose 14.9% to
$153.6m in 2024"). The base of "X% of net income" names no metric for the clause; "compounded" / "CAGR" name
the CAGR; two metrics of one clause narrow to the one both name ("the peer median P/E implies $29.70") or the
qualified one ("10.2x EV/EBITDA against 15.2x for peers"); a number compared with a peer median may be the
company's own; "X% above / under the share price" is the signed DCF upside; "rose by $30.0m" is the change from
the year before; "points" / "pts" are percentage points.

Not claims: years (2024, FY2023, FY'24, 2022-2024), quarters and ordinals (Q3, 1st), section and list numbers at
the start of a line or after "Section"/"Table"/"Note" ..., day numbers of dates, bare integers up to 10 (counts:
"three risks" written as "3 risks"), counts and durations ("within 18 months", "12 new stores", "the top 20
customers", "over the next 3 years" unless the clause names a years fact such as the DCF forecast). Nor, unless they
match a fact, are numbers that claim no fact: a negated one ("not the 13%", "rather than 12%", "instead of"), one of
a forward-looking or hypothetical clause (guidance, targets, consensus, estimates, "we model", "if", "would"), one
of a year after the facts' last for a metric with no fact in it ("EPS of $1.45 in FY2026"; the DCF's forecast
years have facts): unattributed, never flagged.

Other companies: a number after a named peer (the peers the facts carry, "peers.<slug>.pe" labelled "<name> P/E";
"Against Bluecrest (16.4x P/E)", "Redfield trades on 31.0x"), with no clause break or comparison between, is the
peer's: matched to the peer's facts, flagged when its clause names a multiple the peer has and it is not that
value, else unattributed; never compared with the company's own facts. "A and B were X and Y, respectively" maps
the names to the numbers in order. A metric the platform has no fact of in this set ("opex" without operating
expenses, "R&D", "backlog") still names its number's subject: the number is unattributed, not another metric's.
"""
from __future__ import annotations

import copy
import os
import re
import weakref
from dataclasses import dataclass, replace

from apps.finance.analytics import Fact, FactSet
from apps.finance.analytics.facts import format_amount

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
        %|percent\b|per\s?cent\b|percentage[\s-]+points?\b|points?\b|pts?\b|pp\b|ppts?\b|bps\b|bp\b|basis\s+points?\b
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
_YEAR_RE = re.compile(r"(?<![\w.])(?:FY\s?)?((?:19|20)\d\d)(?![\d.,]*\d)|(?<![\w])FY\s?['\u2019]?(\d\d)(?!\d)",
                      re.IGNORECASE)
# a year named relative to the one named before it: "from $211.4m a year earlier", "grew 22.0% that year"
_RELATIVE_YEAR_RE = re.compile(
    r"\b(?P<prior>a\s+year\s+(?:earlier|before|ago)|the\s+(?:prior|previous|preceding)\s+year|the\s+year\s+before"
    r"|prior[-\s]year)\b|\b(?P<same>that\s+year|the\s+same\s+year|(?:in\s+)?the\s+same\s+period)\b"
    r"|\b(?P<next>a\s+year\s+later|the\s+(?:following|next)\s+year|the\s+year\s+after)\b"
    r"|\b(?P<later>(?:has|have|had)\s+since|since\s+then|ever\s+since)\b"
    r"|\b(?P<nprior>two|three|four|five|six|seven|eight|nine|ten|\d)\s+years\s+(?:earlier|before|ago)\b", re.IGNORECASE)
_NUMBER_WORDS = {w: n for n, w in enumerate("zero one two three four five six seven eight nine ten".split())}
# "FY22/FY23/FY24", "FY2022/23/24", "2020-24": a list of years or a short span (the first year four digits or FY)
_YEAR_LIST = re.compile(
    r"(?<![\w.])(?:FY\s?['\u2019]?\d\d(?:\d\d)?|(?:19|20)\d\d)"
    r"(?:(?:\s?/\s?|-)(?:FY\s?)?['\u2019]?(?:(?:19|20)\d\d|\d\d)(?![\d.,]*\d)(?![%\w]))+", re.IGNORECASE)
_RANGE_RE = re.compile(
    r"(?P<sep>\s?(?:-|–|to|and)\s?)(?:US\$|\$|€|£)?\d[\d,]*(?:\.\d+)?(?P<unit>\s?(?:%|x\b|bn\b|billion\b|mn\b|million\b|m\b|"
    r"pp\b|bps\b))", re.IGNORECASE)
# a sentence ends at . ! ? before a capital, a digit or the end ("op. margin", "Rev. reached" do not end one)
_SENTENCE_END = re.compile(r"[.!?](?=\s+[\"'(\u201c\u2018A-Z0-9$\u20ac\u00a3]|\s*$)|\n")
_BOUND = re.compile(r"[\s\u00a0:=,]*(?:[A-Za-z'\u2019.]+[\s\u00a0]+){0,3}(?:[A-Za-z'\u2019.]+)?[\s\u00a0:=]*")
_YEAR_BEFORE_METRIC = re.compile(r"(?:FY\s?['\u2019]?\d\d|(?:FY\s?)?(?:19|20)\d\d)(?:'s|\u2019s)?[ \t\u00a0]+", re.I)
# a year named as the base of a change: "up 21.0% on FY2023", "growth of 8% versus 2023" is about the next year
_BASE_YEAR_BEFORE = re.compile(r"\b(?:on|over|versus|vs\.?|against|compared\s+(?:with|to)|relative\s+to|than(?:\s+in)?"
                               r"|above|below|ahead\s+of|behind)"
                               r"\s+(?:the\s+)?$",
                               re.IGNORECASE)
_COMPARISON_WORD = re.compile(r"\b(?:compar\w*|versus|vs\.?|against|from|than|since)\b", re.IGNORECASE)
_FROM_BEFORE = re.compile(r"\bfrom\s+(?:a\s+|an\s+)?$", re.IGNORECASE)
_YEAR_OF_NUMBER = re.compile(r"\s+(?:in|for|during|by)\s+(?:fiscal\s+|the\s+year\s+)?", re.IGNORECASE)
# "better than FY2023's 22.0%", "2023: 84.0%": a year right before a number is that number's
_YEAR_OWNS_NEXT = re.compile(r"(?:'s|\u2019s)?\s*:?\s*", re.IGNORECASE)
_YEAR_OF_NEXT_NUMBER = re.compile(r"(?:'s|\u2019s)?\s*:?\s*[-+(]?(?:US\$|\$|\u20ac|\u00a3)?\d", re.IGNORECASE)
_WHEN_AFTER = re.compile(r",?\s+when\b", re.IGNORECASE)
# a number compared with one named before it: "to $1.2bn in 2024 from $1.1bn", "..., up from $235.7m"
_COMPARED_BEFORE = re.compile(r"\b(?:from|versus|vs\.?|compared\s+(?:with|to)|against|than)\s+(?:the\s+|a\s+)?$",
                              re.IGNORECASE)
# a number compared with a metric named before it: "compares with its own 12.0x", "against 8.6x for peers"
_COUNTERPART_BEFORE = re.compile(
    r"\b(?:versus|vs\.?|against|compare[sd]?\s+(?:with|to)|than|relative\s+to)\s+(?:the\s+|a\s+|its\s+|their\s+)?"
    r"(?:own\s+|company's\s+)?$", re.IGNORECASE)
# a year named for the number of a comparison: "from $192.9m in 2023", "(2023: 84.0%)"
_COMPARED_YEAR = re.compile(
    r"(?:\b(?:from|since|versus|vs\.?|compared\s+(?:with|to)|against|than|on|after)\s+(?:\S*\d\S*\s+(?:in|at|for)\s+)?"
    r"(?:the\s+end\s+of\s+)?(?:fiscal\s+)?|\(\s*)$", re.IGNORECASE)
_PER_SHARE = re.compile(r"\s*(?:(?:per|a)\s+(?:diluted\s+)?share\b|/\s?(?:share|sh)\b)", re.IGNORECASE)
# counts and durations, not claims: "within 18 months", "12 new stores", "the top 20 customers"
_COUNT_AFTER = re.compile(
    r"[\s\u00a0]+(?:[a-z]+[\s\u00a0]+)?(?:months?|weeks?|days?|hours?|quarters|customers?|clients?|employees|staff|people|"
    r"stores|sites|plants|factories|facilities|countries|markets|products|segments|risks|companies|analysts|"
    r"acquisitions|deals|patents|brands|regions|divisions|businesses|suppliers|competitors|distributors|"
    r"locations|offices|branches|lines|programmes|programs|projects|contracts|orders|engineers|workers|jobs|roles|"
    r"hires|positions|members|users|subscribers|patients|vehicles|machines|installations|shops|outlets|"
    r"warehouses|centres|centers|cities|states|languages|models|variants|launches|releases|steps|stages|phases|"
    r"pillars|initiatives|priorities|times\s+(?:a|per|in)\b)\b",
    re.IGNORECASE)
_COUNT_BEFORE = re.compile(r"\b(?:top|first|next|past|last|within|every|each)\s+$", re.IGNORECASE)
# a clause boundary inside a sentence: "; ", ", while", ", and in 2023", " - " ...; the number's own clause
# names the metric and the year it is about, before any earlier clause does
_CLAUSE_BREAK = re.compile(
    r";\s|\s[\u2013\u2014-]\s|\s\((?=\s*(?:FY\s?)?(?:19|20)\d\d\s*[:,])"
    r"|,\s+(?=(?:while|whereas|but|although|though|yet|and|giving|taking|leaving|implying|bringing|lifting|"
    r"pushing|putting|after|before|compared|versus|vs|against|with|which|a|an|equal|equivalent|or|up|down|"
    r"representing|reflecting|driven|helped|as|when)\b)"
    r"|\s+(?=(?:while|whereas|but)\s)",
    re.IGNORECASE)
# " and " starts a new clause when a new subject or year follows it: "... and net income grew 8.8%"
_AND = re.compile(r"\s+and\s+(?:(?:the|its|our|their)\s+)?", re.IGNORECASE)
_YEAR_PARENTHESIS = re.compile(r"\((?=\s*(?:FY\s?)?['\u2019]?(?:(?:19|20)\d\d|\d\d)\s*[:,])[^()]*\)", re.IGNORECASE)
_COMMA_SUBJECT = re.compile(r",\s+(?:(?:the|its|our|their)\s+)?", re.IGNORECASE)
_AND_YEAR = re.compile(r"(?:in|by|for|during)\s+(?:FY\s?)?(?:19|20)\d\d\b|(?:FY\s?)?(?:19|20)\d\d\b", re.I)
# words that make an unsigned number a negative one ("a loss of 3.0m", "77.8% downside", "(a decline)")
_NEGATIVE_CUE = re.compile(
    r"\b(?:loss|losses|loss-making|lost|lose|loses|losing|negative|deficit|outflows?|burn(?:ed|t)?|fell|falls?|falling|declin\w*|decreas\w*|"
    r"drop\w*|shr[ai]nk\w*|shrunk|contract\w*|compress\w*|narrow\w*|down|downside|discount|below|lower|swung|"
    r"swing|reduc\w*|minus|deteriorat\w*|slipped|slid|erod\w*|cut|red|net\s+cash|overvalued)\b",
    re.IGNORECASE)
# a clause that continues the one before it without a subject of its own: ", up 18.4% year on year",
# " - after 8.0pp in 2022", ", or $1.06 per share"
_ELIDED_SUBJECT = re.compile(
    r"[\s,;:\u2013\u2014-]*(?:up|down|rising|falling|growing|declining|increasing|decreasing|after|from|versus|"
    r"vs\.?|against|compared\s+(?:with|to)|or|an?|(?:when\s+)?it|which|this|that|having|and\s+(?!(?:the|its|a|an|their|our)\b)"
    r"[a-z]+)\s|[\s,;:]*\(",
    re.IGNORECASE)
# a parenthesis without a number glosses the name before it: "Cash conversion (FCF as a share of net income)"
_GLOSS = re.compile(r"\([^()\d]*\)")
# between a number and the metric named after it: "$146.6m of operating cash flow", "40.0% gross margin"
_NAME_AFTER = re.compile(r"[ \t\u00a0]*(?:(?:per|a)\s+share\s+)?(?:(?:of|on|in|for)\s+(?:the\s+|its\s+)?)?")
# generic words that may stand for several metrics ("swung from a loss of $12.6m to a profit of $78.4m" of
# operating income): they attribute a number only when no other metric of the sentence could be its subject
_WEAK_NAMES = frozenset({"profit", "profits", "loss", "losses", "earnings"})
# a span of years in a sentence: "2020-2024", "between 2020 and 2024", "four-year", "over the period"
_SPAN_WORDS = re.compile(r"(?:19|20)\d\d\s?(?:-|\u2013|to|through|and)\s?(?:FY\s?)?(?:(?:19|20)?\d\d)\b|"
                         r"\b(?:two|three|four|five|\d)[-\s]years?\b|\bper\s+year\b|\ba\s+year\b|\bannual|"
                         r"\bover\s+the\s+period\b|\bsince\b", re.IGNORECASE)
_DCF_WORDS = re.compile(r"\b(?:dcf|discounted\s+cash\s+flows?)\b", re.IGNORECASE)
# not claims of the facts: forward-looking numbers of others (guidance, targets, consensus, a model's estimate),
# hypotheticals ("if ... had been", "would"), a negated figure ("not the 13%", "rather than 12%")
_FORWARD_WORDS = re.compile(
    r"\b(?:guid\w*|(?<!price\s)target(?!\s+price)\w*|consensus|expect\w*|estimat\w*|(?:we|analysts|they)\s+model|model(?:s|led|ed|ling|ing)|outlook|aim\w*|"
    r"ambition\w*|anticipat\w*|budget\w*|plan(?:s|ned|ning)?|goal|objective|hop\w*|pencil\w*|sensitivit\w*|"
    r"for\s+every|scenarios?|bull\w*|bear\w*|street|analysts?|would|could|might|if|unless|hypothetical\w*)\b",
    re.IGNORECASE)
# a sentence that opens with a condition is hypothetical throughout: "If margins had stayed ..., EPS would ...",
# "For every 1pp of margin, net income moves by ..."
_CONDITIONAL_START = re.compile(r"\s*(?:if|unless|for\s+(?:every|each)|had|were|should|assuming|in\s+an?\s+\w+\s+case)\b",
                                re.IGNORECASE)
_NEGATED_BEFORE = re.compile(
    r"\b(?:not|nor|never|rather\s+than|instead\s+of|as\s+opposed\s+to|let\s+alone)\s+(?:(?:the|a|an|some|"
    r"any|even|quite|yet|just|merely|only)\s+)*(?:US\$|\$|\u20ac|\u00a3)?$", re.IGNORECASE)
_PEER_WORDS = re.compile(r"\b(?:peers?|median|comparables?|comps|sector|industry)\b", re.IGNORECASE)
# a clause that states a change of the subject before it, or names it by a pronoun: ", up 18.4% year on year",
# ", an increase of 5%", "; it rose 4.0pp"
_CHANGE_CLAUSE = re.compile(
    r"[\s,;:\u2013\u2014-]*(?:up|down|rising|falling|growing|declining|increasing|decreasing|it|which|this|"
    r"an?\s+(?:increase|decrease|rise|decline|drop|fall|gain)\s+of)\s", re.IGNORECASE)
_COMPOUND = re.compile(r"\b(?:compound\w*|cagr|annuali[sz]ed\s+growth|a\s+year\s+on\s+average|"
                       r"on\s+average\s+(?:a|per|each)\s+year|per\s+annum)\b", re.IGNORECASE)
_VERSUS_PRICE = re.compile(
    r"\s+(?P<side>below|under|beneath|short|above|over)\s+(?:of\s+)?(?:the\s+|its\s+)?(?:current\s+)?"
    r"(?:(?:US)?\$\s?\d[\d,]*(?:\.\d+)?\s+)?(?:current\s+)?(?:share|stock|market)\s+price\b", re.IGNORECASE)
_BY_AMOUNT = re.compile(
    r"\b(?:rose|risen|grew|grown|increased|climbed|gained|added|fell|fallen|declined|decreased|dropped|shrank|"
    r"reduced|cut|came\s+down|went\s+up|went\s+down|up|down)\s+(?:by\s+)?(?:some\s+|about\s+|around\s+|roughly\s+|"
    r"nearly\s+|almost\s+|over\s+|c\.\s*|~\s*)?$", re.IGNORECASE)
# "X% of net income", "X% of sales": the ratio the phrase names, by what the clause says it is a share of
_SHARE_OF = re.compile(
    r"[\s\u00a0]*of\s+(?:(?:its|the|our|group|total|annual|reported)\s+)*(?P<base>net\s+income|net\s+profit|"
    r"net\s+earnings|earnings|profits?|revenues?|sales|turnover|top\s+line|NI|net\s+inc\b\.?|rev\b\.?|revs)(?!\w)",
    re.IGNORECASE)
_SHARE_OF_SALES = {"gross_profit": "gross_margin", "operating_income": "operating_margin", "ebitda": "ebitda_margin",
                   "net_income": "net_margin", "fcf": "fcf_margin", "dcf.fcf": "dcf.fcf_margin"}
_SHARE_OF_EARNINGS = {"fcf": "cash_conversion", "cash_conversion": "cash_conversion",
                      "operating_cash_flow": "cash_conversion", "dividends_paid": "payout_ratio",
                      "dividends_per_share": "payout_ratio", "payout_ratio": "payout_ratio"}
_SHARE_OF_EARNINGS_WORDS = ((re.compile(r"\b(?:convert\w*|conversion)\b", re.I), "cash_conversion"),
                            (re.compile(r"\b(?:paid\s+out|pay\s*out|payout|distribut\w*|dividends?)\b", re.I),
                             "payout_ratio"))

# words people use for a metric besides its label; a metric also owns the facts whose key extends it
# (revenue -> revenue_growth_yoy, revenue_cagr)
_ALIASES: dict[str, tuple[str, ...]] = {
    "revenue": ("revenue", "revenues", "sales", "top line", "turnover", "rev"),
    "net_income": ("net income", "net profit", "earnings", "profit", "ni", "net inc", "net loss", "net earnings"),
    "eps_diluted": ("eps", "earnings per share", "diluted eps", "net income per share", "profit per share"),
    "fcf": ("free cash flow", "fcf"),
    "ebitda": ("ebitda",),
    "operating_income": ("operating income", "operating profit", "ebit", "op. inc", "op inc", "op. income",
                         "op income", "op. profit", "op profit"),
    "gross_profit": ("gross profit",),
    # a multiple "of earnings / EBITDA / sales / book" names the valuation multiple ("16.4x FY2024 earnings")
    "pe": ("p/e", "pe ratio", "price/earnings", "price-to-earnings", "earnings multiple", "earnings"),
    "ev_to_ebitda": ("ev/ebitda", "ebitda"),
    "ev_to_sales": ("ev/sales", "ev/revenue", "sales", "revenue"),
    "pb": ("p/b", "price/book", "price-to-book", "book", "book value"),
    "net_debt_to_ebitda": ("net debt/ebitda", "net debt to ebitda", "leverage", "nd/ebitda", "ebitda"),
    "gross_margin": ("gm",),
    "operating_margin": ("op. margin", "op margin", "ebit margin", "op. mgn", "op mgn", "ebit mgn"),
    "net_margin": ("net mgn", "ni margin", "ni mgn"),
    "cash": ("cash", "cash balance", "cash and cash equivalents", "cash on hand"),
    "effective_tax_rate": ("tax rate",),
    "dcf.terminal_value": ("terminal value", "tv"),
    "capital_expenditure": ("capex", "capital spending", "capital expenditures"),
    "dividends_paid": ("dividends", "dividend", "dividend payments"),
    "dividends_per_share": ("dividend", "dividends", "dps", "dividend per share"),
    "payout_ratio": ("payout", "pay-out", "payout ratio"),
    "debt_to_equity": ("debt/equity", "debt-to-equity", "debt to equity", "gearing"),
    "roe": ("roe", "return on equity"),
    "roa": ("roa", "return on assets"),
    "roic": ("roic", "return on invested capital", "return on capital"),
    "interest_cover": ("interest cover", "interest coverage", "int. cover", "int cover"),
    "cash_conversion": ("cash conversion", "fcf conversion", "free cash flow conversion", "conversion"),
    "price_per_share": ("share price", "stock price", "trades at", "trading at", "current price",
                        "current", "price", "quote", "quoted price", "priced at", "with the shares at",
                        "with the stock at", "shares changing hands at", "shares are at", "shares were at", "shares closed at"),
    "operating_expenses": ("opex", "operating costs", "operating expenditure", "sg&a"),
    "dcf.equity_value": ("equity value", "equity"),
    "total_equity": ("equity", "shareholders' equity", "book equity"),
    "shares_diluted": ("shares", "share count", "diluted shares"),
    "dcf.value_per_share": ("dcf value",),
    "dcf": ("dcf", "discounted cash flow", "forecast", "forecasts", "projected", "projection", "projections"),
    "dcf.wacc": ("wacc", "discount rate", "cost of capital"),
    "dcf.terminal_growth": ("terminal growth", "perpetual growth", "long-term growth"),
    "dcf.upside": ("upside", "downside"),
    "peers.median_pe": ("peer median p/e", "peers trade at", "peer p/e", "median p/e"),
    "peers.median": ("peer median", "peers' median", "median of peers"),
    "peers": ("peers", "peer", "peer multiple", "peer multiples", "peer group", "comparables", "comparable companies", "comps"),
    "market_cap": ("market cap", "market capitalisation", "market capitalization", "capitalisation",
                   "capitalization", "market value"),
    "enterprise_value": ("enterprise value", "ev"),
    "dcf.enterprise_value": ("dcf ev", "dcf enterprise value"),
}
# names of metrics the platform computes no fact of (a number they name is not checked)
_NO_FACT = "_no_fact"
_NO_FACT_NAMES = ("r&d", "research and development", "sg&a", "selling, general and administrative", "backlog",
                  "order book", "bookings", "orders", "order intake", "headcount", "employees", "arpu",
                  "same-store sales", "like-for-like sales", "market share", "sales and marketing", "marketing",
                  "restructuring", "impairment", "goodwill", "working capital", "buyback", "buybacks",
                  "share buyback", "repurchases", "opex", "operating expenses", "operating costs",
                  # market data that are no facts
                  "52-week high", "52-week low", "all-time high", "all-time low", "beta", "trading volume",
                  "average daily volume", "short interest", "free float", "year-to-date", "ytd")
# phrases that name any of several valuations
_SHARED: dict[str, tuple[str, ...]] = {
    phrase: ("dcf.value_per_share", "peers.implied_value_per_share")
    for phrase in ("value per share", "intrinsic value", "fair value", "worth", "price target", "target price",
                   "valuation", "valued at", "implied value", "implies", "imply", "implying")
}
# "28.8% downside from $26.40": the upside and the price it is measured from
_SHARED.update({phrase: ("dcf.upside", "price_per_share") for phrase in (
    "upside from", "downside from", "upside to", "downside to", "premium to", "discount to",
    *(f"{side} the {price}" for side in ("below", "above", "under", "over")
      for price in ("current price", "share price", "current share price", "market price", "stock price")))})
_SHARED.update({phrase: ("dcf.value_per_share", "peers.implied_value_per_share") for phrase in (
    "values the shares at", "value the shares at", "valuing the shares at", "values the stock at")})
_GENERIC = {"margin": "_margin", "mgn": "_margin", "growth": "_growth_yoy", "cagr": "_cagr", "yield": "_yield"}

_COMPATIBLE = {
    "percent": ("ratio",),
    "points": ("ratio",),
    "multiple": ("multiple",),
    "amount": ("currency", "shares"),
    "money": ("per_share", "currency"),
    "years": ("years",),
    "bare": ("per_share", "multiple", "currency", "shares", "years"),
    "per_share": ("per_share",),
}


# what a check found: the number is one of the facts; it contradicts the fact of the metric (and year) its
# clause attributes it to (a flag); or the checker cannot tell which fact it is about ("could not check")
MATCHED, FLAGGED, UNATTRIBUTED = "matched", "flagged", "unattributed"
# why a flagged number is wrong: the value of another year / metric / base of a share ("X% of net income" that is
# the share of sales) / scale / sign / unit of the attributed fact, or none
KINDS = ("wrong_year", "wrong_metric", "wrong_ratio_base", "wrong_scale", "wrong_sign", "wrong_unit", "wrong_value")


@dataclass(frozen=True)
class NumberCheck:
    start: int
    end: int
    text: str
    value: float  # in the facts' units: a fraction for percentages, whole currency units for amounts
    matched_key: str | None
    ok: bool  # the number is one of the facts
    expected: Fact | None  # for a flag: the fact it should have used; unattributed: the nearest one, if any
    status: str = ""  # MATCHED | FLAGGED | UNATTRIBUTED; "" -> MATCHED when ok, else FLAGGED
    kind: str | None = None  # for a flag: one of KINDS
    by_value: bool = False  # matched, but its clause names no metric: it equals a fact (not attributed to one)

    def __post_init__(self):
        if not self.status:
            object.__setattr__(self, "status", MATCHED if self.ok else FLAGGED)

    @property
    def flagged(self) -> bool:
        return self.status == FLAGGED


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
    lists = _year_lists(text)
    for m in _NUMBER_RE.finditer(text):
        if any(a <= m.start("num") < b for a, b, _ in lists):
            continue  # "2020-24", "FY2022/23/24": years
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
        if re.search(r"(?:\bFY\s?['\u2019]?|['\u2019])$", text[max(0, m.start() - 4):m.start()], re.I) and len(num) == 2:
            continue  # a year: FY'24, FY 24, '24
        if plain_int:
            if 1900 <= value <= 2100 and len(num) == 4:
                continue  # a year
            if value <= 10 and not m.group("sign"):
                continue  # a count
            if _COUNT_AFTER.match(text, m.end()) or _COUNT_BEFORE.search(before):
                continue  # a count or a duration: "within 18 months", "top 20 customers"
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
        elif unit.startswith(("pp", "percentage", "point", "pt")):
            kind = "points"
        elif unit in ("bps", "bp") or unit.startswith("basis"):
            kind, scale = "points", 0.01
        elif unit in ("x", "×", "times"):
            kind = "multiple"
        elif unit in _SCALES:
            kind, scale = "amount", _SCALES[unit]
        elif "year" in unit:
            kind = "years"
        elif _PER_SHARE.match(text, m.end()):
            kind = "per_share"  # "$0.40 per share": only per-share facts
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


def _distance(claim: _Claim, written: float, positive: bool = False) -> tuple[bool, float]:
    """(within rounding or rel_tol, relative distance). An unsigned number matches by magnitude, or as a
    positive number when `positive` (nothing in its clause says it is negative)."""
    c, f = claim.number, written
    if not claim.signed:
        c, f = abs(c), (f if positive else abs(f))
    half = 0.5 * 10 ** -claim.decimals + 1e-9
    diff = abs(c - f)
    return diff <= half, diff / max(abs(f), 1e-12)


# the full stop of an abbreviation does not end a sentence: "FY'22 rev. $983.0m", "i.e. net debt of $112.3m"
_ABBREVIATIONS = frozenset({
    "rev", "op", "co", "cos", "inc", "approx", "est", "vs", "no", "nos", "fig", "yr", "yrs", "avg", "incl", "excl",
    "adj", "mgn", "oper", "div", "divs", "cf", "e.g", "i.e", "eg", "ie", "mkt", "ann", "mths", "mos"})
_WORD_BEFORE_STOP = re.compile(r"(?:^|(?<=[\s(]))((?:[A-Za-z]\.)*[A-Za-z]+)$")


def _sentence_ends(text: str, start: int = 0, end: int | None = None):
    for m in _SENTENCE_END.finditer(text, start, len(text) if end is None else end):
        if m.group() == ".":
            word = _WORD_BEFORE_STOP.search(text, max(0, m.start() - 12), m.start())
            if word and word.group(1).lower() in _ABBREVIATIONS:
                continue
        yield m


def _sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    s = max((m.end() for m in _sentence_ends(text, 0, start)), default=0)
    nxt = next(_sentence_ends(text, end), None)
    return s, nxt.start() if nxt else len(text)


# spellings normalised before a text is read (positions are mapped back to the text as written): Unicode spaces
# (no-break, thin, figure) are spaces, a space between a number and its unit goes ("1.3 x", "24 %", "$195.8 m"),
# an en dash or minus sign before a number is a minus ("–$20.1m") or a range's dash ("2020–2024")
_NORMALISE = re.compile(
    r"(?P<unitspace>(?<=\d)[ \u00a0\u2007\u2009\u202f](?=(?:%|x\b|\u00d7|bn\b|mn\b|m\b|k\b|pp\b|bps\b)))"
    r"|(?P<thousands>(?<=\d)[\u00a0\u2007\u2009\u202f](?=\d{3}(?!\d))|(?<=[$\u20ac\u00a3]\d) (?=\d{3}(?!\d))"
    r"|(?<=[$\u20ac\u00a3]\d\d) (?=\d{3}(?!\d))|(?<=[$\u20ac\u00a3]\d\d\d) (?=\d{3}(?!\d)))"
    r"|(?P<space>[\u00a0\u2002\u2003\u2007\u2009\u200a\u202f])"
    r"|(?P<minus>\u2212|\u2013(?=[$\u20ac\u00a3]?\d))"
    r"|(?P<quote>[\u2018\u2019])", re.IGNORECASE)
_REPLACE = {"unitspace": "", "thousands": ",", "space": " ", "minus": "-", "quote": "'"}


def _normalise(text: str) -> tuple[str, list[int]]:
    """(the normalised text, for each of its positions and its end the position in `text`)."""
    out: list[str] = []
    where: list[int] = []
    pos = 0
    for m in _NORMALISE.finditer(text):
        out.append(text[pos:m.start()])
        where.extend(range(pos, m.start()))
        new = _REPLACE[m.lastgroup]
        out.append(new)
        where.extend([m.start()] * len(new))
        pos = m.end()
    out.append(text[pos:])
    where.extend(range(pos, len(text) + 1))
    return "".join(out), where


def _narrow(first: set[str], other: set[str], qualify: bool) -> set[str]:
    """The metrics of `first` that `other` also names, or (`qualify`: the two names next to the number) that
    qualify one of `other`'s (peers.median_pe of pe)."""
    if first == other:
        return set()
    both = first & other
    qualified = {m for m in first | other if any(m != b and m.endswith(("_" + b, "." + b))
                                                    for b in (other if m in first else first))} if qualify else set()
    narrowed = both | qualified
    return narrowed if narrowed and narrowed != first else set()


def _counterparts(metrics: set[str], known: dict) -> set[str]:
    out = set()
    for m in metrics:
        if m.startswith("peers.median_") and m.removeprefix("peers.median_") in known:
            out.add(m.removeprefix("peers.median_"))
        elif "peers.median_" + m in known:
            out.add("peers.median_" + m)
    return out


class _Vocabulary:
    """Alias phrase -> metrics, from the facts at hand."""

    bases: list[tuple[int, int]] = []  # spans of the bases of "X% of <base>" phrases in the text being read
    own: int = 0  # of the sets `mentioned` returned last, how many its own clause names
    numbers: list[tuple[int, int]] = []  # spans of the numbers of the text being read
    glosses: list[tuple[int, int]] = []  # spans of its parentheses without a number
    after_first: bool = False  # whether the name `mentioned` put first is the one after the number

    def __init__(self, facts: FactSet):
        self.metrics: dict[str, list[Fact]] = {}
        for fact in facts.available():
            self.metrics.setdefault(fact.metric, []).append(fact)
        phrases: dict[str, set[str]] = {}
        for metric, group in self.metrics.items():
            label = group[0].label.lower()
            names = {re.sub(r"\s*\(.*?\)", "", label).strip()} | set(re.findall(r"\((.*?)\)", label))
            # "Implied value per share (peer median EV/EBITDA)": "$28.69 (EV/EBITDA)", "$29.70 on P/E"
            names |= {n.removeprefix("peer median ") for n in re.findall(r"\((.*?)\)", label)
                      if n.startswith("peer median ")}
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
            # "FCF per share" is also written "FCF/sh", "FCF/share"
            names |= {n.removesuffix(" per share") + tail for n in names if n.endswith(" per share")
                      for tail in ("/share", "/sh", " per sh")}
            for name in names:
                if len(name) >= 2 and name not in ("yoy",):
                    phrases.setdefault(name, set()).add(metric)
            for phrase, bases in _SHARED.items():
                if any(metric == b or metric.startswith(b + "_") for b in bases):
                    phrases.setdefault(phrase, set()).add(metric)
        # a metric the platform has no fact of here ("opex" without operating expenses, "R&D", "backlog") names the
        # number's subject all the same: a number it names is not checked (unattributed), never one of another metric
        for base, aliases in _ALIASES.items():
            if not any(m == base or m.startswith((base + "_", base + ".")) for m in self.metrics):
                for alias in aliases:
                    phrases.setdefault(alias, {_NO_FACT})
        for name in _NO_FACT_NAMES:
            phrases.setdefault(name, {_NO_FACT})
        self.phrases = phrases
        # the peers the facts carry ("peers.<slug>.pe", labelled "<peer name> P/E"): their names as written
        # ("Bluecrest Tools (Fictional)", "Bluecrest Tools", "Bluecrest", "Bluecrest's")
        labels: dict[str, list[str]] = {}
        for metric, group in self.metrics.items():
            parts = metric.split(".")
            if len(parts) == 3 and parts[0] == "peers":
                labels.setdefault(parts[1], []).append(group[0].label)
        self.peers: dict[str, str] = {}  # name as written (lower case) -> slug
        for slug, names in labels.items():
            full = os.path.commonprefix(names).strip() if len(names) > 1 else names[0].rsplit(" ", 1)[0]
            plain = re.sub(r"\s*\(.*?\)\s*", " ", full).strip()
            for name in {full, plain, plain.split(" ")[0]}:
                if len(name) >= 3:
                    self.peers[name.lower()] = slug
        self._peer_re = re.compile(
            r"\b((?i:" + "|".join(re.escape(n) for n in sorted(self.peers, key=len, reverse=True))
            + r"))(?:'s|\u2019s)?(?!\w)"
            r"|\b[A-Z][a-z]+(?:'s|\u2019s)(?!\w)") if self.peers else None
        # the words of metric names, for reading misspelt ones ("gross margn")
        self.words = {w for phrase in phrases for w in re.findall(r"[a-z]{4,}", phrase)}
        self.words |= {w for name in self.peers for w in re.findall(r"[a-z]{4,}", name)}  # "Bluercest"
        self.spelling = _spelling_index(self.words)
        self._re = re.compile(
            r"(?<![\w/])(" + "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
            + r")(?:s|es)?(?![\w/])",
            re.IGNORECASE) if phrases else None

    def _sets(self, matches) -> list[set[str]]:
        return [set(self.phrases.get(m.group(1).lower(), ())) for m in matches]

    def mentioned(self, text: str, claim: _Claim, lo: int, clo: int, chi: int) -> list[set[str]]:
        """Sets of metrics the number may be about, most likely first. In the number's own clause
        (text[clo:chi]): the metric named nearest before it (or right after it, "40.0% gross margin", when
        nothing is named right before it), then the one named after it, then the others before it, nearest
        first; then, carried over, those named in the sentence's earlier clauses (from lo), nearest first."""
        self.own = 0
        if self._re is None:
            return []
        before = sorted(self._found(text, max(clo, claim.start - 160), claim.start),
                        key=lambda m: m.end(), reverse=True)
        # "generated $146.6m of operating cash flow and spent $49.2m on capex": a name right after an earlier
        # number ("of", "on" ...) is that number's, and comes last for this one
        taken = [m for m in before if any(n1 <= m.start() and _NAME_AFTER.fullmatch(text, n1, m.start())
                                          for n0, n1 in self.numbers if n1 <= claim.start)]
        # ("19.15 on the peer median EV/EBITDA": a value implied by the multiple named after it)
        gap = re.match(r"[ \t\u00a0]*(\(|(?:of|in|on|for)\s+(?:the\s+|its\s+)?)?(?:(?:trailing|forward|current|"
                       r"historic(?:al)?|annual|annuali[sz]ed|reported|adjusted|underlying|organic|consolidated|diluted"
                       r"|(?:peer\s+)?median)\s+(?P<qualified>))?",
                       text[claim.end:chi])
        start_after = claim.end + (gap.end() if gap else 0)
        year_gap = _YEAR_BEFORE_METRIC.match(text, start_after, chi)  # "16.4x FY2024 earnings"
        if year_gap:
            start_after = year_gap.end()
        after = self._re.match(text, start_after, chi) if start_after < chi else None
        if after is not None and self._is_base(after):
            after = None
        carried = sorted(self._found(text, max(lo, claim.start - 160), max(lo, clo)),
                         key=lambda m: m.end(), reverse=True)
        # names inside a parenthesis the number is not in name its numbers ("(median P/E 18.7x, EV/EBITDA 11.5x)
        # the implied value is $10.22")
        enclosing = [p.span() for p in re.finditer(r"\([^()]*\)", text[:chi]) if p.end() > lo]

        def outside(m) -> bool:
            return not any(p0 < m.start() < p1 and not p0 < claim.start < p1 for p0, p1 in enclosing)
        before, carried = [m for m in before if outside(m)], [m for m in carried if outside(m)]
        before_sets, after_set = self._sets(before), self._sets([after])[0] if after else set()
        adjacent_before = bool(before) and not text[before[0].end():claim.start].strip(" :=\u00a0")
        # "net income of $154.9m", "EPS came in at $0.72": a metric bound to the number by a few words
        bound_before = bool(before) and _BOUND.fullmatch(text, before[0].end(), claim.start) is not None
        # "spent $58.9m on capex", "40.0% gross margin": a metric right after the number, or after a preposition
        # (or after a qualifier: "the 6.8% historical FCF margin", "23.7x trailing earnings")
        bound_after = after is not None and (after.start() - claim.end <= 1 or bool(gap and gap.group(1))
                                             or bool(year_gap) or bool(gap and gap.group("qualified") is not None))
        self.after_first = True
        if bound_after and before and before[0] in taken and not _narrow(before_sets[0], after_set, qualify=True):
            before = [m for m in before if m not in taken] + taken
            before_sets = self._sets(before)
            order = [after_set] + before_sets
        elif adjacent_before or after is None or not bound_after or (bound_before and after.start() - claim.end > 1):
            order = before_sets[:1] + [after_set] + before_sets[1:]
            self.after_first = not before_sets
        else:
            order = [after_set] + before_sets
        # two metrics named in the clause: the metric both name ("the peer median P/E implies $45.00": the value
        # implied by the peer P/E), or one qualified by the other ("7.0x EV/EBITDA against 8.6x for peers")
        own = [m for m in order if m]
        narrowed = [n for other in own[1:] if (n := _narrow(own[0], other, qualify=False))]
        if after_set and before_sets and bound_after:
            narrowed.insert(0, _narrow(before_sets[0], after_set, qualify=True))
        order = [n for n in narrowed if n][:1] + order
        order = [m for m in order if m]
        self.own = len(order)  # the first `own` sets are named in the number's own clause
        order += [m for m in self._sets(carried) if m]
        if _COUNTERPART_BEFORE.search(text, max(clo, claim.start - 40), claim.start):
            # "the peer median P/E of 15.0x compares with its own 12.0x": a number compared with a metric may be
            # its counterpart (the company's own, or the peers')
            order = [m | _counterparts(m, self.metrics) for m in order]
        return order

    def _is_base(self, found) -> bool:
        return any(b0 <= found.start() < b1 for b0, b1 in self.bases)

    def _found(self, text: str, start: int, end: int):
        """The metric names in text[start:end], but the base of a share ("X% of net income" names no net
        income)."""
        return [m for m in self._re.finditer(text, start, end)
                if not self._is_base(m) and not any(g0 < m.start() < g1 for g0, g1 in self.glosses)]


def _clauses(text: str, lo: int, hi: int, vocabulary: _Vocabulary, numbers: list[int]) -> list[int]:
    """Starts of the clauses of the sentence text[lo:hi] (the first is lo)."""
    starts = {lo}
    for m in _CLAUSE_BREAK.finditer(text, lo, hi):
        starts.add(m.end())
    for m in _AND.finditer(text, lo, hi):
        if re.search(r"\bbetween\s+(?:FY\s?)?\d{4}$", text[max(lo, m.start() - 20):m.start()], re.I):
            continue  # "between 2020 and 2024"
        if _AND_YEAR.match(text, m.end()) or (vocabulary._re is not None and vocabulary._re.match(text, m.end())):
            starts.add(m.start())
    # "EBITDA of $265.2m (2023: $235.7m) put the margin at 22.5%": the year of the parenthesis stays in it
    for m in _YEAR_PARENTHESIS.finditer(text, lo, hi):
        starts.add(m.start())
        starts.add(m.end())
    # ", net debt reached $200.0m": a comma before a new metric starts a clause once the sentence has a number
    # before it ("In 2023, revenue grew ..." keeps its leading year)
    for m in _COMMA_SUBJECT.finditer(text, lo, hi):
        if (vocabulary._re is not None and vocabulary._re.match(text, m.end())
                and any(lo <= c < m.start() for c in numbers)):
            starts.add(m.end())
    return sorted(starts)


def _clause_of(starts: list[int], hi: int, pos: int) -> tuple[int, int]:
    clo = max(s for s in starts if s <= pos)
    nxt = [s for s in starts if s > pos]
    return clo, nxt[0] if nxt else hi


def _year_lists(text: str) -> list[tuple[int, int, frozenset[int]]]:
    """(start, end, years) of the year lists and short spans of `text`: "FY22/FY23/FY24", "FY2022/23/24" (each
    year listed), "2020-24" (every year of the span)."""
    out = []
    for m in _YEAR_LIST.finditer(text):
        years = [int(y) if len(y) == 4 else 2000 + int(y) for y in re.findall(r"(?<!\d)\d{2}(?:\d{2})?(?!\d)",
                                                                         m.group())]
        if "/" in m.group():
            out.append((m.start(), m.end(), frozenset(years)))
        elif len(years) == 2 and years[1] > years[0]:
            out.append((m.start(), m.end(), frozenset(range(years[0], years[1] + 1))))
    return out


def _year_tokens(text: str) -> list[tuple[int, int, frozenset[int], bool, bool]]:
    """(start, end, years, relative, base) of the fiscal years named in text; a span "2022-2024" names all of them; "a year
    earlier" names the year before the one named before it, "that year" the one named before it."""
    lists = _year_lists(text)
    found = [(m.start(), m.end(), int(m.group(1)) if m.group(1) else 2000 + int(m.group(2)))
             for m in _YEAR_RE.finditer(text) if not any(a <= m.start() < b for a, b, _ in lists)]
    tokens, i = [], 0
    while i < len(found):
        start, end, year = found[i]
        joined = re.fullmatch(r"\s?(?:-|\u2013|to|through)\s?", text[end:found[i + 1][0]]) if i + 1 < len(found) else None
        if i + 1 < len(found) and not joined and re.search(r"\bbetween\s+$", text[max(0, start - 10):start], re.I):
            joined = re.fullmatch(r"\s+and\s+", text[end:found[i + 1][0]])  # "between 2023 and 2024"
        if joined and found[i + 1][2] > year:
            tokens.append((start, found[i + 1][1], frozenset(range(year, found[i + 1][2] + 1)), False))
            i += 2
        else:
            tokens.append((start, end, frozenset({year}), False))
            i += 1
    tokens += [(a, b, years, False) for a, b, years in lists]
    tokens.sort(key=lambda t: t[:2])
    # "compared with 2023, when revenue reached ...": a year followed by "when" is the year of that clause
    tokens = [(start, end, years, len(years) == 1 and _BASE_YEAR_BEFORE.search(text, max(0, start - 20), start) is not None
               and not _WHEN_AFTER.match(text, end) and not _YEAR_OF_NEXT_NUMBER.match(text, end))
              for start, end, years, _ in tokens]  # here the flag marks a base year; relative ones below
    tokens = [(start, end, years, False, base) for start, end, years, base in tokens]
    # "EBITDA of $260.0m (2023: $200.0m)": a sentence that names no year but a comparison's in a parenthesis is
    # about the year after it
    for m in _YEAR_PARENTHESIS.finditer(text):
        inside = [t for t in tokens if m.start() < t[0] < m.end() and len(t[2]) == 1]
        lo, hi = _sentence_bounds(text, m.start(), m.end())
        parentheses = [p.span() for p in _YEAR_PARENTHESIS.finditer(text, lo, hi)]
        if inside and not any(lo <= t[0] < hi and not any(p0 < t[0] < p1 for p0, p1 in parentheses)
                              for t in tokens):
            tokens.append((m.start(), m.start(), frozenset(y + 1 for y in inside[0][2]), False, False))
    tokens.sort(key=lambda t: t[:2])
    named = list(tokens)
    for m in _RELATIVE_YEAR_RE.finditer(text):
        prior = [t for t in named if t[1] <= m.start() and len(t[2]) == 1]
        if not prior:
            continue
        last = max(prior, key=lambda t: t[1])
        (year,) = last[2]
        lo, _ = _sentence_bounds(text, m.start(), m.end())
        if last[0] < lo:
            # "EPS was up 57.9% on the prior year's $0.35" after a sentence naming 2024 and 2023: the year it is
            # relative to is certain only when the sentence before names one year
            plo, _ = _sentence_bounds(text, last[0], last[1])
            if len({t[2] for t in named if plo <= t[0] < lo}) != 1:
                continue
        if m.group("nprior"):  # "compares with 10.3% four years earlier"
            n = m.group("nprior").lower()
            tokens.append((m.start(), m.end(), frozenset({year - int(_NUMBER_WORDS.get(n, n))}), True, False))
        elif m.group("prior"):  # "up 3.0% on the previous year" names the base of a change
            base = _BASE_YEAR_BEFORE.search(text, max(0, m.start() - 20), m.start()) is not None
            tokens.append((m.start(), m.end(), frozenset({year - 1}), True, base))
        elif m.group("next"):  # "a year later revenue reached ..."
            tokens.append((m.start(), m.end(), frozenset({year + 1}), True, False))
        elif m.group("later"):  # "peaked at $146.5m in 2022 and has since fallen to $112.3m": any year after
            tokens.append((m.start(), m.end(), frozenset(range(year + 1, year + 11)), True, False))
        else:  # "that year", "the same year": the year named last, or the first one of its sentence
            lo, _ = _sentence_bounds(text, last[0], last[1])
            first = min((t for t in prior if t[0] >= lo), key=lambda t: t[0])
            tokens.append((m.start(), m.end(), last[2] | first[2], True, False))
    return sorted(tokens, key=lambda t: t[:2])


def _years_for(text: str, claim: _Claim, tokens, others: list[_Claim], lo: int, hi: int, clo: int, chi: int
               ) -> tuple[frozenset[int] | None, bool]:
    """The fiscal year (or span) a number is about: the one named nearest to it in its own clause, not past
    another number; else the one leading its clause; else carried over from the nearest earlier clause of the
    sentence, unless it is a year of a comparison ("from $192.9m in 2023", "unchanged from 2023"); else none. With
    whether the year was named in the number's own clause. A relative year ("a year earlier") counts only in
    its own clause. A number compared with one before it ("rose to $1.2bn in 2024 from $1.1bn", "..., up from
    $235.7m") is about the year before the one named for the first."""
    def nearest(cands):
        best = None
        for t in cands:
            dist, order = (t[0] - claim.end, 0) if t[0] >= claim.end else (claim.start - t[1], 1)
            if order == 0 and _YEAR_OF_NUMBER.fullmatch(text, claim.end, t[0]):
                dist = -1  # "$79.2m in 2023": a year bound to the number by a preposition is its year
            if best is None or (dist, order) < best[:2]:
                best = (dist, order, t)
        return best[2] if best else None

    # a base year ("up 21.0% on FY2023") is the year before the one a change is about, and no year of a level
    change = claim.kind in ("percent", "points")
    tokens = [(t[0], t[1], frozenset(y + 1 for y in t[2]), t[3], False) if t[4] and change else t
              for t in tokens if change or not t[4]]
    own = [t for t in tokens if clo <= t[0] and t[1] <= chi and not (t[0] < claim.end and claim.start < t[1])]
    # "has compounded at 25.6% since 2020, to $522.4m in 2024": the start year of a comparison ("since 2020",
    # "from $88.0m in 2022") is the year of the number it names, not of the other numbers of its clause
    starts_of_others = [t for t in own if (m := _COMPARED_YEAR.search(text, max(lo, t[0] - 40), t[0]))
                        and not (m.start() <= claim.start < t[0]) and text[m.start():m.start() + 1] != "("
                        and not _YEAR_OWNS_NEXT.fullmatch(text, t[1], claim.start)]
    if len(starts_of_others) < len(own):
        own = [t for t in own if t not in starts_of_others]
    # "the fastest since 2022": a year after the number that starts a period is not the number's year
    own = [t for t in own if not (t[0] >= claim.end and re.search(r"\bsince\s+(?:FY\s?)?$", text[max(0, t[0] - 9):t[0]],
                                                                  re.I))]
    # a year inside a parenthesis is of the numbers in it ("EBITDA mgn 19% (FY'23 16%)"; "last year (2024)" names
    # no number)
    parentheses = [p.span() for p in re.finditer(r"\([^()]*\)", text[:hi]) if p.end() > lo
                   and any(p.start() < c.start < p.end() for c in others)]
    own = [t for t in own if not any(p0 < t[0] < p1 and not p0 < claim.start < p1 for p0, p1 in parentheses)]
    # "widened by 1.0pp in 2021 and by 0.5pp again in 2024": a year bound to an earlier number is that number's
    def past_another(t) -> bool:
        return any((claim.end <= c.start < t[0]) if t[0] >= claim.end else (t[1] <= c.start < claim.start)
                   for c in others)

    bound = [t for t in own if t[1] <= claim.start and any(
        c.end <= t[0] and _YEAR_OF_NUMBER.fullmatch(text, c.end, t[0]) for c in others)]
    if any(t not in bound and not past_another(t) for t in own):
        own = [t for t in own if t not in bound]
    free = [t for t in own if not any(
        (claim.end <= c.start < t[0]) if t[0] >= claim.end else (t[1] <= c.start < claim.start) for c in others)]
    leading = [t for t in own if t[1] <= claim.start]  # "In 2024, revenue grew 3.0% to $1.6bn"
    earlier = [t for t in tokens if lo <= t[0] and t[1] <= clo and not t[3]]
    plain = [t for t in earlier if not _COMPARED_YEAR.search(text, max(lo, t[0] - 40), t[0])]
    starting = [t for t in earlier if t not in plain and not t[4]]
    # "the first move since FY2022, when it rose 50bps to 14.5%": the year before ", when" is the year of its clause
    when = [t for t in earlier if (w := _WHEN_AFTER.match(text, t[1])) and w.end() >= clo - 1 and len(t[2]) == 1]
    if free or leading:
        token, own_clause = nearest(free or leading), True
    elif when:
        return when[-1][2], True
    elif starting and _FROM_BEFORE.search(text, max(lo, claim.start - 12), claim.start):
        # "went from $88.0m in 2022 to $135.0m in 2024, with the net margin moving from 11.0% to 11.2%": the
        # start of a move in a clause that names no year is the start named earlier ("since 2022")
        return max(starting, key=lambda t: t[1])[2], False
    elif change and (closing := [t for t in own if t[0] >= claim.end and not t[3] and not _COMPARISON_WORD.search(
            text, claim.end, t[0]) and not any(claim.end <= c.start < t[0] and not re.fullmatch(
                r"\s+to\s+(?:US\$|\$|\u20ac|\u00a3)?", text[claim.end:c.start]) for c in others)]):
        # "net income rose 14.9% to $153.6m in 2024": the year closing the clause, past the level the change
        # reached, is the year of the change
        token, own_clause = nearest(closing), True
    elif plain:
        token, own_clause = max(plain, key=lambda t: t[1]), False
    else:
        return None, False
    if (change and own_clause and token[1] <= claim.start and len(token[2]) == 1 and not token[3]
            and not _YEAR_OWNS_NEXT.fullmatch(text, token[1], claim.start)):
        # "$1.18bn in 2024 vs $1.07bn in 2023 (+10.0%)": a change after the year of a comparison is about the
        # year compared with it
        against = _COMPARED_YEAR.search(text, max(lo, token[0] - 40), token[0])
        if against and text[against.start():against.start() + 1] != "(" and re.search(r"\d", against.group()):
            return frozenset(y + 1 for y in token[2]), own_clause
    compared = _COMPARED_BEFORE.search(text, max(lo, claim.start - 30), claim.start)
    if compared and token[1] <= compared.start() and len(token[2]) == 1 and not token[3]:
        return frozenset(y - 1 for y in token[2]), own_clause
    return token[2], own_clause


def _fact_years(fact: Fact) -> frozenset[int]:
    """The years a fact is about; a span fact (revenue_cagr.2020_2024) is about every year of it."""
    years = fact.years
    return frozenset(range(years[0], years[-1] + 1)) if len(years) == 2 else frozenset(years)


def _about(fact: Fact, years: frozenset[int], own_clause: bool) -> bool:
    """Whether a fact is about one of the years: a span fact (a CAGR) by the years at its ends, or by any of its
    years when the year is carried over from another clause ("after 22.0% growth in 2023, giving a four-year
    CAGR of 25.6%")."""
    return bool(years & (frozenset(fact.years) if own_clause else _fact_years(fact)))


def _share_of(text: str, claim: _Claim, vocabulary: _Vocabulary, clo: int, chi: int) -> set[str] | None:
    """The ratio a "X% of net income / of sales" phrase names, from what the clause says X is."""
    if claim.kind != "percent":
        return None
    m = _SHARE_OF.match(text, claim.end)
    if not m:
        return None
    base = m.group("base").lower()
    named: set[str] = set()
    if vocabulary._re is not None:
        # the subject named before the number ("free cash flow was 11.6% of sales and 103.7% of net income"),
        # else any named in the clause; never the base of a share
        for lo, hi in ((clo, claim.start), (clo, chi)):
            for found in vocabulary._found(text, lo, hi):
                named |= vocabulary.phrases.get(found.group(1).lower(), set())
            if named:
                break
    clause = text[clo:chi]
    if base.startswith(("rev", "sales", "turnover", "top")):
        ratios = {r for metric, r in _SHARE_OF_SALES.items() if metric in named}
        return ratios or {mt for mt in vocabulary.metrics if mt.endswith("_margin")}
    ratios = {r for metric, r in _SHARE_OF_EARNINGS.items() if metric in named}
    ratios |= {r for word, r in _SHARE_OF_EARNINGS_WORDS if word.search(clause)}
    return ratios or {"cash_conversion", "payout_ratio"}


_WORD = re.compile(r"[A-Za-z]{4,}")


def _spelling_index(words: set[str]) -> dict[str, set[str]]:
    """Each word with one letter dropped -> the words it comes from (with the words themselves)."""
    index: dict[str, set[str]] = {}
    for word in words:
        for i in range(1, len(word)):
            index.setdefault(word[:i] + word[i + 1:], set()).add(word)
    return index


def _corrected(token: str, words: set[str], index: dict[str, set[str]]) -> tuple[str, bool] | None:
    """The metric word a misspelt word stands for ("Reveune", "margn", "Dividens", "yeild", "flwo"): one letter
    swapped with its neighbour, or one letter missing, added or changed inside the word (its first and last
    letters as written, so plurals and other words that end differently, "media" / "median", stay as they are);
    with whether it was a swap (other edits turn real words into metric words: "grows", "divided", "pride")."""
    t = token.lower()
    if t in words:
        return None
    found: set[str] = set()
    for i in range(1, len(t) - 1):  # two neighbours swapped
        swapped = t[:i] + t[i + 1] + t[i] + t[i + 2:]
        if swapped in words:
            found.add(swapped)
    if len(found) == 1:
        (word,) = found
        return (word.capitalize() if token[0].isupper() else word), True
    if len(t) >= 5:
        found |= {w for w in index.get(t, ()) if w[0] == t[0] and w[-1] == t[-1]}  # a letter missing
        for i in range(1, len(t) - 1):
            shorter = t[:i] + t[i + 1:]
            if shorter in words:  # a letter added
                found.add(shorter)
            found |= {w for w in index.get(shorter, ()) if len(w) == len(t) and w[0] == t[0] and w[-1] == t[-1]
                      and w[:i] + w[i + 1:] == shorter}  # a letter changed
    if len(found) != 1:
        return None
    (word,) = found
    return (word.capitalize() if token[0].isupper() else word), False


def _correct_spelling(text: str, vocabulary: _Vocabulary) -> tuple[str, list[int]]:
    """`text` with its misspelt metric words respelt, and for each position the position in `text`. A swap of two
    letters is respelt anywhere; a letter added in a word of 7 letters or more ("operaating", "marrgin"), or where
    the word then completes a metric name of several words ("net incme", "gross margn", "Dividens paid"). The
    words the checker reads besides metric names (scale words, months, comparisons) are respelt too."""
    out, where, pos = [], [], 0
    for m in _WORD.finditer(text):
        corrected = _corrected(m.group(), vocabulary.words, vocabulary.spelling)
        if corrected is None and len(m.group()) >= 6:
            # the words that carry scale, dates and comparisons ("billiion", "Deecember", "whreas", "cmpared")
            corrected = _corrected(m.group(), _FUNCTION_WORDS, _FUNCTION_SPELLING)
            corrected = (corrected[0], True) if corrected else None
        if corrected is None:
            continue
        fixed, swapped = corrected
        if not swapped and not (len(m.group()) >= 7 and len(m.group()) == len(fixed) + 1):
            window_start = max(0, m.start() - 40)
            window = text[window_start:m.start()] + fixed + text[m.end():m.end() + 40]
            at = m.start() - window_start
            if not any(" " in p.group(1) and p.start() <= at < p.end()
                       for p in vocabulary._re.finditer(window)):
                continue
        out.append(text[pos:m.start()])
        where.extend(range(pos, m.start()))
        out.append(fixed)
        where.extend(m.start() + min(i, len(m.group()) - 1) for i in range(len(fixed)))
        pos = m.end()
    out.append(text[pos:])
    where.extend(range(pos, len(text) + 1))
    return "".join(out), where


# words that are no metric's but that the checker reads: scale words, months, comparisons and clause words
_FUNCTION_WORDS = frozenset({
    "thousand", "million", "billion", "trillion", "percent", "percentage", "points", "january", "february",
    "march", "april", "august", "september", "october", "november", "december", "whereas", "compared",
    "against", "versus", "although", "compounded", "compound", "compounding", "annual", "annually", "earlier",
    "previous", "following", "between", "declined", "decreased", "increased", "expanded", "contracted",
    "narrowed", "widened", "improved", "deteriorated", "negative", "deficit", "downside", "upside", "discount",
    "premium", "median", "implies", "implying", "valuation",
    # the words of what is no claim and of lists ("guidance", "consensus", "rather", "respectively")
    "respectively", "guiding", "guidance", "guides", "guided", "target", "targets", "targeting", "consensus",
    "expects", "expected", "expectation", "expectations", "estimate", "estimates", "estimated", "outlook", "instead",
    "rather", "medians", "hypothetical", "pencilled", "penciled", "anticipates", "budgeted"})
_FUNCTION_SPELLING = _spelling_index(set(_FUNCTION_WORDS))
_DEBUG = False
_VOCABULARIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _vocabulary(facts: FactSet) -> _Vocabulary:
    """The vocabulary of a fact set, built once per set (a report's paragraphs share one); a copy per call, whose
    per-text state (`bases`) is its own."""
    keys = tuple(f.key for f in facts.available())
    cached = _VOCABULARIES.get(facts)
    if cached is None or cached[0] != keys:
        cached = (keys, _Vocabulary(facts))
        _VOCABULARIES[facts] = cached
    return copy.copy(cached[1])


def check_numbers(text: str, facts: FactSet, *, rel_tol: float = 0.005) -> list[NumberCheck]:
    """One NumberCheck per number-like claim in `text`, in order."""
    original = text
    text, where = _normalise(text)
    vocabulary = _vocabulary(facts)
    text, respelt = _correct_spelling(text, vocabulary)
    where = [where[i] for i in respelt]
    available = facts.available()
    claims = _parse(text)
    tokens = _year_tokens(text)
    by_year = {(f.metric, f.period): f for f in available if f.period}
    bases = [m.span("base") for c in claims if c.kind == "percent" and (m := _SHARE_OF.match(text, c.end))]
    glosses = [p.span() for p in _GLOSS.finditer(text)]
    starts = [c.start for c in claims]
    sentence_clauses: dict[tuple[int, int], list[int]] = {}
    vocabulary.bases, vocabulary.glosses = bases, glosses
    respectively = _respectively(text, claims, vocabulary)
    checks = []
    checks_by_claim: list[NumberCheck | None] = [None] * len(claims)
    by_key = {f.key: f for f in available}
    # the last fiscal year of the reported facts (not the DCF's forecast years)
    last_year = max((f.period for f in available if f.period and not f.metric.startswith("dcf.")), default=None)
    for index, claim in enumerate(claims):
        lo, hi = _sentence_bounds(text, claim.start, claim.end)
        if (lo, hi) not in sentence_clauses:
            sentence_clauses[(lo, hi)] = _clauses(text, lo, hi, vocabulary, starts)
        clo, chi = _clause_of(sentence_clauses[(lo, hi)], hi, claim.start)
        vocabulary.bases = bases
        vocabulary.numbers = [(c.start, c.end) for c in claims]
        vocabulary.glosses = glosses
        units = _COMPATIBLE[claim.kind]
        peer = _peer_of(text, claim, lo, vocabulary)
        if peer is not None:
            # a number of a named peer: checked against that peer's facts, never against the company's own
            checks.append(_peer_check(text, original, where, claim, peer, available, vocabulary, lo, clo, chi,
                                      rel_tol))
            checks_by_claim[index] = checks[-1] if checks[-1].status != UNATTRIBUTED else None
            continue
        compatible = [f for f in available if f.unit in units
                      and not (claim.currencies and f.unit in ("shares", "years", "multiple"))
                      and (f.unit != "ratio" or f.metric.endswith("_change") == (claim.kind == "points"))]
        mentioned = vocabulary.mentioned(text, claim, lo, clo, chi)
        own = vocabulary.own  # how many of `mentioned` its own clause names
        if not own and mentioned and (_ELIDED_SUBJECT.match(text, clo) or text[max(0, clo - 2):clo].strip() == "("
                                      or claim.kind == "points"):
            # "80% of net income in 2024, up from 73.4% in 2023": the metric of the number it is compared with
            previous = [k for c, k in zip(claims, checks_by_claim, strict=True) if k is not None
                        and lo <= c.start < clo and c.kind == claim.kind]
            if previous and (metric := _metric_of(previous[-1], by_key)):
                # and then the subject of the clause before ("... 1,948.7m in 2029, after 1,210.0m in 2024": the
                # forecast's subject, revenue, in a year of no forecast)
                mentioned = [{metric}] + mentioned
                own = len(mentioned)
            elif claim.kind == "points" or _CHANGE_CLAUSE.match(text, clo):
                own = 1  # "free cash flow of $130.0m in 2024, up 18.4%": a change of the subject before
        if claim.kind == "years" and not any(f.unit == "years" and f.metric in m for m in mentioned for f in available):
            continue  # a duration ("over the next 5 years"), not a claim about a years fact
        if claim.kind == "percent" and _COMPOUND.search(text, clo, chi):
            # "revenue compounded at 23.0%", "a CAGR of": the compound growth rate of the metric named
            mentioned = [{m for m in ms if m.endswith("_cagr")} or ms for ms in mentioned]
        elif claim.kind == "percent" and not _SPAN_WORDS.search(text, lo, hi):
            # "rev. +9% y/y in FY'24": a growth rate of one year, not a CAGR, unless the sentence names a span
            mentioned = [{m for m in ms if not m.endswith("_cagr")} or ms for ms in mentioned]
        if index in respectively:
            mentioned, own = [respectively[index]] + mentioned, own + 1
        ratio = _share_of(text, claim, vocabulary, clo, chi)
        if ratio:
            mentioned, own = [ratio] + mentioned, own + 1
        versus_price = _VERSUS_PRICE.match(text, claim.end) if claim.kind == "percent" else None
        if versus_price and "dcf.upside" in vocabulary.metrics:
            # "28.8% under the $26.40 share price": the upside (or downside) to the price, signed by its side
            mentioned, own = [{"dcf.upside"}] + mentioned, own + 1
            if not claim.signed:
                below = versus_price.group("side").lower() in ("below", "under", "beneath", "short")
                claim = replace(claim, number=-abs(claim.number) if below else abs(claim.number), signed=True)
        others = [c for c in claims if c.start != claim.start and lo <= c.start < hi]
        years, own_clause = _years_for(text, claim, tokens, others, lo, hi, clo, chi)
        span_end = False
        if years and len(years) > 1 and not (claim.kind == "percent" and _COMPOUND.search(text, clo, chi)):
            # "between 2020 and 2024, from $0.77 to $1.25": the move starts in the first year, ends in the last
            if _FROM_BEFORE.search(text, max(clo, claim.start - 12), claim.start):
                years, span_end = frozenset({min(years)}), True
            elif re.search(r"\bto\s+$", text[max(clo, claim.start - 6):claim.start]) and re.search(
                    r"\bfrom\s+\S*\d", text[clo:claim.start]):
                years, span_end = frozenset({max(years)}), True
        if claim.kind in ("per_share", "money", "bare"):
            # "net income of $135.0m, or $3.00 per share": a per-share amount of earnings is EPS
            mentioned = [m | {"eps_diluted"} if m & {"net_income", "pe"} else m for m in mentioned]
        named = [(n, i < own) for i, metrics in enumerate(mentioned)
                 if (n := [f for f in compatible if f.metric in metrics])]
        # the nearest named metric in the named year; else another named metric in that year ("revenue is
        # forecast to reach 1,331m in 2025, after 1,210m in 2024"); else the nearest named metric; else any fact
        # a named metric of no fiscal year at all (WACC, peer medians) is as true in any year. Each option with
        # whether the number's own clause names its metric (an attribution the checker is confident of)
        in_year = [([f for f in n if _about(f, years, own_clause)] if any(f.years for f in n) else n, mine)
                   for n, mine in named] if years else []
        # a metric the number's own clause names, in any year, before one carried over from an earlier clause
        # ("FY'23 ND/EBITDA fell to 2.4x, while the stock trades on 10.2x P/E": P/E, of which there is no FY'23)
        options = [o for o in in_year if o[1]] + [n for n in named[:1] if n[1]] + [o for o in in_year if not o[1]]
        options += [n for n in named[:1] if not n[1]]
        if years:
            options.append(([f for f in compatible if _about(f, years, own_clause)], None))
        options.append((compatible, None))
        pool, attributed = next(((o, mine) for o, mine in options if o), ([], None))
        if _DEBUG:
            print("DEBUG", claim.text, own, [sorted(m)[:3] for m in mentioned][:3], years, own_clause, attributed,
                  [f.key for f in pool][:5])
        # an unsigned number is a positive one unless its clause says otherwise ("a loss of", "downside")
        positive = not claim.signed and not _NEGATIVE_CUE.search(text, clo, chi)
        # "net debt fell by $32.8m in 2024": an amount of change is the difference from the year before
        by_change = claim.kind in ("amount", "money") and _BY_AMOUNT.search(text, max(clo, claim.start - 40),
                                                                            claim.start) is not None
        best_ok, nearest = _best(claim, pool, positive, rel_tol, by_change, by_year)
        value = claim.number * (claim.scale / 100 if claim.kind in ("percent", "points") else claim.scale)
        start, end = where[claim.start], where[claim.end - 1] + 1
        written = original[start:end]
        if (best_ok is not None and attributed is None and own and not any(mine for _, mine in named)
                and (unit := _wrong_unit(claim, [f for f in available if f.metric in mentioned[0]], years, False))):
            # "an FCF yield of 4.8x": its clause names a metric of another unit; that the value equals some other
            # fact ("by value") does not make it right
            start, end = where[claim.start], where[claim.end - 1] + 1
            checks.append(NumberCheck(start, end, original[start:end], value, None, False, unit[1], FLAGGED,
                                      "wrong_unit"))
            checks_by_claim[index] = checks[-1]
            continue
        if best_ok is not None:
            value *= best_ok[2]  # "1,210.0" read in millions
            checks.append(NumberCheck(start, end, written, value, best_ok[1].key, True, None,
                                      by_value=attributed is None))
            checks_by_claim[index] = checks[-1]
            continue
        expected = nearest[1] if nearest else None
        # a flag is a confident contradiction: the number's own clause names its metric (and, for a value of
        # another year, its year); a number the checker cannot attribute is "could not check", not an error
        # the year is certain when the number's own clause names it, or when its sentence names no other year
        # ("FY'23 rev. $1.58bn, GM 38%, op. margin 15.0%")
        parentheses = [p.span() for p in re.finditer(r"\([^()]*\)", text[lo:hi])]
        sentence_years = {t[2] for t in tokens if lo <= t[0] < hi and not t[3] and not any(
            p0 + lo < t[0] < p1 + lo and not p0 + lo < claim.start < p1 + lo for p0, p1 in parentheses)}
        year_certain = bool(years) and (own_clause or sentence_years == {years})
        year_certain = year_certain or span_end
        kind = None
        names = vocabulary._found(text, lo, claim.start) if vocabulary._re is not None else []
        if (names and not vocabulary.after_first and names[-1].group(1).lower() in _WEAK_NAMES
                and names[-1].start() >= clo
                and any(n.group(1).lower() not in _WEAK_NAMES for n in names)):
            attributed = None  # "to a profit of $78.4m" after "Operating income swung from ..."
        if own and not any(mine for _, mine in named):
            # the metrics the number's own clause names have no fact in the number's unit: "interest cover of
            # 13.6%" for 13.6x is a wrong unit; another value is not one the checker can attribute
            kind = _wrong_unit(claim, [f for f in available if f.metric in mentioned[0]], years, year_certain)
            attributed = None
        if attributed:
            kind = _contradiction(claim, pool, compatible, years, year_certain, positive, rel_tol,
                                  vocabulary.metrics, _PEER_WORDS.search(text, lo, hi) is not None,
                                  _DCF_WORDS.search(text, lo, hi) is not None)
        if kind is not None and kind[0] != MATCHED and _not_a_claim(text, claim, pool, years, lo, clo, chi, last_year):
            kind = None  # guidance, a target, a hypothetical, a negated figure: no claim of the report's facts
        if kind is None:
            checks.append(NumberCheck(start, end, written, value, None, False, expected, UNATTRIBUTED))
            continue
        kind, other = kind
        if kind == "wrong_metric" and ratio and attributed and pool and pool[0].metric in ratio:
            kind = "wrong_ratio_base"  # "8.1% of net income": the share of sales (or the other way round)
        if kind == MATCHED:
            checks.append(NumberCheck(start, end, written, value, other.key, True, None))
            checks_by_claim[index] = checks[-1]
            continue
        if kind == "wrong_unit":
            expected = other
        elif other is not None and kind in ("wrong_year", "wrong_scale", "wrong_sign"):
            # the fact of the number's metric and year it should have used: the value written belongs to
            # another year (or scale, or sign) of the same metric
            expected = _expected_for(other, pool) or expected
        checks.append(NumberCheck(start, end, written, value, None, False, expected, FLAGGED, kind))
        checks_by_claim[index] = checks[-1]
    return checks


def _peer_check(text: str, original: str, where: list[int], claim: _Claim, peer: str, available: list[Fact],
                vocabulary: _Vocabulary, lo: int, clo: int, chi: int, rel_tol: float) -> NumberCheck:
    """A number of a named peer: matched when it is one of the peer's facts; flagged (wrong_value) when its clause
    names a metric the peer has a fact of and it is none of the peer's facts; else unattributed (the platform has
    no such fact of the peer)."""
    prefix = f"peers.{peer}."
    units = _COMPATIBLE[claim.kind]
    mine = [f for f in available if f.metric.startswith(prefix) and f.unit in units]
    value = claim.number * (claim.scale / 100 if claim.kind in ("percent", "points") else claim.scale)
    start, end = where[claim.start], where[claim.end - 1] + 1
    written = original[start:end]
    found = _matching(claim, mine, True, rel_tol)
    if found is not None:
        return NumberCheck(start, end, written, value, found.key, True, None)
    mentioned = vocabulary.mentioned(text, claim, lo, clo, chi)[:max(vocabulary.own, 0)]
    named = [f for f in mine if any(f.metric.removeprefix(prefix) in m for m in mentioned)]
    if named and not (_FORWARD_WORDS.search(text, clo, chi)
                      or _NEGATED_BEFORE.search(text, max(clo, claim.start - 40), claim.start)):
        return NumberCheck(start, end, written, value, None, False, named[0], FLAGGED, "wrong_value")
    return NumberCheck(start, end, written, value, None, False, None, UNATTRIBUTED)


def _best(claim: _Claim, pool: list[Fact], positive: bool, rel_tol: float, by_change: bool, by_year: dict):
    """(the best fact of `pool` the number matches, as (rank, fact, scale read) or None; the nearest fact, as
    (rank, fact) or None)."""
    best_ok: tuple[tuple[float, int], Fact, float] | None = None
    nearest: tuple[tuple[float, int], Fact] | None = None
    for fact in pool:
        same_currency = not (claim.currencies and fact.currency and fact.currency not in claim.currencies)
        if by_change and fact.unit == "currency" and fact.period and (
                before := by_year.get((fact.metric, fact.period - 1))) is not None:
            change = abs(fact.value - before.value)
            diff = replace(fact, key=f"{fact.metric}_change_amount.{fact.period}", value=change,
                           label=f"{fact.label} change", display=format_amount(change),
                           formula=f"{fact.key} - {before.key}")
            unsigned = replace(claim, number=abs(claim.number), signed=False)  # "down by": the words sign it
            for written, read_scale in _candidates_written(unsigned, diff):
                within, rel = _distance(unsigned, written, positive=False)
                rank = (rel, -(fact.period or 0))
                if (within or rel <= rel_tol) and same_currency and (best_ok is None or rank < best_ok[0]):
                    best_ok = (rank, diff, read_scale)
        for written, read_scale in _candidates_written(claim, fact):
            within, rel = _distance(claim, written, positive)
            rank = (rel, -(fact.period or 0))  # on a tie, the latest year
            if (within or rel <= rel_tol) and same_currency and (best_ok is None or rank < best_ok[0]):
                best_ok = (rank, fact, read_scale)
            if nearest is None or rank < nearest[0]:
                nearest = (rank, fact)
    return best_ok, nearest


def _metric_of(check: NumberCheck, by_key: dict) -> str | None:
    """The metric a check attributed its number to: the fact it matched, or for a flag the one expected."""
    if check.status == MATCHED:
        return by_key[check.matched_key].metric if check.matched_key in by_key else None
    return check.expected.metric if check.status == FLAGGED and check.expected is not None else None


def _matching(claim: _Claim, facts: list[Fact], positive: bool, rel_tol: float) -> Fact | None:
    best, _ = _best(claim, facts, positive, rel_tol, False, {})
    return best[1] if best else None


_RESCALE = {"amount": (1e3, 1e-3, 1e6, 1e-6), "money": (1e3, 1e6, 1e9, 1e-3), "bare": (1e3, 1e6, 1e9),
            "percent": (100, 0.01), "points": (100, 0.01), "multiple": (), "per_share": (100, 0.01), "years": ()}


def _contradiction(claim: _Claim, pool: list[Fact], compatible: list[Fact], years, year_certain: bool,
                   positive: bool, rel_tol: float, known: dict, peers_named: bool, dcf_named: bool = False
                   ) -> tuple[str, Fact | None] | None:
    """Why a number attributed to the metric of `pool` (in `years`) contradicts it: (kind, the fact it matches
    instead); None when it cannot say (the value is another year's of the metric but the year is not named in
    the number's own clause, nor is it the only year of its sentence)."""
    metrics = {f.metric for f in pool}
    same_metric = [f for f in compatible if f.metric in metrics and f not in pool]
    other = _matching(claim, same_metric, positive, rel_tol)
    if other is not None:
        return ("wrong_year", other) if year_certain else None
    for factor in _RESCALE[claim.kind]:
        rescaled = replace(claim, scale=claim.scale * factor)
        if (other := _matching(rescaled, pool, positive, rel_tol)) is not None:
            return "wrong_scale", other
    if claim.signed or not positive:
        flipped = replace(claim, number=-claim.number, signed=True)
        if (other := _matching(flipped, pool, False, rel_tol)) is not None:
            return "wrong_sign", other
    elsewhere = [f for f in compatible if f.metric not in metrics]
    if (other := _matching(claim, elsewhere, positive, rel_tol)) is not None:
        # the value of a variant of the metric named ("median P/E 18.7x, EV/EBITDA 11.5x": the peers' median;
        # "the implied value is $10.22": the value implied by one multiple) is that metric's
        family = (_counterparts(metrics, known) if peers_named else set()) | ({m for m in known if any(
            m.startswith((b + "_", b + ".")) or b.startswith((m + "_", m + ".")) for b in metrics)}
            if len(metrics) > 1 else set())
        if dcf_named:
            # a sentence about the DCF: "EV is $1,795.0m", "the 6.8% historical FCF margin" are the DCF's own
            family |= {f"dcf.{m}" for m in metrics} | {m.removeprefix("dcf.") for m in metrics}
        if other.metric in family:
            return MATCHED, other
        return "wrong_metric", other
    return "wrong_value", None


_DISPLAY_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _wrong_unit(claim: _Claim, facts: list[Fact], years, year_certain: bool) -> tuple[str, Fact] | None:
    """("wrong_unit", fact) when the number is a fact of the metric named for it as displayed in another unit
    ("13.6%" for an interest cover of 13.6x), in its year when that is certain."""
    half = 0.5 * 10 ** -claim.decimals + 1e-9
    for fact in facts:
        if year_certain and fact.years and not _about(fact, years, True):
            continue
        shown = _DISPLAY_NUMBER.search(fact.display or "")
        if shown and abs(abs(claim.number) - abs(float(shown.group().replace(",", "")))) <= half:
            return "wrong_unit", fact
    return None


_RESPECTIVELY = re.compile(r"\brespectively\b", re.IGNORECASE)
_NAME_JOIN = re.compile(r"\s*,?\s*(?:and\s+|&\s+)?(?:(?:the|its|our|their)\s+)?", re.IGNORECASE)
_NUMBER_JOIN = re.compile(r"\s*(?:,\s*(?:and\s+)?|and\s+|&\s+|/\s*)", re.IGNORECASE)


def _runs(items: list, joined) -> list[list]:
    """Runs of consecutive items (spans) whose gaps `joined` accepts, two or more long."""
    runs, run = [], []
    for item in items:
        if run and joined(run[-1], item):
            run.append(item)
            continue
        if len(run) > 1:
            runs.append(run)
        run = [item]
    if len(run) > 1:
        runs.append(run)
    return runs


def _respectively(text: str, claims: list[_Claim], vocabulary: _Vocabulary) -> dict[int, set[str]]:
    """Claim index -> the metrics a "respectively" sentence gives it: "Gross profit and operating income were $542.2m
    and $218.0m, respectively" maps the list of names to the list of numbers in order (each list of numbers as long
    as a list of names before it; else the one after it)."""
    out: dict[int, set[str]] = {}
    if vocabulary._re is None:
        return out
    for r in _RESPECTIVELY.finditer(text):
        lo, hi = _sentence_bounds(text, r.start(), r.end())
        names = vocabulary._found(text, lo, hi)
        name_runs = _runs(names, lambda a, b: _NAME_JOIN.fullmatch(text, a.end(), b.start()) is not None)
        indexed = [(i, c) for i, c in enumerate(claims) if lo <= c.start < hi]
        number_runs = _runs(indexed, lambda a, b: _NUMBER_JOIN.fullmatch(text, a[1].end, b[1].start) is not None)
        for numbers in number_runs:
            fitting = [n for n in name_runs if len(n) == len(numbers)]
            before = [n for n in fitting if n[-1].end() <= numbers[0][1].start]
            chosen = before[-1] if before else next(iter(fitting), None)
            if chosen is None:
                continue
            for (i, _), name in zip(numbers, chosen, strict=True):
                if (metrics := set(vocabulary.phrases.get(name.group(1).lower(), ()))):
                    out[i] = metrics
    return out


# what ends the reach of a company's name over the numbers after it: a clause break, a comparison, a peer median
_PEER_SCOPE_END = re.compile(
    r"[,;:]|\s[\u2013\u2014-]\s|\b(?:versus|vs|against|compared|than|while|whereas|but|below|above|ahead|behind|"
    r"relative|peers?|median|sector|industry|group)\b", re.IGNORECASE)


def _peer_of(text: str, claim: _Claim, lo: int, vocabulary: _Vocabulary) -> str | None:
    """The slug of the peer a number belongs to: a peer is the company named nearest before it in its sentence
    ("Against Bluecrest (16.4x P/E)", "Redfield trades on 31.0x"), with no clause break or comparison between them
    (a parenthesis is the name's); another proper name with a possessive ("Northwind's 21.0x") ends a peer's
    reach."""
    if vocabulary._peer_re is None:
        return None
    # a name as a proper noun: capitalised as written ("Bluecrest", not a "bluecrest" or a common word)
    found = [m for m in vocabulary._peer_re.finditer(text, lo, claim.start) if m.group()[0].isupper()]
    if not found or found[-1].group(1) is None:
        return None
    between = re.sub(r"\([^()]*$", " ", text[found[-1].end():claim.start])  # "Bluecrest (16.4x": the name's
    if _PEER_SCOPE_END.search(between):
        return None
    return vocabulary.peers.get(found[-1].group(1).lower())


def _not_a_claim(text: str, claim: _Claim, pool: list[Fact], years, lo: int, clo: int, chi: int,
                 last_year: int | None) -> bool:
    """Whether a number that contradicts its fact is no claim of the facts: a negated figure ("not the 13% some
    had pencilled in"), one of a forward-looking or hypothetical clause (guidance, a target, consensus, "we model",
    "if ... had been"), or one of a year after the facts' last for a metric with no fact in it ("EPS of $1.45 in
    FY2026"; the DCF's forecast years have facts)."""
    if _NEGATED_BEFORE.search(text, max(clo, claim.start - 40), claim.start):
        return True
    if _FORWARD_WORDS.search(text, clo, chi) or _CONDITIONAL_START.match(text, lo):
        return True
    return bool(years and last_year is not None and min(years) > last_year
                and not any(f.years and _about(f, years, True) for f in pool))


def _expected_for(other: Fact, pool: list[Fact]) -> Fact | None:
    """The fact of `pool` a number should have used, when it matched `other` (another year, scale or sign)."""
    same = [f for f in pool if f.metric == other.metric]
    return max(same or pool, key=lambda f: f.period or 0) if pool else None


def annotate(text: str, checks: list[NumberCheck]) -> str:
    """`text` with each flag marked: 14.0% [[unverified: 14.0% — fact gross_margin.2024 is 40.0%]]; numbers the
    checker could not attribute to a fact are left as written."""
    out, pos = [], 0
    for check in sorted((c for c in checks if c.flagged), key=lambda c: c.start):
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
    return {"numbers": len(checks), "matched": sum(1 for c in checks if c.status == MATCHED),
            "unverified": sum(1 for c in checks if c.status == FLAGGED),
            "unattributed": sum(1 for c in checks if c.status == UNATTRIBUTED)}


__all__ = ["FLAGGED", "KINDS", "MATCHED", "UNATTRIBUTED", "NumberCheck", "annotate", "check_numbers", "summary"]
