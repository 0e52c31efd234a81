"""The geo floor stands alone: it imports nothing of cdw but ``cdw.errors``, and the road
network stands on it, not on the trajectory engine."""

from __future__ import annotations

import ast
from pathlib import Path

import cdw

PACKAGE = Path(cdw.__file__).parent


def cdw_imports(package: str) -> dict[str, set[str]]:
    """Every ``cdw.*`` module each file of ``package`` imports, wherever the import stands."""
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[str(path.relative_to(PACKAGE))] = {n for n in names if n.split(".")[0] == "cdw"}
    return found


def test_geo_imports_no_domain() -> None:
    outside = {
        path: sorted(n for n in names if not n.startswith(("cdw.geo", "cdw.errors")))
        for path, names in cdw_imports("geo").items()
    }
    assert {path: names for path, names in outside.items() if names} == {}


def test_roads_do_not_import_the_engine() -> None:
    upward = {
        path: sorted(n for n in names if n.startswith("cdw.tracking"))
        for path, names in cdw_imports("roads").items()
    }
    assert {path: names for path, names in upward.items() if names} == {}
