"""`idp serve` and `idp keys rotate`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import TYPE_CHECKING

from idp.logs import configure_logging
from idp.settings import ConfigError, Settings

if TYPE_CHECKING:
    from hypercorn.config import Config
    from quart import Quart


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="idp", description="A self-hosted OAuth2 identity provider.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the app with Hypercorn on IDP_HOST:IDP_PORT")
    keys = commands.add_parser("keys", help="manage signing keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    keys_commands.add_parser("rotate", help="add a new signing key and make it the active one")
    args = parser.parse_args(argv)

    configure_logging(logging.INFO)
    try:
        settings = Settings.from_env()
        if args.command == "serve":
            return _serve(settings)
        return _rotate(settings)
    except ConfigError as exc:
        print(f"idp: configuration error: {exc}", file=sys.stderr)
        return 2


def _rotate(settings: Settings) -> int:
    from idp.keys import KeyRing

    ring = KeyRing(settings.keys_dir, settings.access_token_ttl)
    ring.load()
    kid = ring.rotate()
    published = [key["kid"] for key in ring.jwks()["keys"]]
    print(f"active key: {kid}; published keys: {', '.join(published)}")
    return 0


def _serve(settings: Settings) -> int:
    from hypercorn.config import Config

    from idp.app import create_app

    app = create_app(settings)
    config = Config()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    config.bind = [f"{host}:{settings.port}"]
    # our own access log (idp.logs) has the request id and never the query string
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    asyncio.run(_serve_until_signalled(app, config))
    return 0


async def _serve_until_signalled(app: Quart, config: Config) -> None:
    """Serve until SIGINT or SIGTERM, then let Hypercorn finish what is in flight."""
    from hypercorn.asyncio import serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(app, config, shutdown_trigger=stop.wait)


if __name__ == "__main__":
    sys.exit(main())
