"""Issue #19 item 1: Python 3.13 could not import cartgroups.

3.13's compiler cleans docstrings and writes them to the .pyc as UTF-8; a lone surrogate in one
(`"\\ud800"` written unescaped in api/wire.py) made `import cartgroups` fail with
UnicodeEncodeError. Every string constant of the package's source must be UTF-8 text.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "cartgroups"


def test_no_string_constant_in_the_source_holds_a_lone_surrogate() -> None:
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                try:
                    node.value.encode("utf-8")
                except UnicodeEncodeError:
                    bad.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert bad == []
