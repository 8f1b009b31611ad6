"""The one way a request handler reaches the services: typed, from the running app."""

from __future__ import annotations

from quart import Quart, current_app

from idp.wiring import Services

_EXTENSION = "idp"


def attach(app: Quart, services: Services) -> None:
    app.extensions[_EXTENSION] = services


def services() -> Services:
    """The services of the app serving this request."""
    found: Services = current_app.extensions[_EXTENSION]
    return found


def services_of(app: Quart) -> Services:
    """The services of an app outside a request (start-up, tests)."""
    found: Services = app.extensions[_EXTENSION]
    return found
