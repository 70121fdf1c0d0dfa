"""The retention policy: named classes with periods, rules choosing a class, and a default.

A recording takes the class of the matching rule that keeps it *longest* (so the order of the
rules never shortens a legal obligation); when no rule matches, the default class. A rule
matches on the recording's service and/or any of its case references, with shell-style
patterns (``COMP-*``), case-sensitively. Consent-only records (no audio) have a class of
their own.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Any

from retention_jobs.errors import PolicyError
from retention_jobs.periods import Period

_CLASS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RULE_KEYS = ("case_ref", "class", "service")
ARITHMETIC = (
    "UTC calendar arithmetic from the call's start (consent-only: from when the record was "
    "received); N days = N x 24 h; N months = same day and time N months later, or 00:00 on "
    "the 1st of the month after when that month is too short (31 Jan + 1 month = 1 Mar); "
    "N years = 12N months"
)


@dataclass(frozen=True)
class Rule:
    """Choose ``retention_class`` for recordings whose service and/or a case reference match."""

    retention_class: str
    service: str | None = None
    case_ref: str | None = None

    def matches(self, service: str | None, case_refs: Iterable[str]) -> bool:
        if self.service is not None and (service is None or not fnmatchcase(service, self.service)):
            return False
        return self.case_ref is None or any(fnmatchcase(c, self.case_ref) for c in case_refs)

    def describe(self) -> dict[str, str | None]:
        return {"class": self.retention_class, "service": self.service, "case_ref": self.case_ref}


@dataclass(frozen=True)
class Assignment:
    """The class a recording falls in, its period and the resulting expiry."""

    retention_class: str
    period: Period
    expires_at: datetime
    rule: int | None  # 1-based index of the deciding rule; None when the default applied


@dataclass(frozen=True)
class RetentionPolicy:
    """Validated, immutable policy; build it with ``from_config``."""

    policy_id: str
    classes: Mapping[str, Period]
    rules: tuple[Rule, ...]
    default_class: str
    consent_only_class: str

    @classmethod
    def from_config(
        cls,
        *,
        policy_id: str,
        classes: Mapping[str, str],
        rules: Sequence[Mapping[str, Any]],
        default_class: str,
        consent_only_class: str,
        prefix: str = "retention",
    ) -> RetentionPolicy:
        """Validate raw configuration values; errors name the key (``retention.rules[2].class``)."""
        if not policy_id or len(policy_id) > 120 or not policy_id.isprintable():
            raise PolicyError(
                f"{prefix}.policy_id = {policy_id!r} must be 1..120 printable characters"
            )
        if not classes:
            raise PolicyError(f"[{prefix}.classes] is empty; define at least one class")
        parsed: dict[str, Period] = {}
        for name, text in classes.items():
            if not _CLASS_NAME.match(name):
                raise PolicyError(
                    f"{prefix}.classes: class name {name!r} must be 1..64 letters, "
                    "digits, '.', '_' or '-'"
                )
            parsed[name] = Period.parse(text, key=f"{prefix}.classes.{name}")
        known = ", ".join(sorted(parsed))
        for key, value in (
            ("default_class", default_class),
            ("consent_only_class", consent_only_class),
        ):
            if value not in parsed:
                raise PolicyError(
                    f"{prefix}.{key} = {value!r} names no class in "
                    f"[{prefix}.classes]; classes: {known}"
                )
        built = tuple(_rule(i, raw, parsed, prefix) for i, raw in enumerate(rules, start=1))
        return cls(policy_id, MappingProxyType(parsed), built, default_class, consent_only_class)

    @property
    def fingerprint(self) -> str:
        """A short hash of everything that decides expiries (not of the policy_id label)."""
        body = json.dumps(
            {
                "classes": {k: str(v) for k, v in sorted(self.classes.items())},
                "rules": [r.describe() for r in self.rules],
                "default": self.default_class,
                "consent_only": self.consent_only_class,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    @property
    def label(self) -> str:
        return f"{self.policy_id}@{self.fingerprint}"

    def assign(
        self, started_at: datetime, service: str | None, case_refs: Iterable[str]
    ) -> Assignment:
        """The class and expiry of a recording that started at ``started_at``."""
        refs = list(case_refs)
        best: Assignment | None = None
        for i, rule in enumerate(self.rules, start=1):
            if rule.matches(service, refs):
                period = self.classes[rule.retention_class]
                candidate = Assignment(rule.retention_class, period, period.add_to(started_at), i)
                if best is None or candidate.expires_at > best.expires_at:
                    best = candidate
        if best is not None:
            return best
        period = self.classes[self.default_class]
        return Assignment(self.default_class, period, period.add_to(started_at), None)

    def consent_only(self, received_at: datetime) -> Assignment:
        period = self.classes[self.consent_only_class]
        return Assignment(self.consent_only_class, period, period.add_to(received_at), None)

    def describe(self) -> dict[str, Any]:
        """The effective policy as a JSON-ready document."""
        return {
            "policy_id": self.policy_id,
            "fingerprint": self.fingerprint,
            "default_class": self.default_class,
            "consent_only_class": self.consent_only_class,
            "classes": {
                name: {"period": str(p), "count": p.count, "unit": p.unit}
                for name, p in self.classes.items()
            },
            "rules": [r.describe() for r in self.rules],
            "selection": "the matching rule with the longest retention wins; no match: default",
            "arithmetic": ARITHMETIC,
        }


def _rule(i: int, raw: Mapping[str, Any], classes: Mapping[str, Period], prefix: str) -> Rule:
    where = f"{prefix}.rules[{i}]"
    if not isinstance(raw, Mapping):
        raise PolicyError(
            f'{where} must be a table like {{class = "complaint", '
            f'case_ref = "COMP-*"}}, got {raw!r}'
        )
    for key, value in raw.items():
        if key not in RULE_KEYS:
            raise PolicyError(f"{where}: unknown key {key!r}; allowed: {', '.join(RULE_KEYS)}")
        if not isinstance(value, str) or not value:
            raise PolicyError(f"{where}.{key} = {value!r} must be a non-empty string")
    name = raw.get("class")
    if name is None:
        raise PolicyError(
            f'{where} has no class; add class = "<one of {", ".join(sorted(classes))}>"'
        )
    if name not in classes:
        raise PolicyError(
            f"{where}.class = {name!r} names no class in [{prefix}.classes]; "
            f"classes: {', '.join(sorted(classes))}"
        )
    if "service" not in raw and "case_ref" not in raw:
        raise PolicyError(f"{where} matches nothing: give service and/or case_ref")
    return Rule(name, raw.get("service"), raw.get("case_ref"))
