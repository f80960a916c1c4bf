"""Deterministic contradiction checks between two memory texts (issue 7).

Two memories contradict when they talk about the same subject and give it different values. The
checks here find that without a model: they pull *mentions* out of each text (quantities with their
unit, dates, times, identifiers, statuses, owner claims, negated sentences), keep each mention's
nearby words as its context, and only compare mentions whose units agree and whose contexts share
distinctive words. Two rules keep look-alikes out:

- a value is only in conflict when the other text does not also state it in a matching context, so
  added detail ("310 kg including its 38 kg battery") never conflicts with the plain fact;
- values a text itself marks as old ("moves from 2026-06-30 to 2026-07-15") are ignored, and ranges
  or bounds ("9 to 11 hours", "under 2 seconds") conflict only with values outside them.

Pure functions, no storage: the store feeds candidate pairs (vector neighbours, same-key history)
and keeps the findings. Measured on ``tests/data/contradiction_pairs.jsonl`` (docs/benchmarks.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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
    if bare in _MONTHS or bare in _DAYS or bare in _STOP:
        return False
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
    wa = _content(_words(_norm(a))) | _key_words(a_key)
    wb = _content(_words(_norm(b))) | _key_words(b_key)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / min(len(wa), len(wb))


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.;!?])\s+|;\s*|\n+|(?<=[a-z]):\s+(?=[A-Z])", _norm(text))
    return [p.strip() for p in parts if p and p.strip()]


def _rival_models(ea: set[str], eb: set[str]) -> bool:
    """'picker_2' on one side and 'picker_3' on the other: same family, different thing."""
    fam_a = {re.sub(r"[_-]?\d+$", "", e): e for e in ea - eb if re.search(r"\d$", e)}
    return any(re.sub(r"[_-]?\d+$", "", e) in fam_a for e in eb - ea if re.search(r"\d$", e))


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


_NUMBER_WORDS = {w: i for i, w in enumerate(
    [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"
    ])}
_NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                      "ninety": 90, "hundred": 100})
_NW = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_UNIT_ALIASES = {"hr": "hour", "hrs": "hour", "h": "hour", "min": "minute", "mins": "minute", "sec": "second",
                 "secs": "second", "people": "employee", "person": "employee", "staff": "employee",
                 "kilogram": "kg", "kilograms": "kg", "percent": "%", "metre": "m", "meter": "m"}
_CURRENCY = {"£": "gbp", "€": "eur", "$": "usd"}
_CHANGE = re.compile(r"\b(mov|chang|slip|push|postpon|delay|brought|rais|lower|increas|reduc|cut|extend|shorten)",
                     re.I)
_BOUND_MAX = re.compile(r"\b(?:under|below|less than|fewer than|at most|no more than|capped at|within|over)\s*$", re.I)
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


def _unit_after(rest: str, before: str) -> str:
    """The counted thing: the next plain word ("hours", "robots", skipping names such as
    "Picker 3"), else the word before ("port 51820"), plus any "per X"/"each X"/"a week" rate."""
    words = _WORD.findall(_MODEL.sub(r"\1_\2", rest[:80]))
    unit, i = "", 0
    while i < len(words) and i < 3:
        w = words[i]
        if _is_entity(w, False) or w[:1].isupper():
            i += 1
            continue
        if w.lower() not in _STOP and w.isalpha():
            unit = w.lower()
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


def _window(sentence: str, start: int, end: int, size: int = 9) -> tuple[set[str], set[str]]:
    """The words around a mention (numbers left out) and which of them are names."""
    words = _words(sentence[:start])
    before = [(w, f) for w, f in zip(words, _entity_flags(words), strict=True) if not w[:1].isdigit()]
    after = [(w, _is_entity(w, False)) for w in _words(sentence[end:]) if not w[:1].isdigit()]
    near = before[-size:] + after[:size]
    return _content(w for w, _ in near), {_ent(w) for w, ent in near if ent}


def _mentions(text: str) -> list[_Mention]:
    out: list[_Mention] = []
    for sent in _sentences(text):
        out.extend(_sentence_mentions(sent))
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
            found.append((m.start(), m.end(), _Mention("number", "version", m.group(), value=m.group())))
            taken.append(m.span())
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
        if m.group("cur"):
            unit = _CURRENCY[m.group("cur")] + _rate(_WORD.findall(after[:60]))
        elif m.group("pct"):
            unit = "%"
        else:
            if mult == "m":  # "1.4 m" is metres, not millions
                number /= 1e6
                unit = "m"
            else:
                unit = _unit_after(re.sub(r"^-", " ", after), before)
        if not unit:
            continue
        found.append((s, e, _Mention("number", unit, m.group().strip(), lo=number, hi=number)))
        taken.append((s, e))
    for s, e, mention in _statuses(sent):
        if free(s, e):
            found.append((s, e, mention))
    found.sort(key=lambda t: t[0])
    _ranges_and_bounds(sent, found)
    for s, e, mention in found:
        mention.ctx, mention.ents = _window(sent, s, e)
    return [mention for _, _, mention in found]


def _ranges_and_bounds(sent: str, found: list[tuple[int, int, _Mention]]) -> None:
    """Fold "9 to 11 hours", "between 0.2 m and 2.1 m" and "from 07:00 to 19:00" into ranges, mark
    the old side of "moves from X to Y" as superseded, and read "under 2 seconds" as a bound."""
    changed = bool(_CHANGE.search(sent))
    drop: list[int] = []
    for i in range(len(found) - 1):
        (s1, e1, m1), (s2, _e2, m2) = found[i], found[i + 1]
        gap = sent[e1:s2].strip().lower()
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
            m2.text = f"{m1.text} {gap} {m2.text}"
            drop.append(i)
    for s, _e, m in found:
        if m.kind != "number" or m.value is not None or m.is_range:
            continue
        before = sent[:s]
        if re.search(r"\b(?:was|previously|originally|instead of)\s*$", before, re.I):
            m.superseded = True
        elif _BOUND_MAX.search(before) and not re.search(r"\b(?:above|over|more than)\s*$", before, re.I):
            m.lo, m.is_range = float("-inf"), True
        elif _BOUND_MIN.search(before) and not re.search(r"\bfrom\s*$", before, re.I):
            m.hi, m.is_range = float("inf"), True
    for i in reversed(drop):
        del found[i]
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


def _related(x: _Mention, y: _Mention, same_subject: bool) -> float:
    """How surely two mentions describe the same attribute (0 = not comparable)."""
    if x.kind != y.kind or x.unit != y.unit or x.superseded or y.superseded:
        return 0.0
    if _rival_models(x.ents, y.ents) or (x.foreign and y.foreign and not same_subject):
        return 0.0  # "Leeds office ... 12" vs "Porto office ... 6": each names something the other never does
    shared = x.ctx & y.ctx
    small = min(len(x.ctx), len(y.ctx))
    if x.kind == "date" and not same_subject and shared <= {_stem(e) for e in x.ents | y.ents}:
        return 0.0  # a date's unit says nothing; sharing only names is the same thing, not the same event
    if same_subject:
        return 0.6 + 0.4 * len(shared) / max(small, 1) if shared or small == 0 else 0.5
    said = shared - {_stem(e) for e in x.ents | y.ents}
    if x.busy and y.busy and len(said) < 2:
        return 0.0  # two notes full of dates: one shared word is too little to pair two of them
    if len(shared) >= 2 or (shared and small <= 2):
        return min(1.0, 0.5 + 0.5 * len(shared) / max(small, 1))
    return 0.0


def _value_findings(ma: list[_Mention], mb: list[_Mention], same_subject: bool,
                    a_vocab: set[str], b_vocab: set[str]) -> list[Finding]:
    """Pairs of related mentions with incompatible values where neither side's value is also stated
    (exactly, same shape) by the other text: then the difference is a disagreement, not extra detail."""
    for ms, vocab in ((ma, b_vocab), (mb, a_vocab)):
        units = Counter((m.kind, m.unit) for m in ms)
        for m in ms:
            m.foreign = {e for e in m.ents if _stem(e) not in vocab}
            m.busy = units[m.kind, m.unit] >= 3

    def satisfied(m: _Mention, others: list[_Mention]) -> bool:
        return any(_related(m, o, same_subject) and o.is_range == m.is_range and _same_value(m, o) for o in others)

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


def _same_thing(x: _Claim, y: _Claim, same_subject: bool) -> bool:
    if x.rel != y.rel:
        return False
    if x.rel == "manager":
        return any(_same_person(p, q) for p in x.subject for q in y.subject)
    if x.rel.startswith("title:"):
        return True
    if x.ents and y.ents and not x.ents & y.ents:
        return False
    if _rival_models(x.ents, y.ents):
        return False
    shared = x.subject & y.subject
    small = min(len(x.subject), len(y.subject))
    need = 0.5 if x.ents & y.ents or same_subject else 0.8
    return bool(shared) and len(shared) / max(small, 1) >= need


def _owner_findings(ca: list[_Claim], cb: list[_Claim], same_subject: bool) -> list[Finding]:
    out: list[Finding] = []
    for x in ca:
        rivals = [y for y in cb if _same_thing(x, y, same_subject)]
        if not rivals or any(_same_person(x.person, y.person) for y in rivals):
            continue
        y = rivals[0]
        if any(_same_person(y.person, z.person) for z in ca if _same_thing(z, y, same_subject)):
            continue
        out.append(Finding("owner", f"{x.rel}: {x.person} vs {y.person}", 0.9, x.text, y.text))
    return out


# --------------------------------------------------------------------------- negation

_NEG = re.compile(r"\b(?:not|never|no longer|nobody|no one|nothing|none|neither|nor|no)\b|n't\b", re.I)
_AUX = frozenset([
    "is", "are", "was", "were", "be", "been", "do", "does", "did", "can", "could", "will", "would", "may", "might",
    "must", "shall", "should", "has", "have", "had", "still", "only", "longer", "never", "nobody", "none", "no",
    "one", "nothing",
])


def _negation_findings(a: str, b: str) -> list[Finding]:
    """Two near-identical sentences where exactly one is negated."""
    out = []
    for sa in _sentences(a):
        for sb in _sentences(b):
            na, nb = bool(_NEG.search(sa)), bool(_NEG.search(sb))
            if na == nb:
                continue
            wa, wb = _words(sa), _words(sb)
            if _rival_models(_entities(wa), _entities(wb)):
                continue
            ca = {w for w in _content(wa) if w not in _AUX}
            cb = {w for w in _content(wb) if w not in _AUX}
            shared = ca & cb
            said = {_stem(w) for w in wa + wb if w[:1].islower()}
            if len(shared) < 2 or not shared & said:
                continue  # sharing only names ("VPN", "Slack") is not saying the same thing
            jac = len(shared) / len(ca | cb)
            cover = len(shared) / min(len(ca), len(cb))
            if jac >= 0.6 or (cover >= 0.8 and min(len(ca), len(cb)) >= 3):
                evidence = f"{'a' if na else 'b'} negates the other"
                out.append(Finding("negation", evidence, round(max(jac, cover * 0.9), 3), sa, sb))
    return out


# --------------------------------------------------------------------------- public API

def _compare(a: str, b: str, same_subject: bool, a_key: str = "", b_key: str = "") -> list[Finding]:
    a_vocab = _content(_words(_norm(a))) | _key_words(a_key)
    b_vocab = _content(_words(_norm(b))) | _key_words(b_key)
    findings = _value_findings(_mentions(a), _mentions(b), same_subject, a_vocab, b_vocab)
    findings += _owner_findings(_claims(a), _claims(b), same_subject)
    findings += _negation_findings(a, b)
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
