"""The shape of the code, checked: layers import downwards only, the import graph has no
cycle, Quart stays in the HTTP layer, and Authlib's protocol core and the bridge stay in
the Authlib adapter. A move that breaks the picture in the README fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "idp"

# lowest first; a module may import its own layer and the layers below it
LAYERS = [
    ("idp.settings", "idp.clock"),
    ("idp.ops", "idp.store"),
    ("idp.accounts", "idp.logins", "idp.oauth", "idp.mail"),
    ("idp.oauth.authlib",),
    ("idp.wiring",),
    ("idp.http",),
    ("idp.app",),
    ("idp.cli",),
]
BELOW_HTTP = ("idp.settings", "idp.clock", "idp.ops", "idp.store", "idp.accounts", "idp.logins", "idp.oauth",
              "idp.mail", "idp.wiring")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module this file imports, at any depth of the file (late imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {_module_name(path): path for path in ROOT.rglob("*.py")}
GRAPH = {name: {m for m in _imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _layer(module: str) -> int:
    """The most specific package that names the module decides its layer."""
    best, rank = -1, -1
    for index, packages in enumerate(LAYERS):
        for package in packages:
            if _within(module, package) and len(package) > best:
                best, rank = len(package), index
    if rank < 0:
        pytest.fail(f"{module} is in no layer: add it to LAYERS and to the README's picture")
    return rank


def test_every_module_imports_only_its_own_layer_and_the_layers_below() -> None:
    upward = sorted(f"{module} -> {imported}" for module, imports in GRAPH.items()
                    for imported in imports
                    if module != "idp" and imported != "idp" and _layer(imported) > _layer(module))
    assert upward == []


def test_the_import_graph_has_no_cycle() -> None:
    # a package's __init__ is not an import of its modules' code
    graph = {module: {m for m in imports if MODULES[m].name != "__init__.py"} for module, imports in GRAPH.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                cycles.append(path[path.index(imported):] + [imported] if imported in path else [module, imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_nothing_below_the_http_layer_imports_quart() -> None:
    found = sorted(module for module, path in MODULES.items()
                   if any(_within(module, package) for package in BELOW_HTTP)
                   and any(_within(m, "quart") or _within(m, "werkzeug") for m in _imports(path)))
    assert found == []


def test_only_the_authlib_adapter_imports_authlib_s_protocol_core_or_waits_on_the_bridge() -> None:
    outside = sorted(f"{module} -> {m}" for module, path in MODULES.items()
                     if not _within(module, "idp.oauth.authlib")
                     for m in _imports(path)
                     if _within(m, "authlib.oauth2") or m == "idp.oauth.authlib.bridge.wait")
    assert outside == []


@pytest.mark.parametrize("package", ["idp.logins", "idp.accounts", "idp.store"])
def test_the_domain_and_the_store_know_nothing_of_http(package: str) -> None:
    found = sorted(f"{module} -> {m}" for module, path in MODULES.items() if _within(module, package)
                   for m in _imports(path) if _within(m, "idp.http") or _within(m, "quart"))
    assert found == []


def test_no_docstring_cites_a_document_outside_the_repository() -> None:
    citing = sorted(module for module, path in MODULES.items() if "CONTRACT" in path.read_text())
    assert citing == []
