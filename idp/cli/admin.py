"""The operator's commands: `idp keys rotate|list`, `idp users ...`, `idp clients list`.
They parse, call idp.keys or idp.admin, and print.

Output is a table or key-value lines for people, JSON with --json for scripts. Every
refusal is one line on stderr and exit status 1 (2 for a configuration error, as argparse
uses for a usage error).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Sequence
from typing import Any

from pymongo.errors import PyMongoError

from idp.accounts.admin import Account, Admin, AdminRefusal
from idp.ops.audit import audit
from idp.clock import rfc3339, system_clock, to_datetime
from idp.ops.keys import RING_FILE, SIGNING_DELAY, KeyRing, KeyState
from idp.settings import Settings
from idp.wiring import Services, build_services

USER_REF = "the user's id, or their e-mail address"


def add_commands(commands: Any) -> None:
    """Add `keys`, `users` and `clients` to the `idp` parser's subcommands."""
    keys = commands.add_parser("keys", help="signing keys: rotate, list",
                               description="The signing keys in IDP_KEYS_DIR.")
    key_verbs = keys.add_subparsers(dest="keys_command", required=True)
    rotate = key_verbs.add_parser(
        "rotate", help="add a key: published at once, signing once every JWKS cache has it",
        description=f"Add a signing key. It is published in the JWKS at once and signs {SIGNING_DELAY} s "
                    "later, once every cache of the JWKS has seen it; the key it replaces signs until "
                    "then and stays published until every token it signed has expired.")
    rotate.add_argument("--create", action="store_true",
                        help="start a new key ring if the folder holds none (else that is refused)")
    key_verbs.add_parser("list", help="the published keys: kid, created, state (next, active, retiring), until")
    users = commands.add_parser("users", help="find, add, lock, unlock, log out and delete accounts",
                                description="Administer accounts in the database that IDP_MONGO_URI "
                                            "and IDP_MONGO_DB name.")
    verbs = users.add_subparsers(dest="users_command", required=True)
    add = verbs.add_parser("add", help="create an account (the password is read from a prompt, or "
                                       "from the first line of stdin)")
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--verified", action="store_true",
                     help="the address is known to be theirs: mark it verified and send no message")
    listing = verbs.add_parser("list", help="accounts in e-mail order, a page at a time")
    listing.add_argument("--email-prefix", default="", help="only e-mails that start with this (any case)")
    listing.add_argument("--after", help="start after this e-mail (the value the previous page printed)")
    listing.add_argument("--limit", type=int, default=50, help="accounts per page (default 50)")
    for verb, what in (("show", "one account, with its number of live logins"),
                       ("lock", "refuse every login of the account and end its logins"),
                       ("unlock", "let the account log in again"),
                       ("logout", "end every login of the account"),
                       ("remove-factors", "remove the authenticator app, recovery codes and passkeys (a lost phone)"),
                       ("delete", "delete the account and end its logins"),
                       ("set-password", "set the password (from a prompt, or the first line of stdin) "
                                        "and end every login"),
                       ("reset-link", "print a one-time password-reset link, as the message carries it "
                                      "(valid IDP_RESET_TTL; earlier links stop working)"),
                       ("verify", "mark the account's e-mail address verified")):
        command = verbs.add_parser(verb, help=what)
        command.add_argument("user", help=USER_REF)
        if verb == "delete":
            command.add_argument("--yes", action="store_true", help="really delete (it cannot be undone)")
    clients = commands.add_parser("clients", help="the clients the database knows")
    clients_verbs = clients.add_subparsers(dest="clients_command", required=True)
    clients_verbs.add_parser("list", help="every client, its grants, and whether the clients file still has it")
    for parser in (*key_verbs.choices.values(), *verbs.choices.values(), *clients_verbs.choices.values()):
        parser.add_argument("--json", action="store_true", help="print JSON, for scripts")


def open_services(settings: Settings) -> Services:
    """The server's services on the configured MongoDB (no I/O yet); refuses memory://."""
    if settings.in_memory:
        raise AdminRefusal("IDP_MONGO_URI is memory://: that store lives inside the server's process and "
                           "nothing else can reach it; set IDP_MONGO_URI and IDP_MONGO_DB to the server's MongoDB")
    return build_services(settings, system_clock)


def admin_of(services: Services) -> Admin:
    return Admin(services.accounts, services.users, services.login_store, services.clients, services.clock,
                 factors=services.factors)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "keys":
        try:
            return _keys(args, settings)
        except AdminRefusal as exc:
            return _refuse(str(exc))
    try:
        if args.command == "users" and args.users_command == "delete" and not args.yes:
            raise AdminRefusal(f"deleting {args.user} cannot be undone: run again with --yes")
        services = open_services(settings)  # no I/O yet: a refusal before any prompt
    except AdminRefusal as exc:
        return _refuse(str(exc))
    try:
        asks = args.command == "users" and args.users_command in ("add", "set-password")
        password = read_password() if asks else None
        return asyncio.run(_run_then_close(args, services, password))
    except AdminRefusal as exc:
        return _refuse(str(exc))
    except PyMongoError as exc:
        return _refuse(f"the database refused or did not answer ({type(exc).__name__}): check IDP_MONGO_URI "
                       "and that MongoDB is running")


async def _run_then_close(args: argparse.Namespace, services: Services, password: str | None) -> int:
    try:
        return await _run(args, admin_of(services), password, services)
    finally:
        await services.close()


