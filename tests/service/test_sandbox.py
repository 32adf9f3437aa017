"""Rules of the sandbox that need no database: patterns, default messages, the token check."""

from __future__ import annotations

import pytest

from cartgroups.errors import Invalid, Unauthorized
from cartgroups.service.sandbox import (
    TOKEN_MISSING,
    TOKEN_WRONG,
    Sandbox,
    SeedRejected,
    compile_pattern,
    default_message,
    validated_groups,
)

PATH = "/3dCartWebAPI/v1/CustomerGroups/12"


@pytest.mark.parametrize(
    ("pattern", "regex", "matches"),
    [
        ("*", False, True),
        ("*/CustomerGroups/*", False, True),
        ("*/customergroups/*", False, True),  # case-insensitive
        ("*/CustomerGroups", False, False),  # a glob matches the whole path
        ("/3dcartwebapi/v?/customergroups/1?", False, True),
        ("/3dCartWebAPI/v1/CustomerGroups/[0-9]*", False, True),
        (r"CustomerGroups/\d+$", True, True),  # a regex is searched
        (r"^CustomerGroups", True, False),
        (r"/v2/", True, False),
    ],
)
def test_patterns(pattern: str, regex: bool, matches: bool) -> None:
    compiled = compile_pattern(pattern, regex)
    found = compiled.search(PATH) if regex else compiled.match(PATH)
    assert bool(found) is matches


def test_default_messages() -> None:
    assert default_message(503) == "The service is unavailable."
    assert default_message(429).startswith("Too many requests.")
    assert default_message(418) == "I'm a Teapot"
    assert default_message(599) == "Error 599"


def test_validated_groups_names_every_bad_one() -> None:
    with pytest.raises(SeedRejected) as raised:
        validated_groups([{"Name": "ok"}, {"Name": 5}, "x"])
    assert raised.value.problems == [
        (1, "Name must be a string"),
        (2, "The request body must be a JSON object (a CustomerGroup)"),
    ]
    assert validated_groups([]) == []


def test_seeded_price_levels_follow_the_servers_setting() -> None:
    levels = [{"Name": "a"}, {"Name": "b", "PriceLevel": -48512740}]
    assert [v["price_level"] for v in validated_groups(levels)] == [0, -48512740]
    with pytest.raises(SeedRejected) as raised:
        validated_groups(levels, price_level_1_to_10=True)
    assert raised.value.problems == [(1, "PriceLevel must be an integer from 1 to 10")]
    ui_levels = [{"Name": "a"}, {"Name": "b", "PriceLevel": 10}]
    assert [v["price_level"] for v in validated_groups(ui_levels, price_level_1_to_10=True)] == [1, 10]


def test_the_token_check() -> None:
    sandbox = Sandbox(None, token="a-token-of-16-chars", journal_size=1)  # type: ignore[arg-type]
    sandbox.check_token("a-token-of-16-chars")
    for presented, message in [
        (None, TOKEN_MISSING),
        ("", TOKEN_MISSING),
        ("a-token", TOKEN_WRONG),
        ("é", TOKEN_WRONG),
    ]:
        with pytest.raises(Unauthorized) as raised:
            sandbox.check_token(presented)
        assert raised.value.message == message


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({}, "status"),
        ({"status": 600}, "status"),
        ({"status": 500, "method": "FETCH"}, "method"),
        ({"status": 500, "path": 5}, "path"),
        ({"status": 500, "path": "x" * 501}, "path"),
        ({"status": 500, "match": "regex", "path": "("}, "path"),
        ({"status": 500, "match": "exact"}, "match"),
        ({"latency_ms": 5, "message": "hi"}, "message"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"status": 500, "probability": "1"}, "probability"),
        ({"status": 500, "times": 0}, "times"),
        ({"status": 500, "retry_after": -1}, "retry_after"),
    ],
)
def test_a_rejected_rule_names_its_field(rule: dict[str, object], field: str) -> None:
    """The API sends only the message; the admin console shows it next to ``fields``' field."""
    sandbox = Sandbox(None, token="a-token-of-16-chars", journal_size=1)  # type: ignore[arg-type]
    with pytest.raises(Invalid) as raised:
        sandbox.add_fault(rule)
    assert dict(raised.value.fields) == {field: raised.value.message}
