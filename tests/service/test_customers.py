"""parse_customer_page (service/customers.py): how the list parameters of GET /Customers and
GET /CustomerGroups/{id}/Customers are read (shared/spec/customers.md §3, D7). No database."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from cartgroups.errors import Invalid
from cartgroups.service.customer_groups import LIMIT_DEFAULT, LIMIT_MAX
from cartgroups.service.customers import BAD_DATE, CustomerPage, parse_customer_page
from cartgroups.storage.customers import CustomerQuery

UTC = ZoneInfo("UTC")
EASTERN = ZoneInfo("America/New_York")
LIMIT_RULE = "limit must be an integer from 0 to 500 (0 means 10)"
OFFSET_RULE = "offset must be a whole number; the first record is 1"


def parsed(_zone: ZoneInfo = UTC, /, **params: str) -> CustomerPage:
    return parse_customer_page(params, _zone)


def parsed_from(params: dict[str, str]) -> CustomerPage:
    return parse_customer_page(params, UTC)


def epoch(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def test_no_parameters_are_the_first_10_unfiltered() -> None:
    assert parsed() == CustomerPage(CustomerQuery(), limit=10, offset=1, count_only=False)
    assert LIMIT_DEFAULT == 10 and LIMIT_MAX == 500


@pytest.mark.parametrize(
    ("params", "limit", "offset"),
    [
        ({"limit": ""}, 10, 1),
        ({"limit": "0"}, 10, 1),  # unlike CustomerGroups: 0 means 10 (D7)
        ({"limit": "1"}, 1, 1),
        ({"limit": "500"}, 500, 1),
        ({"limit": "+7"}, 7, 1),
        ({"limit": "007"}, 7, 1),
        ({"offset": ""}, 10, 1),
        ({"offset": "0"}, 10, 1),  # offset 0 is the first record, as 1 is
        ({"offset": "1"}, 10, 1),
        ({"offset": "25"}, 10, 25),
        ({"offset": "2147483648"}, 10, 2147483648),  # past any id: an empty page
        ({"offset": "99999999999999999999"}, 10, 2147483648),  # clamped, not an overflow
        ({"limit": "3", "offset": "4"}, 3, 4),
    ],
)
def test_limit_and_offset(params: dict[str, str], limit: int, offset: int) -> None:
    assert parsed_from(params) == CustomerPage(CustomerQuery(), limit=limit, offset=offset)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "501"}, LIMIT_RULE),
        ({"limit": "-1"}, LIMIT_RULE),
        ({"limit": "1.5"}, LIMIT_RULE),
        ({"limit": "1e2"}, LIMIT_RULE),
        ({"limit": "ten"}, LIMIT_RULE),
        ({"limit": " 5"}, LIMIT_RULE),
        ({"limit": "\u0665"}, LIMIT_RULE),  # an Arabic-Indic five
        ({"limit": "9" * 31}, LIMIT_RULE),
        ({"offset": "-1"}, OFFSET_RULE),
        ({"offset": "x"}, OFFSET_RULE),
        ({"offset": "1.0"}, OFFSET_RULE),
        ({"offset": "9" * 31}, OFFSET_RULE),
        ({"countonly": "2"}, "countonly must be 0 or 1"),
        ({"countonly": "-1"}, "countonly must be 0 or 1"),
        ({"countonly": "yes"}, "countonly must be 0 or 1"),
        ({"countonly": " 1"}, "countonly must be 0 or 1"),
        ({"email": "nul\x00"}, "email must be valid Unicode text without NUL characters"),
        ({"city": "\ud800"}, "city must be valid Unicode text without NUL characters"),
    ],
)
def test_bad_values_are_invalid(params: dict[str, str], message: str) -> None:
    with pytest.raises(Invalid) as caught:
        parsed_from(params)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("flag", "count_only"),
    [("1", True), ("true", True), ("TRUE", True), ("0", False), ("false", False), ("", False)],
)
def test_countonly(flag: str, count_only: bool) -> None:
    page = parsed(countonly=flag, limit="3", offset="2")
    assert page.count_only is count_only
    if not count_only:
        assert (page.limit, page.offset) == (3, 2)


def test_countonly_ignores_paging_and_keeps_the_filters() -> None:
    page = parsed(countonly="1", limit="999", offset="x", email=" A@B.c ")
    assert page == CustomerPage(CustomerQuery(email="a@b.c"), count_only=True)


def test_text_filters_are_trimmed_and_case_folded_and_blank_is_none() -> None:
    page = parsed(
        email="  Jane@Example.COM ",
        firstname="JANE",
        lastname="Straße",
        country=" us",
        state="Il\t",
        city="SPRINGFIELD",
        phone=" 555-0100 ",
    )
    assert page.query == CustomerQuery(
        email="jane@example.com",
        firstname="jane",
        lastname="strasse",  # casefold, not lower
        country="us",
        state="il",
        city="springfield",
        phone="555-0100",
    )
    assert parsed(email="", firstname="   ", city="\t").query == CustomerQuery()


def test_unknown_parameters_are_ignored() -> None:
    assert parsed(name="x", customergroupid="3", **{"$orderby": "Email"}) == parsed()


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("01/02/2024", (2024, 1, 2)),  # a date alone is its 00:00:00
        ("01/02/2024 00:00:00", (2024, 1, 2)),
        ("12/31/2023 23:59:59", (2023, 12, 31, 23, 59, 59)),
        ("1/2/2024 7:05:09", (2024, 1, 2, 7, 5, 9)),
        (" 02/29/2024 13:00:00 ", (2024, 2, 29, 13)),
    ],
)
def test_dates_are_mm_dd_yyyy_with_an_optional_24_hour_time(text: str, parts: tuple[int, ...]) -> None:
    page = parsed(lastupdatestart=text, lastupdateend=text)
    assert page.query.updated_from == page.query.updated_to == epoch(*parts)


def test_dates_are_read_in_the_store_time_zone() -> None:
    winter = parsed(EASTERN, lastupdatestart="01/15/2024 10:00:00").query.updated_from
    summer = parsed(EASTERN, lastupdateend="07/15/2024").query.updated_to
    assert winter == datetime(2024, 1, 15, 15, tzinfo=UTC).timestamp()  # EST, UTC-5
    assert summer == datetime(2024, 7, 15, 4, tzinfo=UTC).timestamp()  # EDT, UTC-4
    assert parsed(lastupdatestart="01/15/2024 10:00:00").query.updated_from == epoch(2024, 1, 15, 10)


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-02",
        "2024/01/02",
        "13/01/2024",
        "00/10/2024",
        "02/30/2023",
        "02/29/2023",
        "01/02/2024 24:00:00",
        "01/02/2024 10:60:00",
        "01/02/2024 10:00",
        "01/02/2024 10:00:00 PM",
        "01/02/2024T10:00:00",
        "01.02.2024",
        "yesterday",
        "01/02/2024 10:00:00.5",
        "nul\x00",
    ],
)
@pytest.mark.parametrize("name", ["lastupdatestart", "lastupdateend"])
def test_unparsable_dates_are_invalid(name: str, text: str) -> None:
    with pytest.raises(Invalid) as caught:
        parsed_from({name: text})
    assert caught.value.message == BAD_DATE.format(name)
    assert caught.value.message == (
        f"{name} must be a date and time as mm/dd/yyyy hh:mm:ss (24-hour clock) or a date as mm/dd/yyyy"
    )


def test_either_date_bound_is_optional_and_blank_is_none() -> None:
    assert parsed(lastupdatestart="", lastupdateend="  ").query == CustomerQuery()
    only_end = parsed(lastupdateend="01/02/2024").query
    assert (only_end.updated_from, only_end.updated_to) == (None, epoch(2024, 1, 2))


def test_a_long_bad_date_is_shown_cut_to_100_characters() -> None:
    with pytest.raises(Invalid) as caught:
        parsed(lastupdatestart="x" * 500)
    assert caught.value.value == "x" * 100
