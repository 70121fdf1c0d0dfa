"""`callvault users …`: add, list, role, token, passwd, disable; one clear line on bad input."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import CALLVAULT, Backend

PW = "a long enough password"


def users(
    backend: Backend, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CALLVAULT, "--config", str(backend.config), "users", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=backend.config.parent,
        check=False,
    )


def test_users_commands(backend: Backend) -> None:
    backend.cli("init", check=True)
    r = users(
        backend,
        "add",
        "jo",
        "--role",
        "supervisor",
        "--service",
        "waste",
        "--password-stdin",
        "--json",
        stdin=PW + "\n",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["services"] == ["waste"]
    listed = json.loads(users(backend, "list", "--json").stdout)
    assert [u["name"] for u in listed] == ["admin", "jo"]
    r = users(backend, "role", "jo", "--role", "dpo", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["role"] == "dpo"
    tok = users(backend, "token", "jo", "--label", "ci", "--json")
    assert tok.returncode == 0 and json.loads(tok.stdout)["token"].startswith("cvt_")
    assert users(backend, "passwd", "jo", "--password-stdin", stdin="x" * 20 + "\n").returncode == 0
    assert json.loads(users(backend, "disable", "jo", "--json").stdout)["disabled"] is True
    audit = backend.cli("audit", "verify", check=True)
    assert audit.returncode == 0
    # bad input: one line, exit 1 (operation failed) or 2 (usage), no traceback
    for args, stdin, code in (
        (("add", "jo", "--role", "qa", "--password-stdin"), PW + "\n", 1),
        (("add", "Bad Name", "--role", "qa", "--no-password"), None, 1),
        (("add", "pat", "--role", "dpo", "--service", "x", "--no-password"), None, 1),
        (("add", "pat", "--role", "qa", "--password-stdin"), "short\n", 1),
        (("add", "pat", "--role", "boss", "--no-password"), None, 2),
        (("disable", "nobody"), None, 1),
    ):
        r = users(backend, *args, stdin=stdin)
        assert r.returncode == code, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert PW not in json.dumps([users(backend, "list", "--json").stdout])
