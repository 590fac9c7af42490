"""crm_site is the base every app stands on: it imports none of them. Cross-app pages
(the overview, the explorer, the customer page's panels, the portal) ask registries,
and the demo data names the apps' seed modules instead of importing them."""

from __future__ import annotations

import ast
from pathlib import Path

import crm_site

APPS = {"customers", "sales", "service", "marketing"}


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_crm_site_imports_no_app():
    root = Path(crm_site.__file__).parent
    offenders = {
        str(path.relative_to(root)): sorted(_imported(path) & APPS)
        for path in root.rglob("*.py")
        if _imported(path) & APPS
    }
    assert offenders == {}
