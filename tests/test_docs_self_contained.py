"""Issue #19 item 6: the docs cite only files that the repository has (docs/api.md cited a spec
file from outside it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
# A file path in backticks or a Markdown link: something/like/this.md (or .txt, .py, .toml).
CITED = re.compile(r"`([\w./-]+/[\w.-]+\.(?:md|txt|py|toml|lock))`|\]\(([\w./-]+\.(?:md|txt|py|toml|lock))\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_cited_file_is_in_the_repository(doc: Path) -> None:
    missing = []
    for match in CITED.finditer(doc.read_text()):
        cited = match.group(1) or match.group(2)
        bases = (ROOT, doc.parent, ROOT / "src/cartgroups")  # module paths are cited from the package
        if not any((base / cited).exists() for base in bases):
            missing.append(cited)
    assert missing == [], f"{doc.name} cites files the repository does not have"
