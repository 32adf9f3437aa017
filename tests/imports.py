"""What the modules of a package import, read from their source with ast: for the tests that
hold the layers apart (api/ and admin/ reach storage only through the service)."""

from __future__ import annotations

import ast
from importlib import resources
from pathlib import Path


def modules_of(package: str) -> list[Path]:
    """Every source file of ``package`` and its subpackages."""
    return sorted(Path(str(resources.files(package))).rglob("*.py"))


def imported(tree: ast.AST) -> list[str]:
    """Every module an import statement names, anywhere in the tree (a function's own imports
    too), with ``from x import y`` also as ``x.y`` so that ``from cartgroups import storage``
    counts. Relative imports are not used in cartgroups and are not listed."""
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def imports_of(package: str, reaching: str) -> dict[str, list[str]]:
    """For each module of ``package`` that imports anything of ``reaching``: what it imports."""
    found: dict[str, list[str]] = {}
    for path in modules_of(package):
        names = [n for n in imported(ast.parse(path.read_text(), str(path))) if within(n, reaching)]
        if names:
            found[path.name] = names
    return found
