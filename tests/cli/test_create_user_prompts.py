"""Issue #19 item 6: ``admin create-user`` asks again when the two passwords differ or the
password is too short, up to three times, then stops with one line and creates nobody."""

from __future__ import annotations

from cartgroups.service import operators as ops
from tests.cli.test_operators import PASSWORD, _invoke, _operators


def _create(url: str, typed: str) -> tuple[int, str, str]:
    return _invoke(url, ["admin", "create-user", "carol"], typed)


def test_a_mismatch_then_a_short_password_are_asked_again(empty_database_url: str) -> None:
    typed = f"{PASSWORD}\n{PASSWORD}x\nshort\n{PASSWORD}\n{PASSWORD}\n"
    code, out, err = _create(empty_database_url, typed)
    assert code == 0, (out, err)
    assert err == f"The two passwords differ; try again.\n{ops.BAD_PASSWORD}; try again.\n"
    assert out.count("Password:") == 3 and out.count("Repeat the password:") == 2
    assert out.endswith("Operator 'carol' created; sign in at /admin.\n")
    assert PASSWORD not in out
    [carol] = _operators(empty_database_url)
    assert ops.verify_password(PASSWORD, carol.password_hash)


def test_three_failed_tries_end_with_one_line_and_create_nobody(empty_database_url: str) -> None:
    code, out, err = _create(empty_database_url, f"short\n{PASSWORD}\nother one here\nshort\n")
    assert code == 1
    assert err == (
        f"{ops.BAD_PASSWORD}; try again.\n"
        "The two passwords differ; try again.\n"
        f"{ops.BAD_PASSWORD}; try again.\n"
        "error: a password is 10 to 1024 characters (3 tries); no operator was created\n"
    )
    assert "Traceback" not in out
    assert _operators(empty_database_url) == []
