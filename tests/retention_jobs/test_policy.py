"""The policy: classes, rules, default, consent-only class; and its configuration."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from callvault.settings import ConfigError, load_settings, retention_policy
from retention_jobs.errors import PolicyError
from retention_jobs.policy import RetentionPolicy

START = datetime(2026, 1, 15, 10, tzinfo=UTC)
CLASSES = {
    "standard": "90 days",
    "complaint": "2 years",
    "evidence": "6 years",
    "short": "7 days",
    "consent-only": "30 days",
}


def policy(rules: list[dict[str, str]] | None = None, **kw: str) -> RetentionPolicy:
    return RetentionPolicy.from_config(
        policy_id=kw.get("policy_id", "P"),
        classes=CLASSES,
        rules=rules
        if rules is not None
        else [
            {"class": "complaint", "case_ref": "COMP-*"},
            {"class": "evidence", "service": "fraud"},
            {"class": "short", "service": "test-line"},
        ],
        default_class=kw.get("default_class", "standard"),
        consent_only_class=kw.get("consent_only_class", "consent-only"),
    )


def test_default_when_no_rule_matches() -> None:
    a = policy().assign(START, "waste", ["WASTE-1"])
    assert (a.retention_class, a.expires_at, a.rule) == (
        "standard",
        datetime(2026, 4, 15, 10, tzinfo=UTC),
        None,
    )


def test_case_reference_pattern() -> None:
    a = policy().assign(START, "waste", ["WASTE-1", "COMP-77"])
    assert (a.retention_class, a.expires_at, a.rule) == (
        "complaint",
        datetime(2028, 1, 15, 10, tzinfo=UTC),
        1,
    )
    assert policy().assign(START, "waste", ["comp-77"]).retention_class == "standard"


def test_longest_retention_wins_whatever_the_rule_order() -> None:
    rules = [
        {"class": "complaint", "case_ref": "COMP-*"},
        {"class": "evidence", "service": "fraud"},
    ]
    for order in (rules, rules[::-1]):
        assert policy(order).assign(START, "fraud", ["COMP-1"]).retention_class == "evidence"


def test_a_rule_may_shorten_below_the_default() -> None:
    assert policy().assign(START, "test-line", []).retention_class == "short"


def test_service_and_case_ref_together_must_both_match() -> None:
    p = policy([{"class": "evidence", "service": "fraud", "case_ref": "POL-*"}])
    assert p.assign(START, "fraud", ["POL-1"]).retention_class == "evidence"
    assert p.assign(START, "fraud", ["X-1"]).retention_class == "standard"
    assert p.assign(START, None, ["POL-1"]).retention_class == "standard"


def test_consent_only_class() -> None:
    a = policy().consent_only(START)
    assert (a.retention_class, a.expires_at) == (
        "consent-only",
        datetime(2026, 2, 14, 10, tzinfo=UTC),
    )


def test_fingerprint_follows_what_decides_expiry_not_the_label() -> None:
    assert policy(policy_id="A").fingerprint == policy(policy_id="B").fingerprint
    assert policy().fingerprint != policy(default_class="short").fingerprint
    assert policy(policy_id="A").label == f"A@{policy().fingerprint}"


@pytest.mark.parametrize(
    ("kw", "rules", "message"),
    [
        (
            {"default_class": "nope"},
            None,
            r"retention\.default_class = 'nope' names no class .*classes: complaint, consent-only",
        ),
        ({"consent_only_class": "nope"}, None, r"retention\.consent_only_class = 'nope'"),
        ({}, [{"class": "nope", "service": "x"}], r"retention\.rules\[1\]\.class = 'nope'"),
        ({}, [{"service": "x"}], r"retention\.rules\[1\] has no class"),
        ({}, [{"class": "short"}], r"retention\.rules\[1\] matches nothing"),
        (
            {},
            [{"class": "short", "service": "a"}, {"class": "short", "srvice": "x"}],
            r"retention\.rules\[2\]: unknown key 'srvice'; allowed: case_ref, class, service",
        ),
        ({"policy_id": ""}, None, r"retention\.policy_id = ''"),
    ],
)
def test_errors_name_the_key_and_value(
    kw: dict[str, str], rules: list[dict[str, str]] | None, message: str
) -> None:
    with pytest.raises(PolicyError, match=message):
        policy(rules, **kw)


TOML = """
[retention]
policy_id = "RP-2026-01"