def _keys(args: argparse.Namespace, settings: Settings) -> int:
    """Keys are files: no database, and a folder without a ring is refused rather than
    quietly given a new one (a cron job run in the wrong folder must fail loudly)."""
    ring = KeyRing(settings.keys_dir, settings.access_token_ttl, announce=False)
    folder = ring.folder.resolve()
    created = False
    if not ring.has_ring():
        if not getattr(args, "create", False):
            raise AdminRefusal(f"{folder} holds no key ring (no {RING_FILE}): set IDP_KEYS_DIR to the "
                               "server's keys folder, or pass --create to start a new ring there")
        created = True
    ring.load()
    if args.keys_command == "rotate" and not created:
        new = ring.rotate()
        audit("key.rotated", kid=new.kid, keys_dir=str(folder), signs_from=_when(new.until))
        lines = [f"keys folder: {folder}",
                 f"added key {new.kid}: published now, signs from {_when(new.until)}"]
    else:
        lines = [f"keys folder: {folder}"]
        if created:
            lines.append(f"created a new key ring; key {ring.active_kid} signs now")
    states = ring.describe()
    if args.json:
        print(json.dumps({"folder": str(folder), "keys": [_key_view(state) for state in states]}, indent=2))
    else:
        print("\n".join(lines))
        print(_table(["kid", "created", "state", "until"],
                     [[s.kid, _when(s.created), s.state, _when(s.until)] for s in states]))
    return 0


def _key_view(state: KeyState) -> dict[str, Any]:
    return {"kid": state.kid, "created": _when(state.created), "state": state.state,
            "until": _when(state.until) if state.until is not None else None}


def _when(seconds: float | None) -> str:
    return "-" if seconds is None else rfc3339(to_datetime(seconds))


def read_password() -> str:
    """From a prompt (twice) on a terminal, else the first line of stdin; never from argv,
    which other users of the machine can read in the process list."""
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise AdminRefusal("the two passwords differ")
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise AdminRefusal("no password given (type it at the prompt, or pipe it on stdin)")
    return password


async def _run(args: argparse.Namespace, admin: Admin, password: str | None, services: Services) -> int:
    if args.command == "clients":
        clients = await admin.clients()
        _print(args, {"clients": clients}, _client_table(clients))
        return 0
    verb = args.users_command
    if verb == "add":
        assert password is not None
        account = await admin.add(args.name, args.email, password, verified=args.verified)
        _print(args, account.view(), f"created {_who(account)}")
    elif verb == "list":
        page = await admin.list(args.email_prefix, args.after, args.limit)
        views = [account.view() for account in page.accounts]
        _print(args, {"users": views, "next_after": page.next_after}, _user_table(views))
        if page.next_after and not args.json:
            print(f"more: idp users list --after {page.next_after}", file=sys.stderr)
    elif verb == "show":
        account = await admin.show(args.user)
        view = account.view()
        _print(args, view, "\n".join(f"{name}: {value}" for name, value in view.items()))
    elif verb in ("lock", "logout"):
        account, ended = await (admin.lock(args.user) if verb == "lock" else admin.logout(args.user))
        done = "locked" if verb == "lock" else "logged out"
        _print(args, {**account.view(), "ended_sessions": ended}, f"{done} {_who(account)}: ended {ended} login(s)")
    elif verb == "remove-factors":
        account, removed = await admin.remove_factors(args.user)
        app = bool(removed and removed.totp)
        passkeys = len(removed.passkeys) if removed else 0
        _print(args, {**account.view(), "removed_authenticator_app": app, "removed_passkeys": passkeys},
               f"{_who(account)}: removed {'the authenticator app and its recovery codes, ' if app else ''}"
               f"{passkeys} passkey(s); the password alone signs in now")
    elif verb in ("set-password", "reset-link", "verify"):
        _recovery(args, await _recovery_verb(args, admin, password, services))
    elif verb == "unlock":
        account = await admin.unlock(args.user)
        _print(args, account.view(), f"unlocked {_who(account)}")
    else:
        account = await admin.delete(args.user)
        _print(args, account.view(), f"deleted {_who(account)} and ended its logins")
    return 0


async def _recovery_verb(args: argparse.Namespace, admin: Admin, password: str | None,
                         services: Services) -> tuple[dict[str, Any], str]:
    """(the JSON view, the line for people) of set-password, reset-link and verify."""
    verb = args.users_command
    if verb == "set-password":
        assert password is not None
        account, ended = await admin.set_password(args.user, password)
        return ({**account.view(), "ended_sessions": ended},
                f"set the password of {_who(account)}: ended {ended} login(s)")
    if verb == "reset-link":
        account, link = await admin.reset_link(args.user, services.password_reset)
        minutes = services.settings.reset_ttl // 60
        return ({**account.view(), "reset_link": link},
                f"{link}\n(one use, for {minutes} minutes; give it to {account.user.email} only)")
    account = await admin.verify(args.user, services.verification)
    return account.view(), f"verified the e-mail address of {_who(account)}"


def _recovery(args: argparse.Namespace, answer: tuple[dict[str, Any], str]) -> None:
    _print(args, *answer)


def _who(account: Account) -> str:
    return f"{account.user.email} ({account.user.user_id})"


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2) if args.json else text)


def _user_table(views: list[dict[str, Any]]) -> str:
    return _table(["email", "id", "locked", "created_at", "name"],
                  [[v["email"], v["id"], "locked" if v["locked"] else "-", v["created_at"], v["name"]]
                   for v in views])


def _client_table(clients: list[dict[str, Any]]) -> str:
    return _table(["client_id", "auth_method", "grant_types", "scope", "in_file"],
                  [[c["client_id"], c["token_endpoint_auth_method"], ",".join(c["grant_types"]),
                    c["scope"] or "-", "yes" if c["in_file"] else f"no (removed {c['removed_at']})"]
                   for c in clients])


def _table(header: list[str], rows: Sequence[list[str]]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
                     for row in [header, *rows])


def _refuse(message: str) -> int:
    print(f"idp: {message}", file=sys.stderr)
    return 1
