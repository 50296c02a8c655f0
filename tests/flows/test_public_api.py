"""The public surface of `flows` and the dependency rule: flows imports nothing of ours, no I/O."""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

import pytest

import flows

FLOWS_DIR = Path(flows.__file__).parent
MODULES = sorted(FLOWS_DIR.glob("*.py"))
FORBIDDEN = {"bot", "kyc", "storage", "support", "telegram", "sqlalchemy", "httpx", "aiogram"}
# Pure logic: no clock, no network, no files, no processes, no randomness.
IMPURE_STDLIB = {"asyncio", "os", "random", "secrets", "socket", "subprocess", "threading", "time"}
ALLOWED_THIRD_PARTY = {"stdnum"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.partition(".")[0])
    return roots


def test_all_names_exist() -> None:
    for name in flows.__all__:
        assert hasattr(flows, name), name


def test_all_public_members_are_exported_once() -> None:
    public = {
        name
        for name, value in vars(flows).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }

    assert len(flows.__all__) == len(set(flows.__all__))
    assert set(flows.__all__) == public


def test_the_package_has_modules_to_check() -> None:
    assert {path.stem for path in MODULES} >= {"__init__", "decide", "table", "parsing"}


@pytest.mark.parametrize("path", MODULES, ids=[path.stem for path in MODULES])
def test_flows_imports_only_stdlib_stdnum_and_itself(path: Path) -> None:
    roots = _imported_roots(path)

    assert roots.isdisjoint(FORBIDDEN)
    assert roots.isdisjoint(IMPURE_STDLIB)
    outside = roots - set(sys.stdlib_module_names) - ALLOWED_THIRD_PARTY - {"flows", "__future__"}
    assert outside == set()


def _is_main_guard(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


def _library_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node except those under `if __name__ == "__main__":` (a module's command line)."""
    nodes: list[ast.AST] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if _is_main_guard(node):
            continue
        nodes.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return nodes


@pytest.mark.parametrize("path", MODULES, ids=[path.stem for path in MODULES])
def test_flows_never_awaits_nor_reads_the_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))

    for node in _library_nodes(tree):
        assert not isinstance(node, ast.AsyncFunctionDef | ast.Await | ast.AsyncWith | ast.AsyncFor)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            assert node.func.attr not in {"now", "utcnow", "today", "time", "monotonic"}, (
                f"{path.name}:{node.lineno} reads a clock"
            )
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in {"open", "print", "input"}, f"{path.name}:{node.lineno}"
