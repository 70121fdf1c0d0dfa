"""Settings: one frozen object; errors name the key and the bad value."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from callvault.settings import ConfigError, Secret, load_settings


def test_embedded_default_resolves_against_the_working_directory(tmp_path: Path) -> None:
    s = load_settings(environ={}, cwd=tmp_path)
    assert s.config_file is None
    assert s.database.url == f"sqlite:///{tmp_path}/var/callvault.db"
    assert s.store.backend == "filesystem" and s.store.path == tmp_path / "var/objects"
    assert s.keys.mode == "local" and s.keys.dir == tmp_path / "var/keys"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.audio.format = "wav"  # type: ignore[misc]


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    cfg = tmp_path / "etc" / "callvault.toml"
    cfg.write_text('[spool]\ndir = "spool"\n[audio]\nformat = "wav"\n')
    s = load_settings(environ={"CALLVAULT_CONFIG": str(cfg)}, cwd=Path("/"))
    assert s.spool.dir == tmp_path / "etc/spool" and s.audio.format == "wav"


def test_environment_overrides_the_file_and_secrets_are_masked(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[store]\nbackend = "s3"\n[s3]\nbucket = "b"\npath_style = false\n')
    s = load_settings(
        cfg,
        environ={
            "CALLVAULT_S3_ENDPOINT_URL": "http://127.0.0.1:8333",
            "CALLVAULT_S3_PATH_STYLE": "true",
            "CALLVAULT_S3_SECRET_ACCESS_KEY": "hunter2",
            "CALLVAULT_DATABASE_URL": "postgresql+psycopg://u@db/cv",
        },
    )
    assert s.s3.endpoint_url == "http://127.0.0.1:8333" and s.s3.path_style is True
    assert s.database.url == "postgresql+psycopg://u@db/cv"
    assert s.s3.secret_access_key == Secret("hunter2")
    assert "hunter2" not in repr(s)


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (
            '[audio]\nformat = "mp3"\n',
            {},
            "audio.format = 'mp3' is not allowed; allowed values: 'opus', 'wav'",
        ),
        ("[audio]\nopus_complexity = 11\n", {}, "audio.opus_complexity = 11 is out of range 0..10"),
        ('[s3]\npath_style = "yes"\n', {}, "s3.path_style = 'yes' is not a boolean"),
        ('[s3]\nbuckett = "x"\n', {}, "unknown key s3.buckett"),
        ("[sipp]\nport = 1\n", {}, "unknown section [sipp]"),
        ('[sip]\ntransports = ["sctp"]\n', {}, "sip.transports = ['sctp']: allowed values"),
        ('[consent]\npause_code = "*x"\n', {}, "consent.pause_code = '*x' must be DTMF digits"),
        ("[audio\n", {}, "not valid TOML"),
        (
            "",
            {"CALLVAULT_S3_MAX_ATTEMPTS": "many"},
            "CALLVAULT_S3_MAX_ATTEMPTS = 'many' is not an integer",
        ),
        ("", {"CALLVAULT_S3_BUCKIT": "x"}, "unknown environment variable CALLVAULT_S3_BUCKIT"),
        ("", {"CALLVAULT_KEYS_MODE": "aws-kms"}, "keys.kms_key_id must be set"),
        ("", {"CALLVAULT_DATABASE_URL": "mysql://x"}, "only sqlite:/// and postgresql"),
        # A float is not silently cut to an integer, from the file or the environment.
        ("[sip]\nport = 5070.9\n", {}, "sip.port = 5070.9 is not an integer"),
        ("[sip]\nport = 5070.0\n", {}, "sip.port = 5070.0 is not an integer"),
        ('[sip]\nport = "5070"\n', {}, "sip.port = '5070' is not an integer"),
        ("", {"CALLVAULT_SIP_PORT": "5070.9"}, "CALLVAULT_SIP_PORT = '5070.9' is not an integer"),
        # A typo inside a [[consent.notices]] entry fails here, naming the entry and the key.
        (
            '[[consent.notices]]\nid = "a"\nversion = "1"\nlanguage = "en-GB"\nfile = "a.wav"\n'
            '[[consent.notices]]\nid = "b"\nversion = "1"\nlangauge = "en-GB"\nfile = "b.wav"\n',
            {},
            "unknown key consent.notices[2].langauge; allowed in [[consent.notices]]: dialled, "
            "file, id, language, service, version",
        ),
        (
            '[[consent.notices]]\nid = "a"\nversion = "1"\nfile = "a.wav"\n',
            {},
            "consent.notices[1] lacks language",
        ),
        (
            "[[consent.notices]]\nid = 7\n",
            {},
            "consent.notices[1].id = 7 is not a non-empty string",
        ),
    ],
)
def test_bad_configuration_names_key_and_value(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    cfg = tmp_path / "callvault.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_settings(cfg, environ=env)
    assert message in str(exc.value)


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_a_client_load_checks_every_key_but_builds_no_schedule(tmp_path: Path) -> None:
    cfg = tmp_path / "callvault.toml"
    cfg.write_text('[schedule]\npurge_cron = "not a cron"\n[sip]\ncontrol_port = 6001\n')
    with pytest.raises(ConfigError, match=r"schedule\.purge_cron"):
        load_settings(cfg, environ={})
    assert load_settings(cfg, environ={}, full=False).sip.control_port == 6001
    cfg.write_text("[sip]\nport = 5070.9\n")
    with pytest.raises(ConfigError, match=r"sip\.port = 5070\.9 is not an integer"):
        load_settings(cfg, environ={}, full=False)


def test_sip_and_consent_sections_are_the_domain_settings(tmp_path: Path) -> None:
    """Declared once (telephony/settings.py, consent/settings.py); seconds may be fractional."""
    from consent.settings import ConsentSettings
    from telephony.settings import SipSettings

    cfg = tmp_path / "c.toml"
    cfg.write_text("[consent]\nobjection_grace_s = 1.5\n[sip]\nack_timeout_s = 4\n")
    s = load_settings(cfg, environ={"CALLVAULT_CONSENT_CODE_TIMEOUT_S": "2.5"})
    assert isinstance(s.sip, SipSettings) and isinstance(s.consent, ConsentSettings)
    assert s.consent.objection_grace_s == 1.5 and s.consent.code_timeout_s == 2.5
    assert s.sip.ack_timeout_s == 4.0 and isinstance(s.sip.ack_timeout_s, float)
    with pytest.raises(ConfigError, match="CALLVAULT_CONSENT_OBJECTION_GRACE_S = 'soon'"):
        load_settings(cfg, environ={"CALLVAULT_CONSENT_OBJECTION_GRACE_S": "soon"})
    cfg.write_text("[consent]\nobjection_grace_s = 61.0\n")
    with pytest.raises(ConfigError, match=r"consent.objection_grace_s = 61.0 is out of range"):
        load_settings(cfg, environ={})
