"""`callvault …` — the command line (design.md section 5). Exit 0 ok, 1 failed, 2 usage."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from callvault.cli.output import one_line
from callvault.cli.registry import Context, Handler, Parser, Registrar, UsageError
from storage.errors import CallvaultError

# The commands, in `--help` order: each is the module of callvault.cli of the same name, with
# register(cli). A new command (group) is a new module and one line here.
GROUPS = (
    "init",
    "ingest",
    "recordings",
    "audit",
    "keys",
    "demo",
    "retention",
    "hold",
    "serve",
    "worker",
    "portal",
    "agent",
    "calls",
    "objections",
    "identity",
    "users",
    "qa",
    "disclosures",
    "requests",
    "webhooks",
)

log = logging.getLogger("callvault")
_NOISY = ("botocore", "boto3", "s3transfer", "urllib3", "alembic")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command; when ``argv`` names a command, of that one alone (so
    `callvault calls pause …` does not import and build the other forty-odd parsers)."""
    p = Parser(prog="callvault", description=__doc__)
    p.add_argument("--config", type=Path, help="configuration file (default ./callvault.toml)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    cli = Registrar(p.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    wanted = _command_in(argv)
    for name in (wanted,) if wanted in GROUPS else GROUPS:
        importlib.import_module(f"callvault.cli.{name}").register(cli)
    return p


def _command_in(argv: Sequence[str] | None) -> str | None:
    """The command word of ``argv`` (after the global options), or None."""
    args = list(sys.argv[1:] if argv is None else argv)
    while args:
        word = args.pop(0)
        if word == "--config":
            args = args[1:]
        elif word in ("-v", "--verbose") or word.startswith("--config="):
            continue
        else:
            return None if word.startswith("-") else word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ctx = Context(args.config)
    try:
        handler: Handler = args.handler
        return handler(args, ctx)
    except UsageError as exc:  # like argparse's own: `callvault ingest: error: … (see …)`
        prog = " ".join(["callvault", args.command, *([args.action] if "action" in args else [])])
        print(f"{prog}: error: {one_line(str(exc))} (see `{prog} --help`)", file=sys.stderr)
        return 2
    except CallvaultError as exc:
        from callvault.settings import ConfigError

        if isinstance(exc, ConfigError):
            return _error(f"configuration error: {exc}", 2)
        return _error(str(exc), 1)
    except KeyboardInterrupt:
        return _error(
            "interrupted (a job already in the spool is finished by `callvault ingest --resume`)",
            130,
        )
    except BrokenPipeError as exc:
        if not _stdout_open():  # its reader went away (`callvault recordings list | head`)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
            return 1
        log.debug("unexpected error", exc_info=True)
        return _error(f"unexpected {type(exc).__name__}: {exc} (run with -v for details)", 1)
    except Exception as exc:  # a bug, not an expected failure: still one line, details with -v
        log.debug("unexpected error", exc_info=True)
        return _error(f"unexpected {type(exc).__name__}: {exc} (run with -v for details)", 1)
    finally:
        ctx.close()


def _stdout_open() -> bool:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return False
    return True


def _error(message: str, code: int) -> int:
    print(f"callvault: {one_line(message)}", file=sys.stderr)
    return code
