"""Issue #19 item 6: a misspelt setting given to serve() or cartgroups_settings is an error naming
it (and the closest real one), not silently ignored while the tests run on the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from cartgroups.testing import serve
from tests.testing.test_plugin import _pytest


def test_serve_names_an_unknown_setting_and_the_closest_one() -> None:
    with pytest.raises(TypeError) as raised, serve(max_bulk_item=10):
        pass
    assert str(raised.value) == (
        "unknown cartgroups setting 'max_bulk_item'; did you mean 'max_bulk_items'? "
        "(the settings are the fields of cartgroups.config.Settings)"
    )


def test_serve_names_an_unknown_setting_with_nothing_close() -> None:
    with pytest.raises(TypeError) as raised, serve(colour="blue"):
        pass
    assert str(raised.value) == (
        "unknown cartgroups setting 'colour' (the settings are the fields of cartgroups.config.Settings)"
    )


CONFTEST = """
import pytest


@pytest.fixture(scope="session")
def cartgroups_settings():
    return {"max_bulk_item": 10}
"""

TESTS = """
def test_never_runs(cartgroups_server):
    pass
"""


def test_the_plugin_names_an_unknown_key_of_cartgroups_settings(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_it.py").write_text(TESTS)
    result = _pytest(tmp_path)
    assert "1 error" in result.stdout, result.stdout + result.stderr
    assert (
        "cartgroups_settings: unknown cartgroups setting 'max_bulk_item'; did you mean 'max_bulk_items'?"
        in result.stdout
    )
    assert "Traceback" not in result.stdout