[retention.classes]
standard = "90 days"
complaint = "2 years"
consent-only = "1 year"

[[retention.rules]]
class = "complaint"
case_ref = "COMP-*"

[schedule]
purge_cron = "30 1 * * *"
timezone = "Europe/London"
"""


def test_settings_nested_tables(tmp_path: Path) -> None:
    (tmp_path / "callvault.toml").write_text(TOML)
    s = load_settings(tmp_path / "callvault.toml", environ={})
    p = retention_policy(s.retention)
    assert p.policy_id == "RP-2026-01"
    assert {k: str(v) for k, v in p.classes.items()} == {
        "standard": "90 days",
        "complaint": "2 years",
        "consent-only": "1 year",
    }
    assert p.assign(START, None, ["COMP-1"]).retention_class == "complaint"
    assert (s.schedule.purge_cron, s.schedule.timezone) == ("30 1 * * *", "Europe/London")


def test_defaults_without_a_file(tmp_path: Path) -> None:
    s = load_settings(environ={}, cwd=tmp_path)
    p = retention_policy(s.retention)
    assert p.default_class == "standard" and str(p.classes["standard"]) == "90 days"
    assert s.schedule.purge_cron == "0 2 * * *" and s.retention.batch_size == 200


def test_environment_overrides_tables_as_toml_inline_values(tmp_path: Path) -> None:
    (tmp_path / "callvault.toml").write_text(TOML)
    s = load_settings(
        tmp_path / "callvault.toml",
        environ={
            "CALLVAULT_RETENTION_CLASSES": '{standard = "1 day", consent-only = "2 days"}',
            "CALLVAULT_RETENTION_RULES": "[]",
            "CALLVAULT_SCHEDULE_PURGE_CRON": "*/5 * * * *",
        },
    )
    p = retention_policy(s.retention)
    assert set(p.classes) == {"standard", "consent-only"} and p.rules == ()
    assert s.schedule.purge_cron == "*/5 * * * *"


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        (
            '[retention.classes]\nstandard = "90 dyas"\nconsent-only = "1 day"\n',
            {},
            r"retention\.classes\.standard = '90 dyas' is not a retention period",
        ),
        (
            "[retention.classes]\nstandard = 90\n",
            {},
            r"retention\.classes\.standard = 90 is not a non-empty string",
        ),
        ('[retention]\nclasses = "x"\n', {}, r"retention\.classes = 'x' must be a table"),
        (
            '[[retention.rules]]\nclass = "standard"\ncase_ref = 3\n',
            {},
            r"retention\.rules\[1\]\.case_ref = 3 is not a non-empty string",
        ),
        ("[retention]\nbatch_size = 0\n", {}, r"retention\.batch_size = 0 is out of range"),
        (
            "",
            {"CALLVAULT_RETENTION_CLASSES": "standard"},
            r"CALLVAULT_RETENTION_CLASSES = 'standard' is not a TOML inline table",
        ),
        (
            '[schedule]\npurge_cron = "0 2 * *"\n',
            {},
            r"schedule\.purge_cron = '0 2 \* \*' is not a crontab expression: it needs 5 fields",
        ),
        ('[schedule]\npurge_cron = "0 24 * * *"\n', {}, r"schedule\.purge_cron = '0 24"),
        (
            '[schedule]\ntimezone = "Mars/Olympus"\n',
            {},
            r"schedule\.timezone = 'Mars/Olympus' is not an IANA time zone",
        ),
        ("[retention]\nunknown = 1\n", {}, r"unknown key retention\.unknown"),
    ],
)
def test_configuration_errors(tmp_path: Path, toml: str, env: dict[str, str], message: str) -> None:
    (tmp_path / "callvault.toml").write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path / "callvault.toml", environ=env)
