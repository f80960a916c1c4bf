"""Redaction rules shared by the audit trail, exports and logs.

Two strengths, because they answer different questions. *Secret* rules run before an audit event is
written, so a password pasted into a search box never enters the tamper-evident (and therefore
uneditable) chain. *Personal* rules mask e-mail addresses, phone numbers, IP addresses and free text
people typed, in redacted exports and on screen; the chain keeps them so an admin can still answer
"who searched for what" with ``--unredacted``.

The rules live in ``data/policies/privacy.toml``; a data dir may replace them with its own
``privacy.toml``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.paths import resource_dir

SCOPES = ("secret", "personal")


@dataclass(frozen=True)
class Rule:
    name: str
    scope: str
    pattern: re.Pattern[str]
    replacement: str
    check: str | None = None

    def apply(self, text: str) -> str:
        if self.check is None:
            return self.pattern.sub(self.replacement, text)
        return self.pattern.sub(lambda m: m.expand(self.replacement) if luhn_ok(m.group(0)) else m.group(0), text)


def luhn_ok(text: str) -> bool:
    """The payment-card checksum: a 13-19 digit run that fails it is not a card number."""
    digits = [int(c) for c in text if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class PrivacyRules:
    """A loaded rule set: regex rules plus field names whose values are secret or personal."""

    rules: tuple[Rule, ...]
    secret_fields: frozenset[str]
    personal_fields: frozenset[str]
    source: str

    @classmethod
    def load(cls, data_dir: Path | None = None) -> PrivacyRules:
        """The data dir's ``privacy.toml`` if present, else the shipped defaults."""
        override = data_dir / "privacy.toml" if data_dir is not None else None
        path = override if override is not None and override.exists() else (
            resource_dir() / "policies" / "privacy.toml")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read privacy rules {path}: {exc.strerror}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}",
                              hint="fix it, or delete the data dir's privacy.toml to use the defaults") from exc
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "<dict>") -> PrivacyRules:
        rules = []
        for n, entry in enumerate(raw.get("rule", []), start=1):
            if not isinstance(entry, dict):
                raise ConfigError(f"{source}: rule {n} must be a table")
            name = str(entry.get("name", f"rule-{n}"))
            scope = entry.get("scope")
            if scope not in SCOPES:
                raise ConfigError(f"{source}: rule {name!r} has scope {scope!r}; use secret or personal")
            try:
                pattern = re.compile(str(entry.get("pattern", "")))
            except re.error as exc:
                raise ConfigError(f"{source}: rule {name!r} has a bad pattern: {exc}") from exc
            if not pattern.pattern:
                raise ConfigError(f"{source}: rule {name!r} has an empty pattern")
            check = entry.get("check")
            if check not in (None, "luhn"):
                raise ConfigError(f"{source}: rule {name!r} has check {check!r}; the only check is luhn")
            rules.append(Rule(name, scope, pattern, str(entry.get("replacement", "[redacted]")), check))
        fields = raw.get("fields", {})
        if not isinstance(fields, dict):
            raise ConfigError(f"{source}: [fields] must be a table")

        def names(key: str) -> frozenset[str]:
            value = fields.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{source}: fields.{key} must be a list of strings")
            return frozenset(v.lower() for v in value)

        return cls(tuple(rules), names("secret"), names("personal"), source)

    # ------------------------------------------------------------------ applying
    def _apply(self, text: str, scopes: tuple[str, ...]) -> str:
        for rule in self.rules:
            if rule.scope in scopes:
                text = rule.apply(text)
        return text

    def scrub_text(self, text: str) -> str:
        """Remove secrets (write time)."""
        return self._apply(text, ("secret",))

    def redact_text(self, text: str) -> str:
        """Remove secrets and mask personal data (redacted output)."""
        return self._apply(text, SCOPES)

    def scrub(self, value: Any) -> Any:
        """A copy of a JSON-like value with secret fields and secret patterns removed."""
        return self._walk(value, personal=False)

    def redact(self, value: Any) -> Any:
        """A copy with secrets removed and personal fields and patterns masked."""
        return self._walk(value, personal=True)

    def _walk(self, value: Any, personal: bool) -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for k, v in value.items():
                low = str(k).lower()
                # keys can hold data too ({"x@example.com": ...}); a clash keeps both values apart
                key = self._walk(k, personal) if isinstance(k, str) else k
                while key in out:
                    key = f"{key}~"
                if low in self.secret_fields:
                    out[key] = "[secret]"
                elif personal and low in self.personal_fields and isinstance(v, str):
                    out[key] = f"[redacted {len(v)} chars]"
                else:
                    out[key] = self._walk(v, personal)
            return out
        if isinstance(value, list):
            return [self._walk(v, personal) for v in value]
        if isinstance(value, str):
            return self.redact_text(value) if personal else self.scrub_text(value)
        return value
