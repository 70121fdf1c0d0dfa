"""`callvault users add|list|disable|passwd|role|token`: the portal's people and machines."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from callvault.cli.common import actor
from callvault.cli.output import emit
from callvault.cli.registry import Context, Registrar, UsageError

ROLES = ("supervisor", "qa", "dpo", "auditor", "admin", "platform")


def _users(ctx: Context) -> Any:
    from portal.auth.users import Users

    return Users(ctx.services().catalogue)


def _read_password(args: argparse.Namespace, prompt: str) -> str:
    if getattr(args, "password_stdin", False):
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin: nothing was read from standard input")
        return password
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for a password: use --password-stdin")
    first = getpass.getpass(prompt)
    if getpass.getpass("again: ") != first:
        raise UsageError("the two passwords differ")
    return first


def _print_user(u: dict[str, Any]) -> None:
    scope = ", ".join(u["services"]) if u["services"] else "all services"
    flags = [f for f, on in (("download", u["may_download"]), ("disabled", u["disabled"])) if on]
    if u["must_change_password"]:
        flags.append("must change password")
    print(f"{u['name']:<20} {u['role']:<10} {scope}  {' '.join(flags)}".rstrip())


def cmd_add(args: argparse.Namespace, ctx: Context) -> int:
    password = None if args.no_password else _read_password(args, f"password for {args.name}: ")
    view = _users(ctx).add(
        args.name,
        args.role,
        services=args.service or None,
        password=password,
        may_download=args.download,
        actor=actor(),
    )
    emit(args, view, lambda: _print_user(view))
    return 0


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    rows = _users(ctx).list()

    def human() -> None:
        for u in rows:
            _print_user(u)

    emit(args, rows, human)
    return 0


def cmd_disable(args: argparse.Namespace, ctx: Context) -> int:
    view = _users(ctx).disable(args.name, actor=actor())
    emit(args, view, lambda: _print_user(view))
    return 0


def cmd_passwd(args: argparse.Namespace, ctx: Context) -> int:
    password = _read_password(args, f"new password for {args.name}: ")
    _users(ctx).set_password(args.name, password, actor=actor(), temporary=args.temporary)
    print(f"password of {args.name} changed", file=sys.stderr)
    return 0


def cmd_role(args: argparse.Namespace, ctx: Context) -> int:
    view = _users(ctx).set_role(args.name, args.role, services=args.service or None, actor=actor())
    emit(args, view, lambda: _print_user(view))
    return 0


def cmd_token(args: argparse.Namespace, ctx: Context) -> int:
    token = _users(ctx).issue_token(args.name, label=args.label, actor=actor())
    if args.json:
        print(json.dumps({"token": token}))
    else:
        print(token)
        print("shown once: only its hash is kept", file=sys.stderr)
    return 0


def register(cli: Registrar) -> None:
    g = cli.group("users", "portal users: add, list, disable, passwd, role, token")
    add = g.command("add", cmd_add, "add a user with a role (and services for supervisor, qa)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--service", action="append", default=[], help="repeat; default all")
    add.add_argument("--download", action="store_true", help="may also download audio")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--no-password", action="store_true", help="tokens only (machines)")
    g.command("list", cmd_list, "list users")
    dis = g.command("disable", cmd_disable, "disable a user: sessions and tokens end at once")
    dis.add_argument("name")
    pw = g.command("passwd", cmd_passwd, "set a user's password", json_flag=False)
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    pw.add_argument("--temporary", action="store_true", help="must be changed at next login")
    role = g.command("role", cmd_role, "change a user's role (and services)")
    role.add_argument("name")
    role.add_argument("--role", required=True, choices=ROLES)
    role.add_argument("--service", action="append", default=[], help="repeat; default all")
    tok = g.command("token", cmd_token, "issue a bearer token (printed once)")
    tok.add_argument("name")
    tok.add_argument("--label", default="token")
