"""Engine and session set-up for the catalogue, and Alembic migrations run in-process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage.errors import StorageError
from storage.fsutil import create_private, private_dir

MIGRATIONS = Path(__file__).parent / "migrations"


CONNECT_TIMEOUT_S = 5  # PostgreSQL: libpq's whole connection attempt, handshake included


def make_engine(url: str, echo: bool = False) -> Engine:
    """An engine whose SQLite transactions take the write lock up front (BEGIN IMMEDIATE).

    The audit chain reads the last hash and appends in one transaction; on SQLite that is only
    safe when the lock is held from the start. PostgreSQL uses an advisory lock instead.
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:":
            _create_private_db(Path(path))
        engine = create_engine(
            url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # let us emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    # Without a connect timeout a database host that does not answer holds every caller (a
    # scrape of /readyz, a hand-off) for the operating system's TCP timeout, minutes; a
    # `connect_timeout` in the URL wins over this default.
    connect_args = {} if "connect_timeout=" in url else {"connect_timeout": CONNECT_TIMEOUT_S}
    return create_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args)


def _create_private_db(path: Path) -> None:
    """Create the SQLite file owner-only before SQLite does (it would follow the umask); its
    -wal and -shm files take the database file's permissions."""
    private_dir(path.parent)
    try:
        os.close(create_private(path))
    except FileExistsError:
        return


class Catalogue:
    """Owns the engine it creates (or borrows one it is given) and hands out sessions."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        engine: Engine | None = None,
        audit_key: bytes | None = None,
    ) -> None:
        self.url = url
        self.audit_key = audit_key  # keys the audit chain (storage/audit.py); None: unkeyed
        self._owns_engine = engine is None
        self.engine = engine or make_engine(url, echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._sessions(info={"audit_key": self.audit_key}) as s, s.begin():
            yield s

    def _alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["engine"] = self.engine
        return cfg

    def migrate(self) -> tuple[str | None, str]:
        """Create or upgrade the schema to the latest migration; returns (before, after)."""
        before = self.current_revision()
        command.upgrade(self._alembic_config(), "head")
        return before, self.head_revision()

    def head_revision(self) -> str:
        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        if head is None:  # pragma: no cover - the package ships migrations
            raise StorageError("no Alembic migrations found in the installed package")
        return head

    def current_revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        except OperationalError as exc:
            raise StorageError(f"cannot open the catalogue at {self.safe_url}: {exc.orig}") from exc

    def require_current(self) -> None:
        """Fail clearly when the schema is missing or older than this code."""
        current, head = self.current_revision(), self.head_revision()
        if current != head:
            state = "does not exist" if current is None else f"is at revision {current}"
            raise StorageError(
                f"catalogue {self.safe_url} {state}, this code needs {head}: run `callvault init`"
            )

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()
