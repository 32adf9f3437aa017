"""Numbers with huge exponents in a file given to ``cartgroups groups import`` (issue #15, item 1):
one past Decimal's range is a one-line file problem (it was a traceback); the others are read
and then refused by the API's own rules, at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cartgroups.cli.groups_io import FileProblem, read_rows
from cartgroups.errors import Invalid
from cartgroups.service.validation import group_values
from tests.api.hostile import BEYOND_DECIMAL, HUGE_EXPONENTS


@pytest.mark.parametrize("text", BEYOND_DECIMAL)
def test_a_number_past_decimals_range_is_a_file_problem(tmp_path: Path, text: str) -> None:
    path = tmp_path / "groups.json"
    path.write_text(f'[{{"Name":"x","MinimumOrder":{text}}}]')
    with pytest.raises(FileProblem, match=r"is not valid JSON: a number in it is too long$"):
        read_rows(path, "auto")


@pytest.mark.parametrize("text", HUGE_EXPONENTS)
def test_a_huge_exponent_in_a_row_is_its_fields_rule_at_once(tmp_path: Path, text: str) -> None:
    path = tmp_path / "groups.json"
    path.write_text(f'[{{"Name":"x","PriceLevel":{text}}}]')
    [row] = read_rows(path, "auto")
    started = time.monotonic()
    with pytest.raises(Invalid, match=r"^PriceLevel must be an integer from -2147483648 to 2147483647$"):
        group_values(row, creating=True)
    assert time.monotonic() - started < 5  # a bound: int() of 1e1000000 took a minute
