"""Property tests of list query parsing (limit, offset, countonly) against an independent model
of the documented rules (docs/api.md "Paging"): any mix of values, well-formed or not, gets
exactly the model's status and bytes, never a 5xx."""

from __future__ import annotations

import re

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.api.hostile import HOSTILE_NUMBERS
from tests.api.support import COLLECTION, LIMIT_RULE, OFFSET_PAST_END, OFFSET_RULE, group_bytes
from tests.conftest import create_group, error_body

GROUPS = 12
INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,30}")  # what a .NET int parameter binder takes

values = st.one_of(
    st.none(),
    st.just(""),
    st.integers(min_value=-3, max_value=GROUPS + 3).map(str),
    st.integers(min_value=-(10**25), max_value=10**25).map(str),
    st.sampled_from(["0", "1", "500", "501", "+2", "007", "1.0", "1e1", " 1", "true", "false", "TRUE"]),
    st.sampled_from([*HOSTILE_NUMBERS, "²", "9" * 5000, "\x00"]),  # issue #15
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6),
)


def model(limit: str | None, offset: str | None, countonly: str | None) -> tuple[int, bytes]:
    """Status and body the documented rules give for a store holding groups 1..GROUPS."""
    if countonly:
        flag = {"0": False, "false": False, "1": True, "true": True}.get(countonly.lower())
        if flag is None:
            return 400, error_body(400, "countonly must be 0 or 1")
        if flag:
            return 200, b'{"TotalCount":%d}' % GROUPS
    size = 10
    if limit:
        size = int(limit) if INTEGER_TEXT.fullmatch(limit) else 0
        if not 1 <= size <= 500:
            return 400, error_body(400, LIMIT_RULE)
    start = 1
    if offset:
        if not INTEGER_TEXT.fullmatch(offset) or int(offset) < 0:
            return 400, error_body(400, OFFSET_RULE)
        start = max(int(offset), 1)
    if start > GROUPS:
        return 400, error_body(400, OFFSET_PAST_END)
    ids = range(start, min(start + size, GROUPS + 1))
    return 200, b"[" + b",".join(group_bytes(i, f"g{i}") for i in ids) + b"]"


@pytest.fixture
def listing(api: httpx.Client) -> httpx.Client:
    for i in range(1, GROUPS + 1):
        assert create_group(api, Name=f"g{i}") == i
    return api


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=values, offset=values, countonly=values)
@example(limit="5", offset="11", countonly=None)
@example(limit="abc", offset="abc", countonly="1")  # countonly wins over malformed paging
@example(limit="0", offset="-1", countonly="0")  # limit is checked before offset
def test_any_paging_query_gets_exactly_the_documented_answer(
    listing: httpx.Client, limit: str | None, offset: str | None, countonly: str | None
) -> None:
    params = {
        k: v for k, v in (("limit", limit), ("offset", offset), ("countonly", countonly)) if v is not None
    }
    response = listing.get(COLLECTION, params=params)
    status, body = model(limit, offset, countonly)
    assert (response.status_code, response.content) == (status, body), params
