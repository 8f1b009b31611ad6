"""Counting the database commands a request costs.

On a wire-protocol server (IDP_TEST_MONGO_URI) this is PyMongo's command monitoring,
which sees exactly what crosses the network. In memory it counts the outermost calls
into mongomock's collections, one per command that Motor would send.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pymongo import monitoring

_DATA_COMMANDS = {"find", "insert", "update", "delete", "findAndModify", "aggregate", "count", "getMore"}
_MONGOMOCK_METHODS = (
    "find", "find_one", "insert_one", "insert_many", "update_one", "update_many", "replace_one",
    "delete_one", "delete_many", "find_one_and_update", "find_one_and_replace", "find_one_and_delete",
    "bulk_write", "count_documents", "aggregate",
)


class RoundTrips:
    """Commands sent to one database, counted while `counting` is on."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.commands: list[str] = []
        self.filters: list[Any] = []  # each command's query filters (none for an insert)
        self.counting = False

    @contextmanager
    def measure(self) -> Iterator[list[str]]:
        self.commands.clear()
        self.filters.clear()
        self.counting = True
        try:
            yield self.commands
        finally:
            self.counting = False

    def saw(self, database: str, command: str, filters: list[Any]) -> None:
        if self.counting and database == self.database:
            self.commands.append(command)
            self.filters.extend(filters)

    def all_by_id(self) -> bool:
        """Every filter names one document by its `_id` (a string), as a sharded cluster
        routes to one shard and FerretDB serves without a scan."""
        return all(isinstance(f, dict) and isinstance(f.get("_id"), str) for f in self.filters)


class _Listener(monitoring.CommandListener):
    current: RoundTrips | None = None

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.current is not None and event.command_name in _DATA_COMMANDS:
            self.current.saw(event.database_name, event.command_name, _wire_filters(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _wire_filters(command: Any) -> list[Any]:
    name = next(iter(command))
    if name == "find":
        return [command.get("filter", {})]
    if name == "findAndModify":
        return [command.get("query", {})]
    if name == "update":
        return [update["q"] for update in command["updates"]]
    if name == "delete":
        return [delete["q"] for delete in command["deletes"]]
    if name in ("count", "aggregate"):
        return [command.get("query", command.get("pipeline"))]
    return []


def _mongomock_filters(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any]:
    if name.startswith("insert"):
        return []
    if name == "bulk_write":
        return [op._filter for op in args[0]]
    return [args[0] if args else kwargs.get("filter", {})]


_listener = _Listener()
monitoring.register(_listener)  # before any test builds its client


def count_in_memory(monkeypatch: pytest.MonkeyPatch, trips: RoundTrips) -> None:
    from mongomock.collection import Collection

    depth = threading.local()

    def counted(name: str, method: Any) -> Any:
        def wrapper(self: Collection, *args: Any, **kwargs: Any) -> Any:
            outermost = getattr(depth, "n", 0) == 0
            if outermost:
                trips.saw(self.database.name, name, _mongomock_filters(name, args, kwargs))
            depth.n = getattr(depth, "n", 0) + 1
            try:
                return method(self, *args, **kwargs)
            finally:
                depth.n -= 1
        return wrapper

    for name in _MONGOMOCK_METHODS:
        monkeypatch.setattr(Collection, name, counted(name, getattr(Collection, name)))


def count_on_the_wire(trips: RoundTrips) -> None:
    _listener.current = trips
