"""The layering of docs/architecture.md, checked on the import graph of auriko_nb read from its source (AST).

Module-level and function-level imports count; imports under `if TYPE_CHECKING:` do not (they never run).
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "auriko_nb"

# The layers, lowest first (docs/architecture.md). A module not listed fails `test_every_module_has_a_layer`.
TYPES = {"errors", "_version", "types", "types.*"}
CLIENT = {"client", "client.*"}
MEASUREMENT = {"measure", "measure.*"}
SESSION = {"notebook.settings", "notebook.attach", "notebook.connect"}  # the notebook entry points' glue
UI = {"notebook", "notebook.*", "cli", "cli.*", ""}  # "": __init__
OFFLINE = {"offline", "offline.*"}
TELEMETRY = {"telemetry", "telemetry.*"}  # ak.instrument(): OpenTelemetry spans and metrics (the [otel] extra)

LAYERS = {"types": TYPES, "client": CLIENT, "measurement": MEASUREMENT, "session": SESSION, "ui": UI,
          "offline": OFFLINE, "telemetry": TELEMETRY}
MAY_IMPORT = {  # what each layer may import (besides itself)
    "types": set(),
    "client": {"types"},
    "offline": set(),
    "measurement": {"types", "client", "session"},  # session: `compare()` with no client attaches the notebook's
    "session": {"types", "client", "measurement", "offline"},
    "ui": {"types", "client", "measurement", "session", "offline", "telemetry"},
    "telemetry": {"types", "client"},  # measurement never imports it: sweeps use client/observe.py's run hook
}


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> str | None:
    for layer, members in LAYERS.items():
        for m in members:
            if module == m or (m.endswith(".*") and module.startswith(m[:-1])):
                return layer
    return None


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: at module level, in functions and classes; not under TYPE_CHECKING."""
    out: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str | None]]:
    """(imported auriko_nb module, imported name or None) for each name of the statement."""
    if isinstance(node, ast.Import):
        found = [a.name.removeprefix("auriko_nb").lstrip(".") for a in node.names if a.name.split(".")[0] == "auriko_nb"]
        return [(m, None) for m in found]
    if node.level == 0:
        if not (node.module or "").startswith("auriko_nb"):
            return []
        base = node.module.removeprefix("auriko_nb").lstrip(".")  # type: ignore[union-attr]
    else:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        parts = package.split(".") if package else []
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    out: list[tuple[str, str | None]] = []
    for alias in node.names:
        sub = f"{base}.{alias.name}" if base else alias.name
        out.append((sub, None) if sub in MODULES else (base, alias.name))
    return out


def import_graph() -> dict[str, dict[str, set[str | None]]]:
    """module -> imported module -> the names imported from it (None: the module itself)."""
    graph: dict[str, dict[str, set[str | None]]] = {m: {} for m in MODULES}
    for module, path in MODULES.items():
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            for target, name in _targets(module, node):
                if target != module and target in MODULES:
                    graph[module].setdefault(target, set()).add(name)
    return graph


GRAPH = import_graph()


def _cycles(graph: dict[str, dict[str, set[str | None]]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            connect(v)
    return found


def test_the_graph_reader_sees_every_kind_of_import() -> None:
    assert "errors" in GRAPH["client._retry"] and "types.record_schema" in GRAPH["measure.ledger"]  # module level
    assert "notebook.magics" in GRAPH[""]  # inside a function (load_ipython_extension)
    assert "client.result" not in GRAPH["client.records"]  # under TYPE_CHECKING only (or not at all)


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_every_module_has_a_layer() -> None:
    assert [m for m in MODULES if layer_of(m) is None] == []


def test_each_layer_imports_only_what_it_may() -> None:
    broken = []
    for module, edges in GRAPH.items():
        mine = layer_of(module)
        for target in edges:
            theirs = layer_of(target)
            if mine and theirs and theirs != mine and theirs not in MAY_IMPORT[mine]:
                broken.append(f"{module} ({mine}) imports {target} ({theirs})")
    assert broken == []


@pytest.mark.parametrize("forbidden", ["notebook", "measure", "offline"])
def test_the_client_core_imports_nothing_from_the_notebook_or_measurement(forbidden: str) -> None:
    offenders = [f"{m} -> {t}" for m in MODULES if layer_of(m) in ("client", "types") for t in GRAPH.get(m, {})
                 if t == forbidden or t.startswith(forbidden + ".")]
    assert offenders == []


def test_the_folder_listing_shows_the_layers() -> None:
    """Every module lives in its layer's subpackage; only the package's front door, errors and the CLI sit on top."""
    top = sorted(m for m in MODULES if "." not in m)
    assert top == ["", "_version", "cli", "client", "errors", "measure", "notebook", "offline", "telemetry", "types"]


def test_the_offline_gateway_imports_nothing_from_the_client_side() -> None:
    outside = {f"{m} -> {t}" for m, e in GRAPH.items() if layer_of(m) == "offline" for t in e if layer_of(t) != "offline"}
    assert outside == set()


def test_no_module_imports_another_modules_private_names() -> None:
    private = sorted(f"{m} imports {t}.{n}" for m, edges in GRAPH.items() for t, names in edges.items()
                     for n in names if n and n.startswith("_") and not n.startswith("__"))
    assert private == []


def test_every_exception_class_lives_in_errors() -> None:
    """The client, measurement and notebook layers raise only errors.py's classes (the offline gateway is a server)."""
    elsewhere = []
    for module in sorted(MODULES):
        if module in ("errors", "") or layer_of(module) == "offline" or module.endswith("__main__"):
            continue  # a __main__ runs its program when imported
        mod = importlib.import_module(f"auriko_nb.{module}")
        for name, obj in vars(mod).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == mod.__name__:
                elsewhere.append(f"{module}.{name}")
    assert elsewhere == []


def test_old_import_paths_of_moved_names_still_work() -> None:
    import auriko_nb as ak
    from auriko_nb import errors
    from auriko_nb.client import _retry, records
    from auriko_nb.measure import ledger, sweep
    from auriko_nb.types import record_schema as schema

    assert sweep.BudgetError is errors.BudgetError is ak.BudgetError
    assert _retry.is_retryable is errors.is_retryable
    assert records.RECORD_COLUMNS is schema.RECORD_COLUMNS is ak.RECORD_COLUMNS
    assert ledger.coerce_types is schema.coerce_types and ledger.to_frame is schema.to_frame
    assert ledger.record_dtypes is schema.record_dtypes


def test_architecture_doc_names_every_layer_and_module_group() -> None:
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for word in ("HTTP client", "measurement", "notebook UI", "offline gateway", "types", "telemetry",
                 "tests/test_architecture.py"):
        assert word in doc


def test_no_function_runs_past_sixty_lines() -> None:
    """Functions over ~60 lines are split where the split is natural (issue 13); C901 bounds their branching."""
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > 60:
                    long.append(f"{module}.{node.name}: {length} lines")
    assert long == []
