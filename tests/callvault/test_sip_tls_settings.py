"""[sip] TLS and SRTP settings: every bad value is a ConfigError naming the field; a good one
starts a real TLS listener presenting the configured certificate.

The certificates are throwaway test fixtures made here with the openssl CLI (no secrets)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import subprocess
import threading
from pathlib import Path

import pytest

from callvault.settings import ConfigError, load_settings


def _pair(d: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 (test fixture)."""
    cert, key = d / f"{name}.crt", d / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _load(tmp_path: Path, sip: str) -> object:
    cfg = tmp_path / "callvault.toml"
    cfg.write_text("[sip]\n" + sip)
    return load_settings(cfg, environ={})


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    _pair(d, "node")
    _pair(d, "other")
    (d / "junk.pem").write_text("not a certificate\n")
    return d


@pytest.mark.parametrize(
    ("sip", "message"),
    [
        ('srtp = "mandatory"\n', r"sip.srtp = 'mandatory' needs SIP over TLS"),
        ('srtp = "always"\n', r"sip.srtp = 'always' is not allowed"),
        ("tls_port = 5061\n", r"sip.tls_cert must be set"),
        ('tls_cert = "{d}/node.crt"\n', r"sip.tls_cert is set but sip.tls_port = 0"),
        ("tls_port = 70000\n", r"sip.tls_port = 70000 is out of range"),
        ("tls_port = 5070\n", r"sip.tls_port = 5070 is also sip.port"),
        (
            'tls_port = 5061\ntls_cert = "{d}/nope.crt"\ntls_key = "{d}/node.key"\n',
            r"sip.tls_cert = '.*/nope.crt': no such file",
        ),
        (
            'tls_port = 5061\ntls_cert = "{d}/node.crt"\ntls_key = "{d}/other.key"\n',
            r"sip.tls_cert = .* and sip.tls_key = .* are not a certificate and its private key",
        ),
        (
            'tls_port = 5061\ntls_cert = "{d}/node.crt"\ntls_key = "{d}/node.key"\n',
            r"sip.tls_verify_server = true needs sip.tls_ca",
        ),
        (
            'tls_port = 5061\ntls_cert = "{d}/node.crt"\ntls_key = "{d}/node.key"\n'
            'tls_ca = "{d}/junk.pem"\n',
            r"sip.tls_ca = '.*/junk.pem' is not PEM CA certificates",
        ),
    ],
)
def test_bad_tls_settings_name_the_field(
    tmp_path: Path, certs: Path, sip: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, sip.replace("{d}", str(certs)))


def test_tls_listener_presents_the_configured_certificate(tmp_path: Path, certs: Path) -> None:
    from telephony.endpoint import Endpoint

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    s = _load(
        tmp_path,
        f'port = {port + 1 if port < 65000 else port - 1}\ntransports = ["udp"]\n'
        f'tls_port = {port}\ntls_cert = "{certs}/node.crt"\ntls_key = "{certs}/node.key"\n'
        f'tls_ca = "{certs}/node.crt"\nsrtp = "mandatory"\nrtp_port = 47000\n',
    ).sip  # type: ignore[attr-defined]
    ep = Endpoint(s, lambda: dt.datetime.now(dt.UTC))
    ep.start()
    got: dict[str, object] = {}

    def client() -> None:
        ctx = ssl.create_default_context(cafile=str(certs / "node.crt"))
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=20)
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                got["cert"] = tls.getpeercert(binary_form=True)
        except Exception as exc:
            got["error"] = exc

    t = threading.Thread(target=client)
    t.start()
    try:
        while t.is_alive():
            ep.poll(20)
    finally:
        t.join()
        ep.destroy()
    expected = ssl.PEM_cert_to_DER_cert((certs / "node.crt").read_text())
    assert got.get("cert") == expected, got
