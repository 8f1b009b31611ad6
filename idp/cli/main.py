"""The `idp` command: `idp serve` (idp.cli.serve) and the operator's commands (idp.cli.admin)."""

from __future__ import annotations

import argparse
import logging
import sys

from idp.cli import admin as admin_cli
from idp.cli.serve import serve
from idp.ops.logs import configure_logging
from idp.settings import ConfigError, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="idp", description="A self-hosted OAuth2 identity provider.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the app with Hypercorn on IDP_HOST:IDP_PORT",
                        description="Serve the app with Hypercorn on IDP_HOST:IDP_PORT, in IDP_WORKERS processes.",
                        epilog=_environment_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    admin_cli.add_commands(commands)
    args = parser.parse_args(argv)

    configure_logging(logging.INFO)
    unknown = Settings.unknown_variables()
    if unknown:
        logging.getLogger("idp").warning(
            "unknown environment variable(s) %s: not a setting, ignored (a typo? `idp serve --help` lists them)",
            ", ".join(unknown))
    try:
        settings = Settings.from_env()
        if args.command == "serve":
            return serve(settings)
        return admin_cli.run(args, settings)
    except ConfigError as exc:
        print(f"idp: configuration error: {exc}", file=sys.stderr)
        return 2


def _environment_help() -> str:
    variables = Settings.variables()
    width = max(len(name) for name, _, _ in variables)
    lines = [f"  {name:<{width}}  {meaning} (default: {default})" for name, default, meaning in variables]
    return "environment variables:\n" + "\n".join(lines)
