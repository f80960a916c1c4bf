"""Deterministic contradiction checks between two memory texts (issue 7).

Two memories contradict when they talk about the same subject and give it different values. The
checks here find that without a model: they pull *mentions* out of each text (quantities with their
unit, dates, times, identifiers, statuses, owner claims, negated sentences), keep the words of each
mention's clause as its context, and only compare mentions whose units agree and whose contexts share
an attribute word, not only names. Rules that keep look-alikes out:

- a value is only in conflict when the other text does not also state it near a shared attribute
  word, so added detail ("310 kg including its 38 kg battery") never conflicts with the plain fact;
- values a text itself marks as old ("moves from 2026-06-30 to 2026-07-15") are ignored, and ranges
  or bounds ("9 to 11 hours", "under 2 seconds", "maximum travel speed of 2.0 m/s") conflict only
  with values outside them;
- a value's context is its clause (";", ", ", "if ..."), not the whole sentence, so "the lease ends on
  2026-06-30, two weeks after the team moves" does not make the lease end a moving date;
- two values are one attribute only if both are targets or both are actual values ("aiming for 40
  minutes" vs "39 minutes"), both levels or both changes ("64 robots" vs "by 16 robots"), hold under
  the same stated conditions ("from 0 to 80% in 55 minutes" vs "from 10% to 80% in 39 minutes"), are
  about the same model, release or member of a series ("Picker 2"/"Picker 3", "3.8.0"/"3.8.1",
  "the first prototype"/"prototype 2"), and neither measures a part the other includes;
- two dates must belong to the same event: the nearest attribute word of one ("released",
  "started", "deadline") appears by the other, they do not start and end something ("from" vs
  "lifted on"), and an action item's date belongs to its verb ("to plan the test by ...");
- version strings are values only where something is or runs them ("is version 3.8.2"); elsewhere
  they name a release.

Pure functions, no storage: the trust engine feeds candidate pairs and keeps the findings. Each
text is parsed once and cached (a pass compares every text with many others). Measured on
``tests/data/contradiction_pairs.jsonl`` and the demo corpus (docs/benchmarks.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from core.rag import slug

KINDS = ("number", "date", "owner", "status", "negation", "version")


@dataclass
class Finding:
    """One reason to think two texts disagree; ``a_span``/``b_span`` quote the values side by side."""

    kind: str
    evidence: str
    score: float
    a_span: str
    b_span: str


# --------------------------------------------------------------------------- words and subjects

_STOP = frozenset([
    "a", "about", "above", "across", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are",
    "around", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by",
    "can", "could", "did", "do", "does", "doing", "done", "during", "each", "either", "every", "for", "from",
    "further", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "however", "i",
    "if", "in", "into", "is", "it", "its", "itself", "just", "may", "me", "might", "more", "most", "must", "my",
    "no", "nor", "not", "now", "of", "off", "on", "once", "one", "only", "or", "other", "our", "out", "over", "own",
    "per", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "upon", "very", "was", "we",
    "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "within", "without",
    "would", "you", "your", "yet", "still", "already", "new", "it's"
])

_MONTHS = {m: i + 1 for i, m in enumerate(
    [
        "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
        "november", "december"
    ])}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_DAYS = frozenset(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])

_WORD = re.compile(r"[A-Za-z\u00c0-\u024f][\w\u00c0-\u024f'-]*|\d+(?:\.\d+)?")
_MODEL = re.compile(r"\b([A-Z][A-Za-z]+) (\d{1,2})\b(?![.:,]\d)")  # "Picker 3", "Dock 2": a name, not a count


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2013", "-")
    text = re.sub(r"\b(\w+)n't\b", r"\1 not", text)
    text = re.sub(r"\bcan ?not\b", "can not", text, flags=re.I)
    return text.replace("won not", "will not").replace("ca not", "can not")


def _stem(word: str) -> str:
    """Five-letter prefixes: 'availability' and 'available', 'charges' and 'charging' meet; model
    names stay whole."""
    w = word.lower().strip("'-")
    if w.endswith("'s"):
        w = w[:-2]
    if any(c.isdigit() for c in w):
        return w  # "picker_2" must not meet "picker_3"
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]  # "works" and "work"
    return w[:5]


def _is_entity(word: str, first: bool) -> bool:
    bare = word.lower()
    if bare in _MONTHS or bare in _DAYS or bare in _STOP or len(word) < 2:
        return False  # a lone capital is "°C" or "option B", not a name
    if any(c.isdigit() for c in word) and any(c.isalpha() for c in word):
        return True  # H2, VL-360, picker_3
    return word[:1].isupper() and not first


def _words(sentence: str) -> list[str]:
    """Words of one sentence, model names ("Picker 3") fused into one token so they are neither a
    count nor the same thing as "Picker 2"."""
    return [w for w in _WORD.findall(_MODEL.sub(r"\1_\2", sentence))]


def _content(words: Iterable[str]) -> set[str]:
    return {_stem(w) for w in words if w.lower() not in _STOP and not w[:1].isdigit() and len(w) > 1}


def _entity_flags(words: Sequence[str]) -> list[bool]:
    """Which words are names; a sentence's first word only when a capitalised word follows
    ("Greyfriars Retail is ..."), since any first word is capitalised."""
    flags = [_is_entity(w, i == 0) for i, w in enumerate(words)]
    if words and not flags[0] and len(words) > 1 and words[1][:1].isupper() and words[0].lower() not in _STOP:
        flags[0] = _is_entity(words[0], False)
    return flags


def _ent(word: str) -> str:
    w = word.lower().strip("'")
    return w[:-2] if w.endswith("'s") else w


def _entities(words: Sequence[str]) -> set[str]:
    return {_ent(w) for w, flag in zip(words, _entity_flags(words), strict=True) if flag}


def _key_words(key: str) -> set[str]:
    return {_stem(p) for p in re.split(r"[^a-z0-9]+", slug(key.replace("_", "-"))) if len(p) > 1 and not p.isdigit()}


def subject_overlap(a: str, b: str, *, a_key: str = "", b_key: str = "") -> float:
    """Share of the shorter text's distinctive words the other text also uses (overlap coefficient
    over content stems and names). A short fact inside a long meeting note still scores high; two
    texts about different things score low even when they share a sentence template."""
    wa = _parse(a).vocab | _key_words(a_key)
    wb = _parse(b).vocab | _key_words(b_key)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / min(len(wa), len(wb))


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.;!?])\s+|;\s*|\n+|(?<=[a-z]):\s+(?=[A-Z])", _norm(text))
    return [p.strip() for p in parts if p and p.strip()]


def _full_sentences(text: str) -> list[str]:
    """Sentences for value mentions: ";" stays inside (its parts are clauses of one sentence, and the
    sentence's names still say which thing they are about)."""
    parts = re.split(r"(?<=[.!?])\s+|\n+|(?<=[a-z]):\s+(?=[A-Z])", _norm(text))
    return [p.strip() for p in parts if p and p.strip()]


_MODIFIER = re.compile(r"(?:with|including|plus|weighing|using)\b", re.I)
_CLAUSE_BREAK = re.compile(r";\s*|,\s+|\s+[-\u2014]\s+|:\s+"
                           r"|\s+(?=(?:if|unless|provided|because|whereas|although|though|so)\s)")


def _clauses(sent: str, merge: bool = True) -> list[tuple[int, int]]:
    """Clause spans of a sentence: split at ";", ", ", dashes, colons and before "if"/"because"/"so";
    a part with fewer than two content words ("weighing 38 kg", "On 2026-03-18") joins its neighbour,
    since it only qualifies it."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _CLAUSE_BREAK.finditer(sent):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < len(sent):
        spans.append((start, len(sent)))
    if not spans:
        return [(0, len(sent))]
    if not merge:
        return spans

    def small(span: tuple[int, int]) -> bool:  # its words, leaving out values and their units
        text = sent[span[0]:span[1]]
        if span[0] and _MODIFIER.match(text):
            return True  # ", with a 6-week lead time" describes what comes before it
        return len(_content(_words(_VALUE_WORDS.sub(" ", text)))) < 2

    i = 0
    while len(spans) > 1 and i < len(spans):
        if small(spans[i]):
            j = i - 1 if i > 0 else i + 1
            lo, hi = min(i, j), max(i, j)
            spans[lo:hi + 1] = [(spans[lo][0], spans[hi][1])]
            i = max(lo - 1, 0)
            continue
        i += 1
    return spans


def _rival_models(ea: set[str], eb: set[str]) -> bool:
    """'picker_2' on one side and 'picker_3' on the other (or releases 3.8.0 and 3.8.1): same family,
    different thing."""
    fam_a = {re.sub(r"[_-]?[\d.]+$", "", e): e for e in ea - eb if re.search(r"\d$", e)}
    return any(re.sub(r"[_-]?[\d.]+$", "", e) in fam_a for e in eb - ea if re.search(r"\d$", e))


_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4,
             "5th": 5, "only": 1, "sole": 1}
_SERIES = "prototype|wave|phase|round|stage|batch|sprint|iteration|generation|option|source|supplier|vendor"
_SAME_SERIES = {"supplier": "source", "vendor": "source"}
_ORD_BEFORE = re.compile(rf"\b({'|'.join(_ORDINALS)})\s+(?:[\w.'-]+\s+){{0,4}}?({_SERIES})s?\b", re.I)
_ORD_AFTER = re.compile(rf"\b({_SERIES})\s+(\d{{1,2}}|[A-Z])\b(?![.:]\d)", re.I)


def _ordinals(sent: str) -> dict[str, set[int]]:
    """Which member of a series a sentence is about: "the first Beacon prototype" and "prototype 2",
    "the first wave" and "the second wave", "option B" and "option C"."""
    out: dict[str, set[int]] = {}
    for m in _ORD_BEFORE.finditer(sent):
        head = m.group(2).lower()
        out.setdefault(_SAME_SERIES.get(head, head), set()).add(_ORDINALS[m.group(1).lower()])
    for m in _ORD_AFTER.finditer(sent):
        n, head = m.group(2), m.group(1).lower()
        out.setdefault(_SAME_SERIES.get(head, head), set()).add(int(n) if n.isdigit() else ord(n.upper()) - 64)
    return out


def _rival_ordinals(oa: dict[str, set[int]], ob: dict[str, set[int]]) -> bool:
    return any(oa[k].isdisjoint(ob[k]) for k in oa.keys() & ob.keys())


# --------------------------------------------------------------------------- value mentions

@dataclass
class _Mention:
    kind: str  # "number", "date" or "status"
    unit: str
    text: str
    lo: float = 0.0
    hi: float = 0.0
    is_range: bool = False
    value: object = None  # a date tuple or a status group
    ctx: set[str] = field(default_factory=set)
    ents: set[str] = field(default_factory=set)
    foreign: set[str] = field(default_factory=set)  # names nearby that the other text never uses
    busy: bool = False  # its text states three or more values of this unit (a meeting's action dates)
    superseded: bool = False
    sents: set[str] = field(default_factory=set)  # every name of its sentence (which model, which site)
    ords: dict[str, set[int]] = field(default_factory=dict)  # which prototype, wave or option
    anchor: str = ""  # the nearest attribute word of its clause ("released", "started", "deadline")
    action: bool = False  # an action item's due date ("Nadia to plan the test by 2026-03-27"): anchor = its verb
    first: str = ""  # its sentence's first word, lower case ("Quill has a budget of ...")
    aim: bool = False  # a target or estimate ("aiming for 40 minutes"), not a measured or decided value
    delta: bool = False  # a change ("by 16 robots", "16 more"), not a level
    parts: set[str] = field(default_factory=set)  # what it includes ("310 kg including its battery")
    holding: bool = False  # what something has or runs ("has 42 employees", "runs 22 robots", "with 64 robots")
    caps: set[str] = field(default_factory=set)  # capitalised words nearby: names or a sentence's first word
    conds: tuple[_Mention, ...] = ()  # the other values of its clause: the conditions it holds under
    role: str = ""  # a date that starts something ("from", "started") or ends it ("until", "lifted")
    process: bool = False  # the start and end of a process ("charges from 0 to 80%"): a condition, not a claim


_NUMBER_WORDS = {w: i for i, w in enumerate(
    [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"
    ])}
_NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                      "ninety": 90, "hundred": 100})
_NW = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
# a value and its unit, left out when judging whether a clause says anything of its own
_VALUE_WORDS = re.compile(rf"(?:[£€$]?\d[\d,.:]*|\b(?:{_NW})\b)(?:\s?[%\u00b0]|[\s-]?[A-Za-z]+\b)?", re.I)
_UNIT_ALIASES = {"hr": "hour", "hrs": "hour", "h": "hour", "min": "minute", "mins": "minute", "sec": "second",
                 "secs": "second", "people": "employee", "person": "employee", "staff": "employee",
                 "kilogram": "kg", "kilograms": "kg", "percent": "%", "metre": "m", "meter": "m"}
_CURRENCY = {"£": "gbp", "€": "eur", "$": "usd"}
_CHANGE = re.compile(r"\b(mov|chang|slip|push|postpon|delay|brought|rais|lower|increas|reduc|cut|extend|shorten)",
                     re.I)
_BOUND_MAX = re.compile(r"\b(?:under|below|less than|fewer than|at most|no more than|capped at|within|over)\s*$", re.I)
# "maximum travel speed of 2.0 m/s", "Maximum payload: 25 kg": a spec's ceiling, which a lower value keeps to
_SPEC_MAX = re.compile(r"\b(?:maximum|max\.?|top)(?:\s+|[\w\s-]{0,40}?(?:\bis\s+|\bof\s+|:\s*))$", re.I)
_SPEC_MIN = re.compile(r"\b(?:minimum|min\.?)(?:\s+|[\w\s-]{0,40}?(?:\bis\s+|\bof\s+|:\s*))$", re.I)
_BOUND_MIN = re.compile(r"\b(?:at least|more than|above|over|from|no less than|minimum of)\s*$", re.I)

_ISO = r"(?P<iso>(?P<y1>\d{4})-(?P<m1>\d{2})-(?P<d1>\d{2}))"
_MON = "(?:" + "|".join(sorted((m.capitalize() for m in _MONTHS), key=len, reverse=True)) + r")\b"
_DMY = rf"(?P<dmy>(?P<d2>\d{{1,2}})(?:st|nd|rd|th)? (?P<mo2>{_MON})(?: (?P<y2>\d{{4}}))?)"
_MDY = rf"(?P<mdy>(?P<mo3>{_MON}) (?P<d3>\d{{1,2}})(?:st|nd|rd|th)?, (?P<y3>\d{{4}}))"
_MY = rf"(?P<my>(?P<mo4>{_MON}) (?P<y4>\d{{4}}))"
_YEAR = r"(?P<yr>(?:(?<=\bin )|(?<=\bby )|(?<=since )|(?<=until ))(?P<y5>(?:19|20)\d\d))"
_DATE = re.compile(rf"\b(?:{_ISO}|{_MDY}|{_DMY}|{_MY}|{_YEAR})\b")
_TIME = re.compile(r"\b(?P<h>\d{1,2})(?::(?P<mi>\d{2})| ?(?P<ap>am|pm)\b)")
_HOST = re.compile(r"\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:co\.uk|com|org|net|io|pt|uk)\b"
                   r"|\b[\w.-]+@[\w-]+(?:\.[\w-]+)+")
_VERSION = re.compile(r"\b\d+\.\d+\.\d+\b")
_VERSION_VALUE = re.compile(r"\b(?:is|are|was|were|be|been|now|runs?|running|ran|uses?|using|upgraded to|"
                            r"updated to|moved to|version)\s+(?:(?:on|at)\s+)?(?:the\s+)?"
                            r"(?:(?:firmware|version|release|software)\s+)?$", re.I)
_DELTA_BEFORE = re.compile(r"(?<![\d.] )\b(?:by|adds?|added|adding|another|an extra|extra|additional|plus)\s+$",
                           re.I)
# "two weeks later", "the first two weeks of May": an offset or a stretch of time, not a duration
_OFFSET = re.compile(r"^[\s-]*[a-z]+\s+(?:later|earlier|before|ahead|behind|late|early|sooner)\b"
                     r"|^[\s-]*[a-z]+\s+of\s+(?:" + "|".join(m.capitalize() for m in _MONTHS) + r")\b")
_HOLDING = re.compile(r"\b(?:has|have|had|runs|run|running|operates|operating|uses|using|with|employs|employing|"
                      r"owns|holds|deploys|fields)\s+(?:about\s+|around\s+|roughly\s+|now\s+|only\s+|just\s+|"
                      r"nearly\s+|almost\s+|over\s+)?$", re.I)
_DELTA_AFTER = re.compile(r"^\s*(?:more|extra|additional|fewer|further)\b", re.I)
_DEGREES = re.compile(r"^\s?\u00b0\s?([CF])?\b|^\s?\u00b0")
_NUM = re.compile(rf"(?P<cur>[£€$])?(?P<n>\d[\d,]*(?:\.\d+)?|\b(?:{_NW})(?:-(?:{_NW}))?\b)"
                  r"(?P<mult>k\b| ?m\b| million\b| thousand\b)?(?P<pct>%| per ?cent\b)?", re.I)


def _num_value(raw: str) -> float | None:
    raw = raw.lower().replace(",", "")
    if raw[0].isdigit():
        return float(raw)
    total = 0
    for part in raw.split("-"):
        if part not in _NUMBER_WORDS:
            return None
        total += _NUMBER_WORDS[part]
    return float(total)


_SI_UNITS = frozenset(["W", "V", "Hz", "Wh", "MB", "GB", "TB", "Gbps", "Mbps"])


def _unit_after(rest: str, before: str) -> str:
    """The counted thing: the next plain word ("hours", "robots", skipping names such as
    "Picker 3"), else the word before ("port 51820"), plus any "per X"/"each X"/"a week" rate."""
    words = _WORD.findall(_MODEL.sub(r"\1_\2", rest[:80]))
    unit, i = "", 0
    while i < len(words) and i < 3:
        w = words[i]
        if w in _SI_UNITS:  # "250 W", "48 V": a unit, not a name
            unit = w.lower()
            i += 1
            break
        if _is_entity(w, False) or w[:1].isupper():
            i += 1
            continue
        if w.lower() not in _STOP and w.isalpha():
            unit = w.lower()
            i += 1
            if unit.endswith("ing") and i < len(words) and words[i].isalpha() and words[i].islower() and (
                    words[i] not in _STOP):
                unit = words[i]  # "20 parking spaces", "2,000 operating hours": the noun, not its modifier
                i += 1
        break
    if not unit:
        prev = _WORD.findall(before[-30:])
        if prev and prev[-1].isalpha() and prev[-1].islower() and prev[-1] not in _STOP:
            return _clean_unit(prev[-1])
        return ""
    return _clean_unit(unit) + _rate(words[i:i + 6])


def _rate(tail: Sequence[str]) -> str:
    """'per robot per month' -> '/robot/month'; 'for each weekday' -> '/weekday'; 'a week' -> '/week'."""
    out, j = "", 0
    while j + 1 < len(tail) and tail[j].lower() in {"per", "each", "every", "a", "an", "for"}:
        if tail[j].lower() == "for":
            if tail[j + 1].lower() != "each":
                break
            j += 1
            continue
        nxt = tail[j + 1].lower()
        if tail[j].lower() in {"a", "an"} and nxt not in {"day", "week", "month", "year", "hour", "night"}:
            break
        out += "/" + _clean_unit(nxt)
        j += 2
    return out


def _clean_unit(w: str) -> str:
    w = w.lower()
    w = _UNIT_ALIASES.get(w, w)
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    return _UNIT_ALIASES.get(w, w)


def _date_value(m: re.Match[str]) -> tuple[int | None, int | None, int | None] | None:
    g = m.groupdict()
    if g["iso"]:
        return int(g["y1"]), int(g["m1"]), int(g["d1"])
    for mo, d, y in (("mo3", "d3", "y3"), ("mo2", "d2", "y2"), ("mo4", None, "y4")):
        if g[mo]:
            month = _MONTHS.get(g[mo].lower())
            if month is None:
                return None
            return (int(g[y]) if g[y] else None), month, (int(g[d]) if d and g[d] else None)
    if g["y5"]:
        return int(g["y5"]), None, None
    return None


_PARTS = re.compile(r"\b(?:including|incl\.?|plus)\s+(?:the\s+|its\s+|a\s+|an\s+)?"
                    r"((?:[A-Za-z][\w-]*\s*){1,2})", re.I)
_AIM = re.compile(r"\b(?:targets?|targeted|targeting|goals?|aims?|aimed|aiming|objectives?|success|estimated?|"
                  r"estimates|budgets?|budgeted)\b", re.I)
_MEETS = re.compile(r"\b(?:met|meets?|meeting|reach(?:ed|es|ing)?|hit|hits|beat|beats|exceed(?:ed|s)?|miss(?:ed|es)?|"
                    r"against|within|under|over|below|above|inside|on)\s+(?:the\s+|its\s+|their\s+|a\s+)?"
                    r"(?:[\w-]+\s+)?$", re.I)


def _is_aim(sent: str, lo: int, hi: int, at: int) -> bool:
    """The clause states a target, budget or estimate for this value. "met the target with 39 minutes"
    and "for €152,000, within budget" compare an actual value with one, while "meeting the 40-minute
    target" states it."""
    for m in _AIM.finditer(sent, lo, hi):
        meets = _MEETS.search(sent[lo:m.start()])
        if meets is None or lo + meets.start() <= at < m.end():
            return True
    return False


_AIM_LABEL = re.compile(r"^\s*(?:targets?|goals?|aims?|objectives?|success criteria)\s*:", re.I)


# verbs that place a value in time without saying what it is the date of ("moves to", "is scheduled for")
_GENERIC = frozenset(_stem(w) for w in [
    "move", "moved", "moves", "moving", "scheduled", "planned", "due", "set", "stays", "stay", "confirmed",
    "expected", "runs", "run", "running", "now", "currently", "takes", "place", "happens", "brought", "pushed",
    "slipped", "changed", "fixed", "agreed", "today"])


_STARTS = re.compile(r"\b(?:from|since|starting|effective|beginning)\s+(?:on\s+)?$", re.I)
_ENDS = re.compile(r"\b(?:until|till|through|ending)\s+(?:on\s+)?$", re.I)
_START_WORDS = frozenset(_stem(w) for w in ["start", "started", "starts", "begin", "began", "begins", "open",
                                             "opened", "opens", "launch", "launched", "launches", "introduced"])
_END_WORDS = frozenset(_stem(w) for w in ["end", "ends", "ended", "lifted", "expire", "expires", "expired",
                                           "close", "closes", "closed", "finish", "finished", "finishes",
                                           "retired", "stopped", "withdrawn"])


def _date_role(before: str, anchor: str) -> str:
    """Whether a date starts or ends what it belongs to: "limit ... from 2026-03-03" and "the limit is
    lifted on 2026-04-06" are two ends of one thing, not two claims about one date."""
    if _STARTS.search(before) or anchor in _START_WORDS:
        return "start"
    if _ENDS.search(before) or anchor in _END_WORDS:
        return "end"
    return ""


# an action item's due date belongs to its verb: "Nadia Petrova to plan the endurance test by 2026-03-27"
_ACTION = re.compile(r"\bto ([a-z]+)\b[^;]*\bby\s*$")


# a value that qualifies another ("at 6 kW", "from 10% to 80%", "in 40 minutes"), not one listed beside it
_CONDITION = re.compile(r"\b(?:at|from|in|on|with|under|over|for|between|within|after|before)\s+"
                        r"(?:about\s+|around\s+|roughly\s+|up to\s+)?(?:\S+\s+(?:to|-|and)\s+)?$", re.I)


def _attribute_word(words: Sequence[str], flags: Sequence[bool]) -> str:
    for w, ent in zip(words, flags, strict=True):
        lw = w.lower()
        if ent or w[:1].isdigit() or lw in _STOP or lw in _MONTHS or lw in _DAYS or len(w) < 2 or _stem(w) in _GENERIC:
            continue
        return _stem(w)
    return ""


def _window(sentence: str, start: int, end: int, lo: int = 0, hi: int | None = None,
            size: int = 9) -> tuple[set[str], set[str], str, set[str], set[str]]:
    """The words of the mention's clause (``lo``..``hi``) around it, numbers left out: their stems, the
    names among them, the nearest attribute word (before it, else after it) and the stems of what it
    says it includes ("including its battery"), which are not what it measures, and the stems of its
    capitalised words (a sentence's first word may be a name: "Beacon must charge ...")."""
    hi = len(sentence) if hi is None else hi
    words = _words(sentence[lo:start])
    before = [(w, f) for w, f in zip(words, _entity_flags(words), strict=True) if not w[:1].isdigit()]
    after = [(w, _is_entity(w, False)) for w in _words(sentence[end:hi]) if not w[:1].isdigit()]
    parts: set[str] = set()
    said: set[str] = set()
    for m in _PARTS.finditer(sentence[lo:hi]):
        parts |= _content(_words(m.group(1)))
        said |= _content(_words(m.group(0)))
    near = before[-size:] + after[:size]
    ctx = _content(w for w, _ in near) - said
    action = _ACTION.search(sentence[lo:start])
    back = before[::-1]
    done = [(w, f) for w, f in back if w.lower().endswith("ed")]  # "signed ... on", "started on"
    anchor = _stem(action.group(1)) if action else _attribute_word(
        [w for w, _ in done], [f for _, f in done]) or _attribute_word(
        [w for w, _ in back], [f for _, f in back]) or _attribute_word([w for w, _ in after], [f for _, f in after])
    caps = {_stem(w) for w, _ in near if w[:1].isupper()}
    return ctx, {_ent(w) for w, ent in near if ent}, (anchor if not action else "!" + anchor), parts, caps


def _family(name: str) -> str:
    return re.sub(r"[_-]?\d+$", "", name)


def _mentions(text: str) -> list[_Mention]:
    """Value mentions of every sentence. A sentence that names no model of a family ("It charges on
    Dock 2 docks; a full charge takes about 2 hours") is about the text's own models of that family
    (Picker 2 on a Picker 2 datasheet), so it inherits them for the rival-model test."""
    out: list[_Mention] = []
    sentences = _full_sentences(text)
    names = {e for sent in sentences for e in _entities(_words(sent))}
    models = {e for e in names if re.fullmatch(r"[a-z]+_\d+", e)}
    for sent in sentences:
        found = _sentence_mentions(sent)
        first = _words(sent)[:1]
        if first and _ent(first[0]) in names:  # "Beacon prototype 2 ...": a name the text uses elsewhere
            for m in found:
                m.sents = m.sents | {_ent(first[0])}
        for m in found:
            if not m.sents:  # "The new unit has 20 parking spaces": a sentence naming nothing is about
                m.ents = set(names)  # what its text names (for the foreign-name test)
        if found and models:
            own = {_family(e) for e in found[0].sents if re.fullmatch(r"[a-z]+_\d+", e)}
            inherited = {e for e in models if _family(e) not in own}
            for m in found:
                m.sents = m.sents | inherited
        out.extend(found)
    return out


def _sentence_mentions(sent: str) -> list[_Mention]:
    found: list[tuple[int, int, _Mention]] = []
    taken: list[tuple[int, int]] = []

    def free(s: int, e: int) -> bool:
        return all(e <= ts or s >= te for ts, te in taken)

    for m in _HOST.finditer(sent):
        kind = "email" if "@" in m.group() else "host"
        found.append((m.start(), m.end(), _Mention("number", kind, m.group(), value=m.group().lower())))
        taken.append(m.span())
    for m in _VERSION.finditer(sent):
        if free(*m.span()):
            if _VERSION_VALUE.search(sent[:m.start()]):
                found.append((m.start(), m.end(), _Mention("number", "version", m.group(), value=m.group())))
            taken.append(m.span())  # otherwise it names a release ("3.8.1 refuses to install ..."), not a value
    for m in _DATE.finditer(sent):
        value = _date_value(m)
        if value is not None and free(*m.span()):
            found.append((m.start(), m.end(), _Mention("date", "date", m.group(), value=value)))
            taken.append(m.span())
    for m in _TIME.finditer(sent):
        if not free(*m.span()) or (m.group("mi") is None and m.group("ap") is None):
            continue
        h = int(m.group("h")) % 12 + (12 if m.group("ap") == "pm" else 0) if m.group("ap") else int(m.group("h"))
        minutes = float(h * 60 + int(m.group("mi") or 0))
        found.append((m.start(), m.end(), _Mention("number", "time", m.group(), lo=minutes, hi=minutes)))
        taken.append(m.span())
    for m in _NUM.finditer(sent):
        s, e = m.span()
        if not free(s, e) or not m.group("n"):
            continue
        before, after = sent[:s], sent[e:]
        if re.search(r"[\w/#.-]$", before) and not m.group("cur") and not re.search(r"\s-$", before):
            continue  # part of an identifier: VL-360, FY2026/27, eu-west-2
        if re.match(r"[-/]\d|\.\d|_", after) or (re.search(r"[A-Z][a-z]+ $", before) and not m.group("cur")):
            continue  # postcodes, "Picker 3", "Unit 7", "ISO 3691-4"
        number = _num_value(m.group("n"))
        if number is None:
            continue
        mult = (m.group("mult") or "").strip().lower()
        number *= {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6}.get(mult, 1.0)
        more = _DELTA_AFTER.match(after)
        delta = bool(more or _DELTA_BEFORE.search(before) or (
            _OFFSET.match(after) and not re.search(r"\bfor\s+$", before)))  # "for 90 days before" lasts
        if more:
            after = after[more.end():]
        degrees = _DEGREES.match(after)
        if m.group("cur"):
            unit = _CURRENCY[m.group("cur")] + _rate(_WORD.findall(after[:60]))
        elif m.group("pct"):
            unit = "%"
        elif degrees:  # "61 °C", "360° lidar"
            unit = "\u00b0" + (degrees.group(1) or "").lower()
        elif mult == "m":  # "1.4 m" is metres, not millions; "2.0 m/s" a speed
            number /= 1e6
            per = re.match(r"/(s|h|min)\b", after)
            unit = "m/" + per.group(1) if per else "m"
        else:
            unit = _unit_after(re.sub(r"^-", " ", after), before)
            span_to = re.match(r"\s*(?:to|-|and)\s*(\d[\d,]*(?:\.\d+)?)(?![\d:.-])", after)
            if not unit and span_to:  # "from 64 to 80 robots", "0 to 80%": the first number has the second's unit
                rest = after[span_to.end():]
                unit = "%" if re.match(r"\s?(?:%|per ?cent\b)", rest) else _unit_after(rest, "")
        if not unit:
            continue
        found.append((s, e, _Mention("number", unit, m.group().strip(), lo=number, hi=number, delta=delta,
                                     holding=bool(_HOLDING.search(before)))))
        taken.append((s, e))
    for s, e, mention in _statuses(sent):
        if free(s, e):
            found.append((s, e, mention))
    found.sort(key=lambda t: t[0])
    masked = _mask_values(sent, found)
    _ranges_and_bounds(sent, found)
    clauses = _clauses(sent)
    raw = _clauses(sent, merge=False)
    words = _words(sent)
    names = _entities(words) | {f"release_{v}" for v in _VERSION.findall(sent)}  # "3.8.1" vs "3.8.0"
    ords = _ordinals(sent)
    label_aim = bool(_AIM_LABEL.match(sent))
    where = []
    for s, e, mention in found:
        lo, hi = next(((a, b) for a, b in clauses if a <= s < b), (0, len(sent)))
        where.append((lo, hi))
        mention.ctx, mention.ents, mention.anchor, mention.parts, mention.caps = _window(masked, s, e, lo, hi)
        mention.action = mention.anchor.startswith("!")
        mention.anchor = mention.anchor.lstrip("!")
        mention.first = words[0].lower() if words else ""
        mention.sents, mention.ords = names, ords
        # its own clause, not what joined it, with the label of a "label: value" clause
        own = next((j for j, (a, b) in enumerate(raw) if a <= s < b), None)
        a, b = raw[own] if own is not None else (lo, hi)
        if own and sent[raw[own - 1][1]:a].strip() == ":":
            a = raw[own - 1][0]
        mention.aim = label_aim or _is_aim(sent, a, b, s)
        if mention.kind == "date":
            mention.role = _date_role(sent[lo:s], mention.anchor)
    for (_s, _e, mention), clause in zip(found, where, strict=True):
        mention.conds = tuple(o for (s2, _e2, o), c in zip(found, where, strict=True)
                              if c == clause and o is not mention and o.kind == "number" and not o.superseded
                              and _CONDITION.search(sent[:s2]))
    return [mention for _, _, mention in found]


def _mask_values(sent: str, found: list[tuple[int, int, _Mention]]) -> str:
    """The sentence with every value and its unit word blanked out (same length): a clause's other
    values ("for six weeks", "a 500-cycle test") say nothing about what a mention is."""
    chars = list(sent)
    for s, e, m in found:
        if m.kind == "status":
            continue
        chars[s:e] = " " * (e - s)
        unit = re.match(r"[\s-]*([A-Za-z]+)", sent[e:e + 30])
        if m.kind == "number" and unit and _clean_unit(unit.group(1)) == m.unit.split("/")[0]:
            chars[e:e + unit.end()] = " " * unit.end()
    return "".join(chars)


# "charges from 0 to 80% in 55 minutes", "went from -20 °C to 5 °C in 24 minutes": the span is where a
# process starts and ends; what is claimed is how long it takes
_PROCESS = re.compile(r"\b(?:charg\w*|discharg\w*|warm\w*|cool\w*|heat\w*|fill\w*|drain\w*|went|go|goes|going|"
                      r"rose|rises|fell|falls|climb\w*|drop\w*)\b(?:\s+\S+){0,5}?\s+from\s+$", re.I)


def _ranges_and_bounds(sent: str, found: list[tuple[int, int, _Mention]]) -> None:
    """Fold "9 to 11 hours", "between 0.2 m and 2.1 m" and "from 07:00 to 19:00" into ranges, mark
    the old side of "moves from X to Y" as superseded, and read "under 2 seconds" as a bound."""
    changed = bool(_CHANGE.search(sent))
    drop: list[int] = []
    for i in range(len(found) - 1):
        (s1, e1, m1), (s2, e2, m2) = found[i], found[i + 1]
        gap = sent[e1:s2].strip().lower()
        first, _, rest = gap.partition(" ")
        if m1.kind == "number" and rest and _clean_unit(first) == m1.unit.split("/")[0]:
            gap = rest.strip()  # "from 7 cm to 4.5 cm"
        if gap not in {"to", "-", "and", "until"} or m1.kind != m2.kind:
            continue
        from_to = gap == "to" and re.search(r"\bfrom\s*$", sent[:s1], re.I)
        if changed and from_to:
            m1.superseded = True  # "moves from 2026-06-30 to 2026-07-15": only the new value stands
            continue
        if m1.kind == "date":
            m1.superseded = m2.superseded = True  # a date span ("1 April to 31 March") is not compared
            continue
        if m1.kind == "number" and (m1.unit == m2.unit or m1.unit in {"to", "and", ""} or m1.value is None):
            m2.lo, m2.hi, m2.is_range = min(m1.lo, m2.lo), max(m1.lo, m2.hi), True
            m2.text = sent[s1:e2]  # as written ("07:00 to 19:00", "07:00-19:00"), so the view can find it
            m2.process = bool(from_to and _PROCESS.search(sent[:s1]))
            drop.append(i)
    for s, _e, m in found:
        if m.kind != "number" or m.value is not None or m.is_range:
            continue
        before = sent[:s]
        if re.search(r"\b(?:was|previously|originally|instead of)\s*$", before, re.I):
            m.superseded = True
        elif (_BOUND_MAX.search(before) and not re.search(r"\b(?:above|over|more than)\s*$", before, re.I)) or (
                _SPEC_MAX.search(before)):
            m.lo, m.is_range = float("-inf"), True
        elif _SPEC_MIN.search(before) or (_BOUND_MIN.search(before) and not re.search(r"\bfrom\s*$", before, re.I)):
            m.hi, m.is_range = float("inf"), True
    for i in reversed(drop):
        del found[i]
    for s, _e, m in found:  # "13 and 14 June 2026", "12-14 June": a list or span of days is not one date
        if m.kind == "date" and re.search(r"(?<![\w-])\d{1,2}(?:st|nd|rd|th)?\s*(?:and|to|-|&|or)\s*$", sent[:s]):
            m.superseded = True
    for i, (_s, _e, m) in enumerate(found):  # the old value in "was X, now Y" style sentences
        if m.superseded or m.kind != "date" or not changed:
            continue
        if re.search(rf"\bfrom {re.escape(m.text)}\b", sent) and any(
                o.kind == "date" for _, _, o in found[i + 1:]):
            m.superseded = True


_STATUS_GROUPS: dict[str, tuple[str, str]] = {}
for _dim, _group, _words_ in (
        ("progress", "active", "active|running|ongoing|in progress|under way|underway|on track|in use"),
        ("progress", "paused", "paused|on hold|suspended|frozen"),
        ("progress", "cancelled", "cancelled|canceled|scrapped|abandoned|dropped|stopped"),
        ("progress", "done", "complete|completed|finished|done|shipped|released|launched|delivered|live"),
        ("progress", "beta", "in beta|in development|in testing|not yet released"),
        ("decision", "approved", "approved|signed off|signed|accepted"),
        ("decision", "rejected", "rejected|declined|refused|turned down|not approved|not accepted"),
        ("decision", "pending", "pending|awaiting approval|under review|not yet approved|not yet signed"),
        ("ticket", "open", "open|reopened"),
        ("ticket", "closed", "closed|resolved")):
    for _w in _words_.split("|"):
        _STATUS_GROUPS[_w] = (_dim, _group)
_STATUS = re.compile(r"\b(?:is|are|was|were|has been|have been|been|now|still|be)\s+(?:now\s+|still\s+|already\s+)?"
                     r"(?P<w>" + "|".join(sorted(_STATUS_GROUPS, key=len, reverse=True)) + r")\b", re.I)
_MODAL = re.compile(r"\b(?:must|should|will|would|to|could|can|may|might|shall)\s+(?:\w+ly\s+|not\s+)?$", re.I)


def _statuses(sent: str) -> list[tuple[int, int, _Mention]]:
    """Asserted statuses ("is paused", "was rejected by finance"), not planned ones ("must be
    complete by")."""
    out = []
    for m in _STATUS.finditer(sent):
        if m.group(0).lower().startswith("be") and _MODAL.search(sent[:m.start()]):
            continue
        dim, group = _STATUS_GROUPS[m.group("w").lower()]
        out.append((m.start(), m.end(), _Mention("status", dim, m.group("w"), value=group)))
    if not out:  # "QA rejected release 3.9.0", "Finance signed off the budget"
        for m in re.finditer(r"\b(?P<w>approved|rejected|declined|signed off|cancelled|paused|shipped)\b\s+(?!by\b)"
                             r"(?:the\s+)?[A-Za-z0-9£]", sent):
            if _MODAL.search(sent[:m.start()]) or re.search(r"\b(?:is|are|was|were|be|been)\s*$", sent[:m.start()]):
                continue
            dim, group = _STATUS_GROUPS[m.group("w").lower()]
            out.append((m.start(), m.start() + len(m.group("w")), _Mention("status", dim, m.group("w"), value=group)))
    return out


def _same_value(x: _Mention, y: _Mention) -> bool:
    if x.kind == "date":
        assert isinstance(x.value, tuple) and isinstance(y.value, tuple)
        return all(p is None or q is None or p == q for p, q in zip(x.value, y.value, strict=True))
    if x.value is not None or y.value is not None:
        return x.value == y.value
    if x.is_range and y.is_range:
        return _close(x.lo, y.lo) and _close(x.hi, y.hi)
    if x.is_range or y.is_range:
        r, p = (x, y) if x.is_range else (y, x)
        return r.lo - 1e-9 <= p.lo <= r.hi + 1e-9
    return _close(x.lo, y.lo)


def _close(p: float, q: float) -> bool:
    return p == q or abs(p - q) <= 1e-6 * max(abs(p), abs(q))


def _comparable(x: _Mention, y: _Mention) -> bool:
    """Could the two mentions be the same attribute of the same thing at all: same kind and unit, both
    current, both levels or both changes, both targets or both actual values, not rival models
    ("Picker 2"/"Picker 3") or rival members of a series ("prototype 2"/"the first prototype"), and
    neither measuring a part the other includes ("310 kg including its battery" vs "the battery,
    38 kg")."""
    if x.kind != y.kind or x.unit != y.unit or x.superseded or y.superseded or x.process or y.process:
        return False
    if x.delta != y.delta or x.aim != y.aim or (x.role and y.role and x.role != y.role):
        return False
    if _rival_models(x.sents - {f"release_{x.value}"}, y.sents - {f"release_{y.value}"}) or _rival_ordinals(
            x.ords, y.ords):
        return False
    if x.parts & y.ctx or y.parts & x.ctx:
        return False
    return not _other_conditions(x.conds, y.conds)


def _other_conditions(cx: Sequence[_Mention], cy: Sequence[_Mention]) -> bool:
    """The two values hold under stated conditions that differ: "from 0 to 80% in 55 minutes" and
    "from 10% to 80% in 39 minutes" are two measurements, not one."""
    units = {c.unit for c in cx} & {c.unit for c in cy}
    return any(not any(p.is_range == q.is_range and _same_value(p, q) for p in cx if p.unit == u
                       for q in cy if q.unit == u) for u in units)


def _related(x: _Mention, y: _Mention, same_subject: bool) -> float:
    """How surely two mentions describe the same attribute (0 = not comparable). Across two items the
    contexts must share an attribute word, not only names; a date's nearest attribute word ("released",
    "started", "deadline") must appear on the other side; and a mention in a text that states three or
    more values of its unit (a timeline, a meeting's action dates) needs two shared attribute words."""
    if not _comparable(x, y):
        return 0.0
    if x.foreign and y.foreign and not same_subject:
        return 0.0  # "Leeds office ... 12" vs "Porto office ... 6": each names something the other never does
    shared = x.ctx & y.ctx
    small = min(len(x.ctx), len(y.ctx))
    if same_subject:
        return 0.6 + 0.4 * len(shared) / max(small, 1) if shared or small == 0 else 0.5
    names = {_stem(e) for e in x.ents | y.ents | x.sents | y.sents}
    unit = _stem(x.unit.split("/")[0])
    said = shared - names - x.caps - y.caps - {unit}
    if not said and not (x.kind == "status" or (shared & names and x.holding and y.holding)):
        return 0.0  # sharing only names (and the unit) is the same thing, not the same attribute
    if x.kind == "date" and not ((x.anchor in y.ctx and not y.action) or (y.anchor in x.ctx and not x.action)):
        return 0.0  # "released on" vs "launched in": two events; an action's date is its verb's
    if x.busy and y.busy and len(said) < 2:
        return 0.0  # two notes full of dates: one shared word is too little to pair two of them
    if len(shared) >= 2 or (shared and small <= 2):
        return min(1.0, 0.5 + 0.5 * len(shared) / max(small, 1))
    return 0.0


def _restates(m: _Mention, o: _Mention) -> bool:
    """The other text states the same value with the same shape somewhere near a shared attribute word:
    then a differing value elsewhere is more detail, not a disagreement."""
    if not _comparable(m, o) or m.is_range != o.is_range or not _same_value(m, o):
        return False
    names = {_stem(e) for e in m.ents | o.ents | m.sents | o.sents}
    return bool((m.ctx & o.ctx) - names - {_stem(m.unit.split("/")[0])})


def _value_findings(ma: list[_Mention], mb: list[_Mention], same_subject: bool,
                    a_vocab: set[str], b_vocab: set[str], a_key: frozenset[str] = frozenset(),
                    b_key: frozenset[str] = frozenset()) -> list[Finding]:
    """Pairs of related mentions with incompatible values where neither side's value is also stated
    (same shape, near a shared attribute word) by the other text: then the difference is a
    disagreement, not extra detail."""
    for ms, vocab, own in ((ma, b_vocab, a_key), (mb, a_vocab, b_key)):
        units = Counter((m.kind, m.unit) for m in ms)
        for m in ms:
            if m.first and _stem(m.first) in own:  # "Quill has a budget of ..." in project.quill.budget
                m.ents = m.ents | {_ent(m.first)}
            m.foreign = {e for e in m.ents if _stem(e) not in vocab}
            m.busy = units[m.kind, m.unit] >= 3

    def satisfied(m: _Mention, others: list[_Mention]) -> bool:
        return any((_related(m, o, same_subject) and o.is_range == m.is_range and _same_value(m, o))
                   or _restates(m, o) for o in others)

    ok_a = [satisfied(m, mb) for m in ma]
    ok_b = [satisfied(m, ma) for m in mb]
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for i, x in enumerate(ma):
        if ok_a[i]:
            continue
        best: tuple[float, _Mention] | None = None
        for j, y in enumerate(mb):
            if ok_b[j]:
                continue
            rel = _related(x, y, same_subject)
            if rel and not _same_value(x, y) and (best is None or rel > best[0]):
                best = (rel, y)
        if best is None or (x.text, best[1].text) in seen:
            continue
        y = best[1]
        seen.add((x.text, y.text))
        kind = "date" if x.kind == "date" else "status" if x.kind == "status" else "number"
        what = f"{x.unit} " if kind in {"number", "status"} else ""
        out.append(Finding(kind, f"{what}{x.text!r} vs {y.text!r}", round(best[0], 3), x.text, y.text))
    return out


# --------------------------------------------------------------------------- owners

_ROLE_WORDS = frozenset([
    "engineer", "manager", "director", "lead", "head", "officer", "executive", "analyst", "partner", "site",
    "office", "project", "robotics", "sensing", "foods", "ltd", "lda", "gmbh", "co", "chief", "finance", "people",
    "hardware", "firmware", "software", "fleet", "perception", "product", "sales", "safety", "compliance",
    "procurement", "operations", "support", "backend", "frontend", "qa", "test", "it", "security", "cto", "ceo",
    "coo"
])
_NAME = r"[A-Z][\w\u00c0-\u024f'-]+(?: [A-Z][\w\u00c0-\u024f'-]+){0,2}"


@dataclass
class _Claim:
    rel: str
    subject: set[str]
    ents: set[str]
    person: str
    text: str


def _person(name: str) -> str | None:
    words = name.replace("'s", "").split()
    if not words or any(w.lower() in _ROLE_WORDS or w.lower() in _STOP or w.lower() in _MONTHS for w in words):
        return None
    return " ".join(words)


def _object(text: str) -> tuple[set[str], set[str]]:
    obj = re.split(r"[,;.]| from | so | when | because | until | with ", text + ".", maxsplit=1)[0]
    words = _words(obj)[:8]
    return _content(words), _entities(words) | {e for e in (w.lower() for w in words) if e[:1].isdigit()}


_OWN_VERBS = {"owns": "own", "owner": "own", "leads": "lead", "led": "lead", "runs": "lead", "run": "lead",
              "administers": "admin", "administered": "admin", "manages": "manage", "managed": "manage",
              "responsible": "responsible", "owned": "own"}


_ACTIVE = re.compile(rf"(?P<p>{_NAME})(?:, [^,]{{3,60}},| is [^,;.]{{3,60}}? and)? "
                     r"(?:(?:also |now )?(?P<v>owns|leads|runs|administers|manages)"
                     r"|is (?:now |also )?(?:the )?(?P<v2>owner|responsible) (?:of|for)"
                     r"|takes over as (?P<v3>owner) of) (?P<o>.+)")


_ROLE_FOR = re.compile(rf"(?P<p>{_NAME}) is the (?P<r>[a-z]+(?: [a-z]+){{0,3}}) (?:for|of) (?P<o>.+)")
_TITLE = re.compile(rf"(?P<p>{_NAME}) is the (?P<r>[A-Z][A-Za-z]+(?: (?:of |for |and )?[A-Z][A-Za-z]+){{0,5}})")


def _claims(text: str) -> list[_Claim]:
    """Who owns, leads, runs or manages what, and who reports to whom."""
    out: list[_Claim] = []
    for sent in _sentences(text):
        for m in _ACTIVE.finditer(sent):
            person = _person(m.group("p"))
            if person:
                rel = _OWN_VERBS[m.group("v") or m.group("v2") or m.group("v3")]
                subj, ents = _object(m.group("o"))
                out.append(_Claim(rel, subj, ents, person, m.group(0)))
        for m in re.finditer(rf"(?P<o>[^,;:]+?) (?:is|are|was|were) (?P<v>owned|led|run|administered|managed) by "
                             rf"(?P<p>{_NAME})", sent):
            person = _person(m.group("p"))
            if person:
                subj, ents = _object(m.group("o"))
                out.append(_Claim(_OWN_VERBS[m.group("v")], subj, ents, person, m.group(0)))
        for m in _ROLE_FOR.finditer(sent):  # "is the office manager for the Leeds headquarters"
            person = _person(m.group("p"))
            if person and not re.search(r"\b(?:owner|responsible)\b", m.group("r")):
                subj, ents = _object(m.group("o"))
                role = "role:" + " ".join(sorted(_content(m.group("r").split())))
                out.append(_Claim(role, subj, ents, person, m.group(0)))
        for m in _TITLE.finditer(sent):  # "is the Porto Site Lead": a title one person holds
            person = _person(m.group("p"))
            if person:
                role = "title:" + " ".join(sorted(_content(_words(m.group("r")))))
                out.append(_Claim(role, set(), set(), person, m.group(0)))
        out.extend(_reports(sent))
    return out


def _reports(sent: str) -> list[_Claim]:
    out: list[_Claim] = []
    boss: str | None = None
    m = re.search(rf"(?:reports?|reporting) to (?:the [A-Za-z]+, )?(?P<b>{_NAME})|(?P<s>{_NAME})'s line manager is "
                  rf"(?P<b2>{_NAME})", sent)
    if not m:
        return out
    if m.group("s"):
        staff, boss = [m.group("s")], _person(m.group("b2"))
    else:
        boss = _person(m.group("b"))
        pre = sent[:m.start()].split(":")[-1].strip()
        names = re.findall(_NAME, pre)
        listed = re.fullmatch(rf"{_NAME}(?:, {_NAME})*(?:,? and {_NAME})?", pre)
        staff = names if listed else names[:1]
    for s in staff:
        who = _person(s)
        if who and boss:
            out.append(_Claim("manager", {who.lower()}, set(), boss, m.group(0)))
    return out


def _same_person(p: str, q: str) -> bool:
    a, b = set(p.lower().split()), set(q.lower().split())
    return a <= b or b <= a


def _same_thing(x: _Claim, y: _Claim, same_subject: bool, x_vocab: frozenset[str] = frozenset(),
                y_vocab: frozenset[str] = frozenset()) -> bool:
    if x.rel != y.rel:
        return False
    if x.rel == "manager":
        return any(_same_person(p, q) for p in x.subject for q in y.subject)
    if x.rel.startswith("title:"):
        return True
    if x.ents and y.ents and not x.ents & y.ents:
        return False
    if not same_subject and ((x.ents and not y.ents and not any(_stem(e) in y_vocab for e in x.ents)) or (
            y.ents and not x.ents and not any(_stem(e) in x_vocab for e in y.ents))):
        return False  # "Sam owns the project" is about the project its own text names, not about Heron
    if _rival_models(x.ents, y.ents):
        return False
    shared = x.subject & y.subject
    small = min(len(x.subject), len(y.subject))
    need = 0.5 if x.ents & y.ents or same_subject else 0.8
    return bool(shared) and len(shared) / max(small, 1) >= need


def _owner_findings(ca: list[_Claim], cb: list[_Claim], same_subject: bool, a_vocab: frozenset[str] = frozenset(),
                    b_vocab: frozenset[str] = frozenset()) -> list[Finding]:
    out: list[Finding] = []
    for x in ca:
        rivals = [y for y in cb if _same_thing(x, y, same_subject, a_vocab, b_vocab)]
        if not rivals or any(_same_person(x.person, y.person) for y in rivals):
            continue
        y = rivals[0]
        if any(_same_person(y.person, z.person) for z in ca if _same_thing(z, y, same_subject, a_vocab, b_vocab)):
            continue
        out.append(Finding("owner", f"{x.rel}: {x.person} vs {y.person}", 0.9, x.text, y.text))
    return out


# --------------------------------------------------------------------------- negation

_NEG = re.compile(r"\b(?:not|never|no longer|nobody|no one|nothing|none|neither|nor)\b|n't\b"
                  r"|(?<!\bwith\s)\bno\b", re.I)  # "with no route" describes, it does not deny
_ABSENT = re.compile(r"\b(?:missing|lacks?|lacking|absent|outstanding|still open|unresolved)\b"
                     r"|\b(?:required|needed|necessary|mandatory) before\b|\bonly (?:after|once|when)\b", re.I)
_AUX = frozenset([
    "is", "are", "was", "were", "be", "been", "do", "does", "did", "can", "could", "will", "would", "may", "might",
    "must", "shall", "should", "has", "have", "had", "still", "only", "longer", "never", "nobody", "none", "no",
    "one", "nothing",
])


@dataclass(frozen=True)
class _Sentence:
    """One sentence for the negation check: its content stems (auxiliaries left out), the stems of its
    negated clauses, its plain-word stems and names."""

    text: str
    content: frozenset[str]
    negated: frozenset[str]  # content of the clauses that carry the negation; empty = not negated
    said: frozenset[str]
    ents: frozenset[str]
    absent: bool  # says something is missing, still open or a precondition: it agrees with a negation


def _negation_sentence(sent: str) -> _Sentence:
    words = _words(sent)
    content = frozenset(w for w in _content(words) if w not in _AUX)
    negated: set[str] = set()
    if _NEG.search(sent):
        for lo, hi in _clauses(sent):
            if _NEG.search(sent[lo:hi]):
                negated |= {w for w in _content(_words(sent[lo:hi])) if w not in _AUX}
    return _Sentence(sent, content, frozenset(negated), frozenset(_stem(w) for w in words if w[:1].islower()),
                     frozenset(_entities(words)), bool(_ABSENT.search(sent)))


def _negation_findings(sa_list: Sequence[_Sentence], sb_list: Sequence[_Sentence]) -> list[Finding]:
    """Two near-identical statements where exactly one is negated. The negated clause itself must be
    the one that matches ("so the robots could not boot" says nothing against "the step wrote the
    partition"), and a sentence saying something is missing or still open agrees with a negation."""
    out = []
    for sa in sa_list:
        for sb in sb_list:
            na, nb = bool(sa.negated), bool(sb.negated)
            if na == nb or (sa.absent if nb else sb.absent):
                continue
            if _rival_models(set(sa.ents), set(sb.ents)):
                continue
            ca = sa.negated if na else sa.content
            cb = sb.negated if nb else sb.content
            shared = ca & cb
            if len(shared) < 2 or not shared & (sa.said | sb.said):
                continue  # sharing only names ("VPN", "Slack") is not saying the same thing
            jac = len(shared) / len(ca | cb)
            cover = len(shared) / min(len(ca), len(cb))
            if jac >= 0.6 or (cover >= 0.8 and min(len(ca), len(cb)) >= 3):
                evidence = f"{'a' if na else 'b'} negates the other"
                out.append(Finding("negation", evidence, round(max(jac, cover * 0.9), 3), sa.text, sb.text))
    return out


# --------------------------------------------------------------------------- public API

@dataclass(frozen=True)
class _Parsed:
    """Everything the checks read from one text, parsed once (a pass compares each text many times)."""

    mentions: tuple[_Mention, ...]
    claims: tuple[_Claim, ...]
    sentences: tuple[_Sentence, ...]
    vocab: frozenset[str]


@lru_cache(maxsize=4096)
def _parse(text: str) -> _Parsed:
    return _Parsed(tuple(_mentions(text)), tuple(_claims(text)),
                   tuple(_negation_sentence(s) for s in _sentences(text)), frozenset(_content(_words(_norm(text)))))


def _compare(a: str, b: str, same_subject: bool, a_key: str = "", b_key: str = "") -> list[Finding]:
    pa, pb = _parse(a), _parse(b)
    a_vocab = set(pa.vocab) | _key_words(a_key)
    b_vocab = set(pb.vocab) | _key_words(b_key)
    # copies: the comparison marks each mention (foreign names, busy text) for this pair only
    findings = _value_findings([replace(m) for m in pa.mentions], [replace(m) for m in pb.mentions], same_subject,
                               a_vocab, b_vocab, frozenset(_key_words(a_key)), frozenset(_key_words(b_key)))
    findings += _owner_findings(list(pa.claims), list(pb.claims), same_subject, frozenset(a_vocab),
                                frozenset(b_vocab))
    findings += _negation_findings(pa.sentences, pb.sentences)
    return findings


def _same_key(a_key: str, b_key: str) -> bool:
    return bool(a_key) and a_key == b_key


def compare(a: str, b: str, *, a_key: str = "", b_key: str = "") -> list[Finding]:
    """Every deterministic reason to think ``a`` and ``b`` disagree, or ``[]``.

    The same key means two versions of one memory, judged by :func:`version_conflict`. Otherwise
    texts that share too little of their subject are skipped outright, so two facts with the same
    template about different things ("Leeds has 12 spaces", "Porto has 6") are not compared."""
    if _same_key(a_key, b_key):
        return version_conflict(a, b)
    if subject_overlap(a, b, a_key=a_key, b_key=b_key) < 0.25:
        return []
    return _compare(a, b, False, a_key, b_key)


def version_conflict(old: str, new: str) -> list[Finding]:
    """A new version of the same key that changes a stated value (not one that rewords or adds
    detail). The subject is given by the key, so contexts only need to line up, not match."""
    return [Finding("version", f"{f.kind}: {f.evidence}", f.score, f.a_span, f.b_span)
            for f in _compare(old, new, same_subject=True)]


def score(findings: Sequence[Finding]) -> float:
    """Noisy-or of the findings' scores: several independent reasons make a conflict surer."""
    miss = 1.0
    for f in findings:
        miss *= 1.0 - max(0.0, min(1.0, f.score))
    return round(1.0 - miss, 4)
