"""Key-encryption modes and rotation: every recording stays readable, recorders can't read."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import boto3
import pytest
import tink
from botocore.stub import ANY, Stubber

from callvault.wiring import Services
from storage.crypto import DataKey, Envelope
from storage.errors import KeyUnavailableError
from storage.keys.aws_kms import AwsKmsKeyWrapper
from storage.keys.hpke import HpkeKeyWrapper
from storage.keys.keydir import KeyDirectory
from storage.keys.local import LocalKeyWrapper
from tests.conftest import Backend


def test_rotation_keeps_every_recording_readable(
    backend: Backend, services: Services, speech_call: Path, tmp_path: Path
) -> None:
    ids = [
        json.loads(
            backend.cli(
                "ingest", str(speech_call), "--call-id", f"r{i}", "--json", check=True
            ).stdout
        )["id"]
        for i in range(3)
    ]
    before = json.loads(backend.cli("keys", "list", "--json", check=True).stdout)
    assert [k["data_keys"] for k in before] == [3]
    r = json.loads(backend.cli("keys", "rotate", "--json", check=True).stdout)
    assert r["rewrapped"] == 3 and r["from"] == {before[0]["kek_id"]: 3}
    after = {k["kek_id"]: k for k in json.loads(backend.cli("keys", "list", "--json").stdout)}
    assert after[r["kek_id"]]["active"] and after[r["kek_id"]]["data_keys"] == 3
    assert after[before[0]["kek_id"]]["data_keys"] == 0
    for rid in ids:
        out = tmp_path / f"{rid}.opus"
        backend.cli("recordings", "export", rid, "--out", str(out), "--reason", "t", check=True)
        assert out.read_bytes()[:4] == b"OggS"
        assert (
            json.loads(backend.cli("recordings", "show", rid, "--json").stdout)["kek_id"]
            == r["kek_id"]
        )
    assert backend.cli("audit", "verify", check=True).returncode == 0
    # once the old KEK is gone, everything still opens under the new one
    for f in (backend.settings.keys.dir / "local").glob(before[0]["kek_id"][6:] + ".*"):
        f.unlink()
    backend.cli(
        "recordings",
        "export",
        ids[0],
        "--out",
        str(tmp_path / "again.opus"),
        "--reason",
        "t",
        check=True,
    )


def test_hpke_recorder_cannot_decrypt_but_retrieval_node_can(
    backend: Backend, speech_call: Path, tmp_path: Path
) -> None:
    backend.config.write_text(backend.config.read_text() + '\n[keys]\nmode = "hpke"\n')
    backend.cli("init", check=True)
    keydir = backend.settings.keys.dir / "hpke"
    private = list(keydir.glob("*.hpke-private.json"))
    assert len(private) == 1
    # a recorder node holds only the public key
    vault = tmp_path / "vault"
    vault.mkdir()
    shutil.move(private[0], vault / private[0].name)
    rid = json.loads(
        backend.cli("ingest", str(speech_call), "--call-id", "h", "--json", check=True).stdout
    )["id"]
    r = backend.cli("recordings", "export", rid, "--out", str(tmp_path / "x.wav"), "--reason", "t")
    assert r.returncode == 1 and "private key" in r.stderr and "not on this node" in r.stderr
    # the retrieval node, with the private key installed
    shutil.move(vault / private[0].name, private[0])
    backend.cli(
        "recordings", "export", rid, "--out", str(tmp_path / "x.wav"), "--reason", "t", check=True
    )
    assert (tmp_path / "x.wav").stat().st_size > 1000


def test_rotation_from_local_to_hpke_mode(tmp_path: Path) -> None:
    """A deployment moving modes: old rows unwrap by their kek_id's mode, rewrap to the new."""
    local = LocalKeyWrapper(KeyDirectory(tmp_path / "local"))
    hpke = HpkeKeyWrapper(KeyDirectory(tmp_path / "hpke"))
    local.rotate()
    hpke.rotate()
    old = Envelope(local, {"hpke": hpke})
    key, kek_id, wrapped = old.new_data_key("rec-1")
    sealed = key.seal("+441277", "caller")
    new = Envelope(hpke, {"local": local})
    new_kek, rewrapped = new.rewrap("rec-1", kek_id, wrapped)
    assert new_kek.startswith("hpke:")
    assert new.open_data_key("rec-1", new_kek, rewrapped).unseal(sealed, "caller") == "+441277"
    with pytest.raises(KeyUnavailableError):
        new.open_data_key("rec-2", new_kek, rewrapped)  # the row ID is bound into the wrap


def _kms_stubbed() -> tuple[AwsKmsKeyWrapper, Stubber]:
    client = boto3.session.Session().client(
        "kms", region_name="eu-west-2", aws_access_key_id="test", aws_secret_access_key="test"
    )
    return AwsKmsKeyWrapper("arn:aws:kms:eu-west-2:111122223333:key/k1", client=client), Stubber(
        client
    )


def test_aws_kms_wrapper_with_botocore_stubber() -> None:
    """No KMS server can run here: botocore's Stubber checks the exact requests we make."""
    wrapper, stub = _kms_stubbed()
    ctx = {"callvault:recording": "rec-9"}
    stub.add_response(
        "encrypt",
        {"CiphertextBlob": b"wrapped!", "KeyId": wrapper.key_id},
        {"KeyId": wrapper.key_id, "Plaintext": b"keyset", "EncryptionContext": ctx},
    )
    stub.add_response(
        "decrypt",
        {"Plaintext": b"keyset", "KeyId": wrapper.key_id},
        {"CiphertextBlob": b"wrapped!", "KeyId": wrapper.key_id, "EncryptionContext": ctx},
    )
    stub.add_client_error(
        "decrypt",
        "InvalidCiphertextException",
        "context mismatch",
        expected_params={
            "CiphertextBlob": b"wrapped!",
            "KeyId": ANY,
            "EncryptionContext": {"callvault:recording": "rec-0"},
        },
    )
    with stub:
        assert wrapper.wrap(b"keyset", b"rec-9") == b"wrapped!"
        assert wrapper.unwrap(wrapper.current_kek_id, b"wrapped!", b"rec-9") == b"keyset"
        with pytest.raises(KeyUnavailableError, match="could not unwrap"):
            wrapper.unwrap(wrapper.current_kek_id, b"wrapped!", b"rec-0")
    stub.assert_no_pending_responses()
    assert wrapper.rotate("arn:aws:kms:eu-west-2:111122223333:key/k2").endswith("/k2")
    with pytest.raises(KeyUnavailableError, match="needs the new KMS key id"):
        wrapper.rotate(None)


def test_data_key_round_trip_and_aad_binding(tmp_path: Path) -> None:
    local = LocalKeyWrapper(KeyDirectory(tmp_path))
    local.rotate()
    env = Envelope(local)
    key, kek_id, wrapped = env.new_data_key("rec-a")
    src = tmp_path / "plain.bin"
    src.write_bytes(b"audio" * 500_000)  # several 1 MB segments
    out = io.BytesIO()
    res = key.encrypt_file(src, out)
    assert res.plaintext_bytes == 2_500_000 and res.ciphertext_bytes > res.plaintext_bytes
    reopened = env.open_data_key("rec-a", kek_id, wrapped)
    reader, _tap = reopened.decrypt_stream(io.BytesIO(out.getvalue()))
    assert reader.read() == src.read_bytes()
    # the same keyset under another recording's ID does not open the stream
    other = DataKey("rec-b", reopened._handle)
    with pytest.raises(tink.TinkError):
        other.decrypt_stream(io.BytesIO(out.getvalue()))[0].read()
