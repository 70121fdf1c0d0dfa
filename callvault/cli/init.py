"""`callvault init`: create var/ (catalogue, store, dev keys) or migrate; idempotent."""

from __future__ import annotations

import argparse

from callvault.cli.registry import Context, Registrar


def cmd_init(args: argparse.Namespace, ctx: Context) -> int:
    for line in ctx.services(migrated=False).init():
        print(line)
    return 0


def register(cli: Registrar) -> None:
    cli.command(
        "init",
        cmd_init,
        "create var/ (catalogue, store, dev keys) or migrate; idempotent",
        json_flag=False,
    )
