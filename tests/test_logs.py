"""The access line: the fast writer produces what logging would, and yields to any other set-up."""

from __future__ import annotations

import asyncio
import io
import logging
import logging.config
import re
from collections.abc import Iterator

import pytest

from cartgroups.logs import ACCESS_LOGGER, ACCESS_TEXT, AccessLog, logging_config


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The loggers set up as ``cartgroups serve`` sets them up, writing into a string."""
    out = io.StringIO()
    config = logging_config("info")
    config["handlers"]["stderr"]["stream"] = out
    logging.config.dictConfig(config)
    yield out
    logging.config.dictConfig(logging_config("warning"))


def without_pytest_capture() -> None:
    """pytest hangs its capturing handlers on the "cartgroups" logger for each test phase;
    drop them so that the logger ends at logging_config's handler, as in a server."""
    logger = logging.getLogger("cartgroups")
    logger.handlers = [h for h in logger.handlers if type(h) is logging.StreamHandler]


def write_lines(access: AccessLog, count: int) -> None:
    async def run() -> None:
        for i in range(count):
            access.line(
                "GET", f"/3dCartWebAPI/v1/CustomerGroups/{i}", 200, 1.25, "shop.com", f"r{i}", "10.0.0.1"
            )
        await asyncio.sleep(0.2)  # past FLUSH_SECONDS: the batch is written by the loop

    asyncio.run(run())


def test_fast_lines_match_what_logging_writes(stream: io.StringIO) -> None:
    without_pytest_capture()
    access = AccessLog()
    assert access.enabled
    write_lines(access, 3)
    assert access._handler is not None  # the fast writer was used
    logging.getLogger(ACCESS_LOGGER).info(ACCESS_TEXT, "GET", "/x", 404, 0.04, "-", "id", "-")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    shape = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO cartgroups\.access: (.*)$")
    messages = [m.group(1) for line in lines if (m := shape.fullmatch(line))]
    assert messages == [
        "GET /3dCartWebAPI/v1/CustomerGroups/0 200 1.2ms store=shop.com request_id=r0 client=10.0.0.1",
        "GET /3dCartWebAPI/v1/CustomerGroups/1 200 1.2ms store=shop.com request_id=r1 client=10.0.0.1",
        "GET /3dCartWebAPI/v1/CustomerGroups/2 200 1.2ms store=shop.com request_id=r2 client=10.0.0.1",
        "GET /x 404 0.0ms store=- request_id=id client=-",
    ]


def test_pending_lines_are_written_by_flush(stream: io.StringIO) -> None:
    without_pytest_capture()
    access = AccessLog()

    async def run() -> None:
        access.line("POST", "/p", 201, 2.0, "shop.com", "rid", "::1")

    asyncio.run(run())  # the loop ends before the scheduled write
    assert stream.getvalue() == ""
    access.flush()  # what the app does when it stops
    assert stream.getvalue().endswith(
        "INFO cartgroups.access: POST /p 201 2.0ms store=shop.com request_id=rid client=::1\n"
    )


def test_any_other_logging_set_up_gets_ordinary_records(
    stream: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)  # pytest adds its own handler
    access = AccessLog()
    write_lines(access, 1)
    assert access._handler is None  # through logging
    assert [r.getMessage() for r in caplog.records] == [
        "GET /3dCartWebAPI/v1/CustomerGroups/0 200 1.2ms store=shop.com request_id=r0 client=10.0.0.1"
    ]


def test_no_lines_below_info_and_a_level_lowered_later_is_honoured(stream: io.StringIO) -> None:
    config = logging_config("warning")
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    access = AccessLog()
    assert not access.enabled
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO)  # while the server runs
    try:
        assert access.enabled
        write_lines(access, 1)
    finally:
        logging.getLogger(ACCESS_LOGGER).setLevel(logging.NOTSET)
    assert stream.getvalue().endswith(
        "INFO cartgroups.access: GET /3dCartWebAPI/v1/CustomerGroups/0 200 1.2ms store=shop.com "
        "request_id=r0 client=10.0.0.1\n"
    )
