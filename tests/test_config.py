"""Settings: the sandbox is off by default and its token can be typed into a header; bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cartgroups.config import Settings


def test_the_sandbox_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CARTGROUPS_SANDBOX", "CARTGROUPS_SANDBOX_TOKEN", "CARTGROUPS_SANDBOX_JOURNAL_SIZE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.sandbox, settings.sandbox_token, settings.sandbox_journal_size) == (False, None, 100)


def test_sandbox_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARTGROUPS_SANDBOX", "True")
    monkeypatch.setenv("CARTGROUPS_SANDBOX_TOKEN", "0123456789abcdef")
    monkeypatch.setenv("CARTGROUPS_SANDBOX_JOURNAL_SIZE", "7")
    settings = Settings()
    assert (settings.sandbox, settings.sandbox_token, settings.sandbox_journal_size) == (
        True,
        "0123456789abcdef",
        7,
    )


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("short", "String should have at least 16 characters"),
        ("x" * 201, "String should have at most 200 characters"),
        ("with a space inside", "Value error, use printable ASCII characters only, without spaces"),
        ("ünïcode-token-here", "Value error, use printable ASCII characters only, without spaces"),
    ],
)
def test_a_bad_sandbox_token_is_refused(token: str, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(sandbox_token=token)
    assert raised.value.errors()[0]["msg"] == message


@pytest.mark.parametrize("size", [0, 10_001])
def test_journal_size_bounds(size: int) -> None:
    with pytest.raises(ValidationError):
        Settings(sandbox_journal_size=size)


@pytest.mark.parametrize("value", ["0", "-1", "65537", "lots"])
def test_a_read_cache_budget_out_of_bounds_is_refused(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARTGROUPS_READ_CACHE_MB", value)
    with pytest.raises(ValidationError, match="read_cache_mb"):
        Settings()


def test_the_read_cache_budget_defaults_to_32_mib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARTGROUPS_READ_CACHE_MB", raising=False)
    assert Settings().read_cache_mb == 32


@pytest.mark.parametrize("value", ["0", "-1", "1001", "many"])
def test_a_postgresql_pool_size_out_of_bounds_is_refused(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARTGROUPS_PG_POOL_SIZE", value)
    with pytest.raises(ValidationError, match="pg_pool_size"):
        Settings()


def test_the_postgresql_pool_size_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARTGROUPS_PG_POOL_SIZE", raising=False)
    assert Settings().pg_pool_size == 10
    monkeypatch.setenv("CARTGROUPS_PG_POOL_SIZE", "3")
    assert Settings().pg_pool_size == 3
