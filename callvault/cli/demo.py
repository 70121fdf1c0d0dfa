"""`callvault demo`: a real SIP call on loopback, narrated (the work is callvault.demo)."""

from __future__ import annotations

import argparse
from pathlib import Path

from callvault.cli.common import actor
from callvault.cli.registry import Context, Registrar


def cmd_demo(args: argparse.Namespace, ctx: Context) -> int:
    from callvault.demo import run_demo

    return run_demo(ctx.services(migrated=False), actor=actor(), workdir=args.workdir)


def register(cli: Registrar) -> None:
    demo = cli.command(
        "demo", cmd_demo, "a generated call ingested and exported, step by step", json_flag=False
    )
    demo.add_argument("--workdir", type=Path, help="where to put the generated audio")
