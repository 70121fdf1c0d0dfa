"""The portal's domain without HTTP: sessions' idle timeout, the login throttle's window,
token and password storage, Range parsing, the authorisation rule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from portal import access, stream
from portal.auth import roles
from portal.auth.principal import Principal
from portal.auth.sessions import Sessions
from portal.auth.users import Throttle, Users
from portal.errors import BadInput, NotAuthenticated, Throttled, Unsatisfiable
from storage.catalogue.db import Catalogue
from storage.catalogue.models import PortalToken, PortalUser, Recording

PW = "a long enough password"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def catalogue(tmp_path: Path) -> Iterator[Catalogue]:
    cat = Catalogue(f"sqlite:///{tmp_path / 'c.db'}")
    cat.migrate()
    yield cat
    cat.close()


def test_a_session_ends_after_the_idle_timeout(catalogue: Catalogue) -> None:
    clock = Clock()
    users = Users(catalogue, clock=clock)
    users.add("sam", "supervisor", services=["waste"], password=PW, actor="t")
    sessions = Sessions(catalogue, idle_timeout=timedelta(minutes=30), clock=clock)
    sid = sessions.create(users.login("sam", PW))
    for _ in range(3):  # activity keeps it alive past 30 minutes in total
        clock.now += timedelta(minutes=20)
        info = sessions.lookup(sid)
        assert info is not None and info.user.services == frozenset({"waste"})
    clock.now += timedelta(minutes=31)
    assert sessions.lookup(sid) is None
    assert sessions.lookup("not a session") is None


def test_disabling_a_user_ends_sessions_and_tokens(catalogue: Catalogue) -> None:
    users = Users(catalogue)
    users.add("kim", "dpo", password=PW, actor="t")
    sessions = Sessions(catalogue, idle_timeout=timedelta(minutes=30))
    sid = sessions.create(users.login("kim", PW))
    token = users.issue_token("kim", label="x", actor="t")
    assert users.by_token(token).name == "kim"
    users.disable("kim", actor="t")
    assert sessions.lookup(sid) is None
    with pytest.raises(NotAuthenticated):
        users.by_token(token)
    with pytest.raises(NotAuthenticated):
        users.login("kim", PW)


def test_the_throttle_counts_failures_in_its_window_only(catalogue: Catalogue) -> None:
    clock = Clock()
    users = Users(catalogue, clock=clock, throttle=Throttle(3, timedelta(minutes=10)))
    users.add("ann", "qa", password=PW, actor="t")
    for _ in range(3):
        with pytest.raises(NotAuthenticated):
            users.login("ann", "wrong")
    with pytest.raises(Throttled):
        users.login("ann", PW)
    clock.now += timedelta(minutes=11)  # the failures have aged out of the window
    assert users.login("ann", PW).name == "ann"
    with pytest.raises(NotAuthenticated):  # an unknown name fails like a wrong password
        users.login("nobody", PW)


def test_only_hashes_are_stored(catalogue: Catalogue) -> None:
    users = Users(catalogue)
    users.add("lee", "platform", actor="t")
    token = users.issue_token("lee", label="pbx", actor="t")
    users.set_password("lee", PW, actor="t")
    with catalogue.session() as s:
        row = s.scalar(select(PortalUser).where(PortalUser.name == "lee"))
        assert row is not None and row.password_hash is not None
        assert row.password_hash.startswith("$argon2id$") and PW not in row.password_hash
        stored = s.scalar(select(PortalToken.token_hash))
        assert stored is not None and token not in stored and len(stored) == 64


def test_bad_users_are_refused_with_the_allowed_values(catalogue: Catalogue) -> None:
    users = Users(catalogue)
    with pytest.raises(BadInput, match="allowed: supervisor, qa, dpo"):
        users.add("x", "boss", actor="t")
    with pytest.raises(BadInput, match="not scoped"):
        users.add("x", "dpo", services=["waste"], actor="t")
    with pytest.raises(BadInput, match="at least 12"):
        users.add("x", "qa", password="short", actor="t")
    assert users.bootstrap_admin(actor="t") is not None
    assert users.bootstrap_admin(actor="t") is None  # only on a catalogue with no users


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, (0, 999, False)),
        ("bytes=0-", (0, 999, True)),
        ("bytes=100-199", (100, 199, True)),
        ("bytes=900-5000", (900, 999, True)),
        ("bytes=-10", (990, 999, True)),
        ("bytes=-5000", (0, 999, True)),
        ("bytes=0-1,5-6", (0, 999, False)),  # several ranges: we send it all
        ("items=0-1", (0, 999, False)),
    ],
)
def test_ranges(header: str | None, expected: tuple[int, int, bool]) -> None:
    r = stream.parse_range(header, 1000)
    assert (r.start, r.end, r.partial) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5-4", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(Unsatisfiable):
        stream.parse_range(header, 1000)


def _user(role: str, services: frozenset[str] | None = None, **kw: bool) -> Principal:
    return Principal(1, "u", role, services, kw.get("dl", False), kw.get("change", False))


def test_the_rule() -> None:
    waste = Recording(service="waste")
    sup = _user(roles.SUPERVISOR, frozenset({"housing"}))
    assert access.can(sup, roles.PLAY) and not access.can(sup, roles.PLAY, waste)
    assert not access.can(sup, roles.DOWNLOAD)
    assert access.can(_user(roles.SUPERVISOR, dl=True), roles.DOWNLOAD, waste)
    assert not access.can(_user(roles.AUDITOR, dl=True), roles.DOWNLOAD, waste)
    assert access.can(_user(roles.DPO), roles.CONSENT_ONLY)
    assert not access.can(_user(roles.DPO, change=True), roles.VIEW)  # first change password
    sql = str(access.scoped(select(Recording), sup).compile())
    assert "recordings.service IN" in sql
    none = str(access.scoped(select(Recording), _user(roles.AUDITOR)).compile()).lower()
    assert "false" in none or "0 = 1" in none
