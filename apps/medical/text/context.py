"""ConText: negation, uncertainty, history, hypothetical and family assertions for terms in clinical text.

Harkema H, Dowling JN, Thornblade T, Chapman WW. ConText: an algorithm for determining negation,
experiencer, and temporal status from clinical reports. J Biomed Inform. 2009;42(5):839-851.

The algorithm as the paper gives it: trigger terms of each category mark the terms in their scope.
A pre-trigger ("no", "denies", "history of", "if", "mother") scopes forward to the next termination term
or the end of the sentence; a post-trigger ("ruled out", "was negative", "unlikely") scopes backward to
the previous one. Pseudo-triggers ("no increase", "gram negative", "not ruled out") contain trigger words
but are not triggers, and block the categories they name. Termination terms ("but", "however", "which",
"presents with", "complains of" ...) and sentence ends close a scope; some terminate one category only
("patient", "he", "she" end a family member's scope). A trigger may cap its scope in words
("free" in "pain free" reaches one word back; a bare "negative" three words, and it stops at a comma).

Trigger vocabulary: the paper's lists and medspaCy's default context_rules.json (facts, not code), adapted
to triage notes. The text this module reads is lower case with the lexicon's abbreviations already
expanded ("h/o" -> "history", "c/o" -> "complains of", "pt" -> "patient"), so the rules are written
against those forms; a few keep the abbreviation too, so that the module also works on raw text.
A colon right after a trigger ("Denies: CP, SOB", "PMH: MI") does not close its scope.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Category = Literal["negated", "uncertain", "historical", "hypothetical", "family"]
Direction = Literal["forward", "backward", "both"]
CATEGORIES: tuple[Category, ...] = ("negated", "uncertain", "historical", "hypothetical", "family")
ALL = frozenset(CATEGORIES)


@dataclass(frozen=True)
class Rule:
    pattern: str
    category: Category
    direction: Direction = "forward"
    max_words: int | None = None
    comma_ends: bool = False
    raw: bool = False  # the pattern carries its own boundaries (symbols: "?", ":")


@dataclass(frozen=True)
class Pseudo:
    pattern: str
    blocks: frozenset[Category] = ALL


@dataclass(frozen=True)
class Termination:
    pattern: str
    categories: frozenset[Category] = ALL
    raw: bool = False


def _alt(*words: str) -> str:
    return "(?:" + "|".join(words) + ")"


_RELATIVE = (r"(?:mother|mom|mum|father|dad|brother|sister|sibling|son|daughter|aunt|uncle|cousin|grandmother|"
             r"grandfather|grandma|grandpa|grandparent|grandson|granddaughter|nephew|niece|parent|wife|husband|"
             r"spouse|partner|relative|family\s+members?|family)(?:s|'s|s')?")
_REPORTING = _alt("states?", "stated", "reports?", "reported", "says", "said", "notes?", "noted", "noticed",
                  "found", "finds", "brought", "brings", "concerned", "worried", "called", "witnessed", "saw",
                  "sees", "observed", "thinks", "believes", "denies", "denied", "describes", "described", "gives",
                  "gave", "is concerned", "is worried", "at bedside", "present", "accompanies", "accompanied",
                  "here", "endorses", "feels", "felt", "heard", "checked", "took", "asks", "wants")
_BE = r"(?:is|was|were|are|has\s+been|have\s+been|had\s+been|came\s+back|comes\s+back|returned)"

RULES: tuple[Rule, ...] = (
    # --- negation, forward ---
    Rule(r"no", "negated"),
    Rule(r"not", "negated"),
    Rule(r"never(?:\s+(?:had|developed|experienced))?", "negated"),
    Rule(r"den(?:y|ies|ied|ying)(?:\s+any)?", "negated"),
    Rule(r"without|w/o", "negated"),
    Rule(r"(?:negative|neg)\s+for", "negated"),
    Rule(r"free\s+of|clear\s+of", "negated"),
    Rule(r"absence\s+of|lack\s+of|lacks|lacked|lacking", "negated"),
    Rule(r"no\s+(?:new|other|further\s+)?(?:evidence|signs?|symptoms?|history|complaints?|findings?|suggestion|"
         r"reports?|episodes?)\s+(?:of|for)", "negated"),
    Rule(r"with\s+no", "negated"),
    Rule(r"(?:did|does|do|has|have)\s*(?:not|n't)\s+(?:have|had|experience|experienced|report|complain\s+of)",
         "negated"),
    Rule(r"no\s+longer", "negated"),
    Rule(r"fail(?:s|ed)?\s+to\s+(?:reveal|show|demonstrate)", "negated"),
    Rule(r"(?:inconsistent|not\s+consistent)\s+with", "negated"),
    Rule(r"rather\s+than", "negated"),
    Rule(r"resolution\s+of", "negated"),
    Rule(r"unremarkable\s+for", "negated"),
    Rule(r"declin(?:e|es|ed|ing)", "negated"),
    Rule(r"unlikely\s+to\s+be", "negated"),
    Rule(r"unlikely\s+to\s+be", "uncertain"),
    # --- negation, backward / both ---
    Rule(r"(?:ruled|rules)\s+out(?:\s+for)?", "negated", "both"),
    Rule(_BE + r"\s+(?:negative|neg)", "negated", "backward"),
    Rule(r"negative|neg", "negated", "both", max_words=3, comma_ends=True),
    Rule(r"(?:" + _BE + r"\s+|(?:now|since|has|have|had|then|completely|fully)\s+)?resolved", "negated",
         "backward"),
    Rule(r"free", "negated", "backward", max_words=1),
    Rule(r"absent", "negated", "backward"),
    Rule(r"(?:" + _BE + r"\s+)?not\s+(?:seen|present|identified|evident|appreciated|demonstrated|detected|"
         r"visuali[sz]ed|found|noted)", "negated", "backward"),
    Rule(r"(?:" + _BE + r"\s+)?excluded", "negated", "backward"),
    Rule(r"(?:" + _BE + r"\s+)?not\s+(?:suspected|considered|thought\s+likely|felt\s+likely|clinically\s+suspected)",
         "negated", "backward"),
    Rule(r"unlikely", "negated", "backward"),
    Rule(r"unlikely", "uncertain", "backward"),
    Rule(r":\s*(?:none|no|negative|neg)(?![a-z0-9])(?=\s*(?:$|[.;\n]))", "negated", "backward", raw=True),
    # --- uncertainty ---
    Rule(r"possible|possibly|poss|probable|probably|likely|presumed|presumptive|presumably", "uncertain"),
    Rule(r"suspect(?:ed)?|suspicion\s+(?:of|for)|suspicious\s+(?:for|of)", "uncertain"),
    Rule(r"concern(?:ed|ing)?\s+(?:for|about|of)|worr(?:ied|isome|y)\s+(?:for|about)", "uncertain"),
    Rule(r"question\s+of|questionable|query|queried", "uncertain"),
    Rule(r"(?:to\s+)?rule\s+out|r/o|ruling\s+out", "uncertain"),
    Rule(r"(?:evaluat(?:e|ion)|eval|assess(?:ment)?|work\s*up|w/u|test(?:ing)?|screen(?:ing)?|check(?:ed)?)\s+for",
         "uncertain"),
    Rule(r"(?:may|might|could)\s+(?:be|have|represent)", "uncertain"),
    Rule(r"differential(?:\s+diagnosis)?(?:\s+includes?)?|ddx", "uncertain"),
    Rule(r"suggestive\s+of|suggest(?:s|ing)", "uncertain"),
    Rule(r"uncertain|unclear|equivocal|indeterminate|unsure|not\s+(?:sure|certain)|doubt(?:ful)?|indefinite",
         "uncertain"),
    Rule(r"(?:cannot|can\s*not|can't|could\s*not|couldn't)\s+(?:exclude|rule\s+out)", "uncertain"),
    Rule(r"(?:(?:has|have|had)\s+)?(?:cannot|can\s*not|can't|could\s*not|couldn't|not)\s+(?:be\s+|been\s+)?"
         r"(?:excluded|ruled\s+out)|"
         r"(?:is|are|was|were)\s+(?:possible|suspected|likely|questionable|unclear|uncertain)|"
         r"(?:to\s+be|must\s+be|should\s+be|needs?\s+to\s+be)\s+(?:ruled\s+out|excluded)", "uncertain", "backward"),
    Rule(r"(?<![a-z0-9])\?(?=\s*[a-z])", "uncertain", "forward", max_words=3, raw=True),
    Rule(r"(?<=[a-z0-9)])\?(?!\s*[a-z0-9])", "uncertain", "backward", max_words=2, raw=True),
    Rule(r"vs\.?|versus", "uncertain", "both", max_words=3),
    # --- historical ---
    Rule(r"history(?:\s+of)?|hx|hist", "historical"),
    Rule(r"(?:past|prior|previous)(?:\s+medical)?\s+history(?:\s+of)?", "historical"),
    Rule(r"previous(?:ly)?|prior|status\s+post|s/p|remote", "historical"),
    Rule(r"in\s+the\s+past|years?\s+ago|months?\s+ago|as\s+a\s+(?:child|teenager|kid)|in\s+childhood", "historical",
         "backward", max_words=4),
    Rule(r"(?<![/\-.\d])(?<!at\s)(?<!@)(?<!@\s)(?:in\s+)?(?:19|20)\d{2}(?![/\-\d])(?!\s*(?:hrs?|hours|h)\b)",
         "historical", "backward", max_words=2),
    # --- hypothetical ---
    Rule(r"if|in\s+case(?:\s+of)?|in\s+the\s+event(?:\s+of)?|should\s+(?:he|she|they|patient|there|symptoms?)",
         "hypothetical"),
    Rule(r"return\s+(?:precautions|for|if)|come\s+back\s+(?:if|for)|warning\s+signs(?:\s+(?:of|for))?|"
         r"(?:watch|monitor|look\s+out)\s+for", "hypothetical"),
    Rule(r"(?:seek|call|return)\s+(?:\w+\s+){0,3}?(?:if|for|should)", "hypothetical"),
    Rule(r"as\s+needed(?:\s+for)?|prn", "hypothetical", "both", max_words=3),
    Rule(r"(?:at\s+)?risks?\s+(?:of|for)|to\s+prevent|prevention\s+of|prophylaxis(?:\s+(?:for|against|of))?",
         "hypothetical"),
    # --- family / other experiencer ---
    Rule(r"family\s+(?:history|hx)(?:\s+of)?|fhx|fh|family", "family"),
    Rule(r"(?:maternal|paternal)\s+" + _RELATIVE + "|" + _RELATIVE, "family"),
    Rule(r"in\s+(?:(?:his|her|their|the|patient's|pt's|a)\s+)?" + _RELATIVE + r"|runs\s+in\s+(?:the\s+)?family",
         "family", "backward", max_words=5),
)

PSEUDO: tuple[Pseudo, ...] = (
    # negation words that do not negate
    Pseudo(r"no\s+(?:increase|change|significant\s+change|suspicious\s+change|improvement|better|sooner)",
           frozenset({"negated"})),
    Pseudo(r"not\s+(?:only|just|necessarily|improved|improving|better|relieved|resolved|resolving|resolve|"
           r"cause|drain|extend|tolerating|able\s+to|sure|certain)",
           frozenset({"negated"})),
    Pseudo(r"unresolved|non[\s-]?resolving", frozenset({"negated"})),
    Pseudo(r"no\s+further|without\s+(?:any\s+)?further|without\s+difficulty|gram[\s-]*negative|rh\s+negative",
           frozenset({"negated"})),
    Pseudo(r"(?:(?:has|have|had)\s+)?(?:cannot|can\s*not|can't|could\s*not|couldn't|not)\s+"
           r"(?:be\s+|been\s+|have\s+been\s+)?"
           r"(?:excluded|ruled\s+out)|(?:cannot|can\s*not|can't|could\s*not|couldn't)\s+(?:exclude|rule\s+out)|"
           r"(?:to\s+be|must\s+be|should\s+be|needs?\s+to\s+be)\s+(?:ruled\s+out|excluded)|"
           r"(?:did|does|do)\s*(?:not|n't)\s+rule\s+out", frozenset({"negated"})),
    Pseudo(r"no\s+doubt|without\s+(?:a\s+)?doubt", frozenset({"negated", "uncertain"})),
    # history words that are section names
    Pseudo(r"history\s+of\s+(?:the\s+)?present(?:ing)?\s+illness|hpi|history\s+and\s+physical|h&p|"
           r"social\s+history|history\s+(?:taking|obtained|provided|given|per|from|limited|unobtainable|unreliable)|"
           r"(?:poor|limited|unreliable|clinical)\s+(?:history|historian)|prior\s+to|family\s+(?:history|hx)(?:\s+of)?",
           frozenset({"historical"})),
    # a relative who reports, brings or accompanies the patient is not the experiencer
    Pseudo(r"(?:(?:patient's|pt's|his|her|their|the)\s+)?" + _RELATIVE + r"\s+" + _REPORTING, frozenset({"family"})),
    Pseudo(r"(?:by|per|from|according\s+to|with|w/|accompanied\s+by|lives\s+with|to)\s*"
           r"(?:(?:his|her|their|the|patient's|pt's)\s+)?" + _RELATIVE, frozenset({"family"})),
    # a relative's belongings are not the relative's condition: "found with grandma's pills"
    Pseudo(_RELATIVE + r"(?:'s|’s)\s+(?:pills?|tablets?|tabs|meds|medications?|medicines?|pill\s*(?:box|bottle|"
           r"organi[sz]er)|house|home|car|bag|purse|handbag|cabinet|drugs)", frozenset({"family"})),
    # "if" that asks rather than supposes: "unsure if she had a seizure" is uncertain, not hypothetical
    Pseudo(r"(?:unsure|not\s+sure|not\s+certain|uncertain|unclear|wonders?|asks?|asked|ask|know|knows)\s+"
           r"(?:if|whether)|as\s+if|even\s+if", frozenset({"hypothetical"})),
)

TERMINATIONS: tuple[Termination, ...] = (
    Termination(r"but|however|although|though|except(?:\s+for)?|aside\s+from|apart\s+from|which|yet|"
                r"nevertheless|still|because|unless|secondary\s+to|(?:causes?|source|etiology|origin|reason)\s+"
                r"(?:of|for)"),
    Termination(r"present(?:s|ed|ing)(?:\s+(?:with|to))?|comes?\s+in|came\s+in|complain(?:s|ed|ing)?\s+of|c/o|"
                r"report(?:s|ed|ing)|endors(?:es|ed|ing)|admits(?:\s+to)?|positive\s+for|states|now"),
    Termination(r"has", frozenset({"negated", "uncertain", "historical", "hypothetical"})),
    Termination(r"(?<![a-z0-9])\+(?=\s?[a-z])", raw=True),  # "+CP": a finding marked present
    Termination(r"today|tonight|currently|this\s+(?:morning|afternoon|evening)|new|recent(?:ly)?",
                frozenset({"historical"})),
    Termination(r"patient|pt|he|she|they|child|the\s+child|baby|infant", frozenset({"family"})),
)

# Sentence and clause ends: newline, ";", ":" (lists), "!", "." (not a decimal point), "?" ending a question.
_SENTENCE_END = re.compile(r"\n|;|!|(?<!\d):|:(?!\d)|\.(?!\d)|(?<=[a-z0-9)\]])\?(?!\s*[a-z0-9])|\?(?=\s|$)")
_WORD = re.compile(r"[a-z0-9]+(?:['/][a-z0-9]+)*")
_COMMA = re.compile(r",")


def _words(pattern: str) -> re.Pattern:
    return re.compile(r"(?<![a-z0-9])(?:" + pattern + r")(?![a-z0-9])")


@dataclass(frozen=True)
class _Compiled:
    rules: tuple[tuple[Rule, re.Pattern], ...]
    pseudo: tuple[tuple[Pseudo, re.Pattern], ...]
    terminations: tuple[tuple[Termination, re.Pattern], ...]


@lru_cache(maxsize=1)
def _compiled() -> _Compiled:
    return _Compiled(
        rules=tuple((r, re.compile(r.pattern) if r.raw else _words(r.pattern)) for r in RULES),
        pseudo=tuple((p, _words(p.pattern)) for p in PSEUDO),
        terminations=tuple((t, re.compile(t.pattern) if t.raw else _words(t.pattern)) for t in TERMINATIONS),
    )


@dataclass(frozen=True)
class Trigger:
    category: Category
    direction: Direction
    start: int
    end: int


@dataclass(frozen=True)
class Scope:
    """Text [start, end) that the trigger at [trigger_start, trigger_end) marks with `category`."""

    category: Category
    start: int
    end: int
    trigger_start: int
    trigger_end: int


@dataclass(frozen=True)
class Assertions:
    negated: bool = False
    uncertain: bool = False
    historical: bool = False
    hypothetical: bool = False
    family: bool = False


def _overlaps(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


def find_triggers(text: str) -> list[tuple[Rule, int, int]]:
    """Trigger matches (rule, start, end) in lower-case `text`, without those inside a pseudo-trigger that
    blocks their category and without a trigger inside a longer one of the same category."""
    c = _compiled()
    pseudo = [(p.blocks, m.start(), m.end()) for p, rx in c.pseudo for m in rx.finditer(text)]
    found = []
    for rule, rx in c.rules:
        for m in rx.finditer(text):
            s, e = m.span()
            if s == e:
                continue
            if any(rule.category in blocks and ps <= s and e <= pe for blocks, ps, pe in pseudo):
                continue
            found.append((rule, s, e))
    kept = []
    for rule, s, e in found:
        if any(o is not rule and o.category == rule.category and os_ <= s and e <= oe and (oe - os_) > (e - s)
               for o, os_, oe in found):
            continue
        kept.append((rule, s, e))
    return kept


def find_scopes(text: str) -> tuple[Scope, ...]:
    """Every trigger's scope in lower-case `text`."""
    c = _compiled()
    triggers = find_triggers(text)
    sentence_ends = [(m.start(), m.end(), m.group()) for m in _SENTENCE_END.finditer(text)]
    terminations = []
    for term, rx in c.terminations:
        for m in rx.finditer(text):
            s, e = m.span()
            # a termination word that is part of a trigger ("now resolved", "has been ruled out") is the trigger
            if any(_overlaps(s, e, ts, te) for _, ts, te in triggers):
                continue
            terminations.append((term.categories, s, e))
    words = [m.span() for m in _WORD.finditer(text)]
    commas = [m.start() for m in _COMMA.finditer(text)]
    scopes = []
    for rule, ts, te in triggers:
        stops = [(s, e) for cats, s, e in terminations if rule.category in cats]
        ends = []
        for s, e, sym in sentence_ends:
            if sym == ":" and text[te:s].strip() == "":
                continue  # "Denies: CP, SOB" - the colon introduces the trigger's list
            if s >= ts and s < te:
                continue  # a "?" that is itself the trigger
            ends.append((s, e))
        if rule.comma_ends:
            ends += [(p, p + 1) for p in commas]
        bounds = stops + ends
        if rule.direction in ("forward", "both"):
            end = min((s for s, _ in bounds if s >= te), default=len(text))
            if rule.max_words is not None:
                after = [w for w in words if w[0] >= te][:rule.max_words]
                end = min(end, after[-1][1]) if after else te
            if end > te:
                scopes.append(Scope(rule.category, te, end, ts, te))
        if rule.direction in ("backward", "both"):
            start = max((e for _, e in bounds if e <= ts), default=0)
            if rule.max_words is not None:
                before = [w for w in words if w[1] <= ts][-rule.max_words:]
                start = max(start, before[0][0]) if before else ts
            if start < ts:
                scopes.append(Scope(rule.category, start, ts, ts, te))
    return tuple(scopes)


def assertions_for(scopes: tuple[Scope, ...], start: int, end: int) -> Assertions:
    """The assertions on the term at [start, end): every scope it overlaps, unless the trigger lies inside
    the term itself ("no pulse" asked as a term is not negated by its own "no")."""
    flags = dict.fromkeys(CATEGORIES, False)
    for sc in scopes:
        if _overlaps(start, end, sc.trigger_start, sc.trigger_end):
            continue
        if _overlaps(start, end, sc.start, sc.end):
            flags[sc.category] = True
    return Assertions(**flags)


def assertions(text: str, start: int, end: int) -> Assertions:
    """ConText on its own: the assertions on text[start:end] (any case; offsets into `text`)."""
    return assertions_for(_scopes_cached(text.lower()), start, end)


@lru_cache(maxsize=1024)
def _scopes_cached(lower: str) -> tuple[Scope, ...]:
    return find_scopes(lower)
