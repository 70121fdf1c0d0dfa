"""How a command group plugs into `callvault`: a module with ``register(cli: Registrar)``.

Handlers take the parsed arguments and a Context and return the exit code. A Context makes the
settings and the wired services on first use, so a command pays only for what it touches
(`callvault calls pause` never imports SQLAlchemy, boto3 or Tink). Command modules import domain
code inside their handlers for the same reason.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from callvault.cli.output import one_line
from storage.errors import CallvaultError

if TYPE_CHECKING:
    from callvault.settings import Settings
    from callvault.wiring import Services

Handler = Callable[[argparse.Namespace, "Context"], int]


class UsageError(CallvaultError):
    """The arguments cannot work together (exit code 2, like argparse's own usage errors)."""


class Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line: `callvault ingest: error: … (see --help)`."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see `{self.prog} --help`)\n")


class Context:
    """What a handler gets besides its arguments: settings and services, made on first use
    and released by `close()` after the command."""

    def __init__(self, config: Path | None) -> None:
        self.config = config
        self._settings: Settings | None = None
        self._services: Services | None = None

    @property
    def settings(self) -> Settings:
        """The whole configuration, validated (a ConfigError becomes exit code 2)."""
        if self._settings is None:
            from callvault.settings import load_settings

            self._settings = load_settings(self.config)
        return self._settings

    def client_settings(self) -> Settings:
        """Settings for a client of a running agent: every key parsed and type-checked, but
        the retention policy, schedule and telephone region are not built (a client uses none
        of them, and building them imports APScheduler and libphonenumber)."""
        if self._settings is not None:
            return self._settings
        from callvault.settings import load_settings

        return load_settings(self.config, full=False)

    def services(self, *, migrated: bool = True) -> Services:
        """The wired services (each adapter built on first use); ``migrated`` first checks
        that the catalogue exists at the current schema (else: run `callvault init`)."""
        if self._services is None:
            from callvault.wiring import Services

            self._services = Services.build(self.settings)
        if migrated:
            self._services.catalogue.require_current()
        return self._services

    def close(self) -> None:
        if self._services is not None:
            self._services.close()
            self._services = None


class Registrar:
    """Adds commands and command groups to one level of the `callvault` parser."""

    def __init__(self, subparsers: Any) -> None:
        self._sub = subparsers

    def command(
        self, name: str, handler: Handler, help_: str, *, json_flag: bool = True
    ) -> argparse.ArgumentParser:
        """A command; returns its parser for the command's own arguments."""
        p: argparse.ArgumentParser = self._sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(handler=handler)
        if json_flag:
            p.add_argument("--json", action="store_true", help="one JSON document on stdout")
        return p

    def group(self, name: str, help_: str) -> Registrar:
        """A command group (`callvault NAME ACTION …`); returns the registrar of its actions."""
        p = self._sub.add_parser(name, help=help_, description=help_)
        return Registrar(p.add_subparsers(dest="action", required=True, metavar="ACTION"))


def fail(message: str) -> int:
    """Print one `callvault: …` line on stderr and return exit code 1."""
    print(f"callvault: {one_line(message)}", file=sys.stderr)
    return 1
