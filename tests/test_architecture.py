"""The import rules of DESIGN.md §6, read from the source (every import statement, at module
level or inside a function): the floor (geo, flags, audit) and the engine (tracking) import
no face and no flow; the top-level packages of cdw form no cycle.

A rule that does not hold yet is marked ``xfail(strict=True)`` with what breaks it: once it
holds, the test fails until the mark is removed.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

import cdw

ROOT = Path(cdw.__file__).parent
FLOOR = ("geo", "flags", "audit")
ENGINE = "tracking"
FACES_AND_FLOWS = ("flows", "live", "api", "cli")  # live: a flow-level package
DOMAINS = ("registry", "permits", "manifests", "tracking", "roads", "enforcement", "live")
DATABASE = ("sqlalchemy", "sqlmodel", "cdw.db", "cdw.flags.models", "cdw.flags.store")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, package: str) -> set[str]:
    """The modules ``source`` (a module of ``package``) imports, at module level or inside a
    function (for ``from a import b``: ``a`` and ``a.b``, since ``b`` may be a module)."""
    targets: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets.add(base)
            targets |= {f"{base}.{alias.name}" for alias in node.names}
    return targets


@cache
def imports() -> dict[str, set[str]]:
    """Every module of cdw -> the modules it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found[name] = imports_of(path.read_text(encoding="utf-8"), package)
    return found


def top_level(module: str) -> str | None:
    """``tracking`` for ``cdw.tracking.checks.speeding``; None outside cdw."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "cdw" else None


def existing(packages: tuple[str, ...]) -> list[str]:
    return [p for p in packages if (ROOT / p).is_dir() or (ROOT / f"{p}.py").is_file()]


def offending(packages: list[str], forbidden: tuple[str, ...]) -> list[str]:
    """``module -> import`` for each import of ``forbidden`` (top-level names, or module
    prefixes with a dot) by a module of ``packages``."""
    out = []
    for module, targets in imports().items():
        if top_level(module) not in packages:
            continue
        for target in sorted(targets):
            if top_level(target) in forbidden or any(
                target == f or target.startswith(f"{f}.") for f in forbidden if "." in f
            ):
                out.append(f"{module} -> {target}")
    return out


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    known = {top_level(m) for m in imports()} - {None}
    for module, targets in imports().items():
        source = top_level(module)
        for target in targets:
            dest = top_level(target)
            if source and dest in known and dest != source:
                graph[source].add(dest)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one package (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_graph_sees_imports_at_module_level_and_inside_functions():
    assert "cdw.flags.models" in imports()["cdw.models"]
    inside = "def f():\n    from cdw.flows import day\n    from .store import replace_flags\n"
    assert imports_of(inside, "cdw.flags") >= {"cdw.flows.day", "cdw.flags.store"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_floor_imports_no_flow_and_no_face():
    assert offending(existing(FLOOR), FACES_AND_FLOWS) == []


def test_the_engine_imports_no_flow_and_no_face():
    assert offending([ENGINE], FACES_AND_FLOWS) == []


def test_the_floor_imports_no_domain():
    assert offending(existing(FLOOR), DOMAINS) == []


def test_codes_values_and_explanations_of_flags_are_pure():
    pure = {"cdw.flags.codes", "cdw.flags.values", "cdw.flags.explain"}
    assert pure <= set(imports())
    touching = [
        f"{module} -> {target}"
        for module in sorted(pure)
        for target in sorted(imports()[module])
        if any(target == d or target.startswith(f"{d}.") for d in DATABASE)
    ]
    assert touching == []


def test_the_floor_is_in_no_cycle():
    graph = package_graph()
    assert [c for c in cycles(graph) if set(c) & set(FLOOR)] == []


def test_no_cycle_between_top_level_packages():
    assert cycles(package_graph()) == []
