"""Charsets that are not encodings of text (issue #15, item 9): codecs.lookup() also knows
bytes-to-bytes transforms (rot13, base64, zlib ...) and codecs that raise on every body
("undefined") or are no charset (punycode, idna). A body declared in one is the same 415 as in
an unknown charset, never a 500; the sandbox control API reads its bodies as UTF-8 whatever
the charset says."""

from __future__ import annotations

import httpx
import pytest

from cartgroups.api import wire
from cartgroups.errors import Invalid
from tests.api.hostile import NON_TEXT_CHARSETS
from tests.api.support import COLLECTION, State, assert_error, item_path
from tests.conftest import STORE, LiveServer, create_group, sandbox_state


def _content_type(charset: str) -> dict[str, str]:
    return {"Content-Type": f"application/json; charset={charset}"}


@pytest.mark.parametrize("charset", [*NON_TEXT_CHARSETS, "ROT13", "Base64"])
def test_a_charset_that_is_not_a_text_encoding_is_415_like_an_unknown_one(
    api: httpx.Client, state: State, charset: str
) -> None:
    create_group(api)
    before = state()
    message = f"Unsupported charset {charset!r}; send UTF-8"
    headers = _content_type(charset)
    body = b'{"Name":"x"}'
    assert_error(api.post(COLLECTION, content=body, headers=headers), 415, message)
    assert_error(api.put(item_path(1), content=body, headers=headers), 415, message)
    bulk = b'[{"CustomerGroupID":1,"Name":"x"}]'
    assert_error(api.put(COLLECTION, content=bulk, headers=headers), 415, message)
    assert state() == before


@pytest.mark.parametrize("charset", ["utf-8", "UTF-16", "windows-1252", "latin1", "utf-7", "cp037"])
def test_text_encodings_are_still_charsets(charset: str) -> None:
    assert wire.known_charset(charset) is not None


@pytest.mark.parametrize("name", ["utf\x008", "\x00", "x" * 10_000])
def test_a_name_codecs_cannot_look_up_is_no_charset(name: str) -> None:
    """uvicorn refuses a NUL in a header; another server may pass it on (lookup raises ValueError)."""
    assert wire.known_charset(name) is None


@pytest.mark.parametrize(
    ("body", "charset"), [(b"-~", "punycode"), (b"xn--abc-", "idna"), (b"{}", "undefined")]
)
def test_a_codec_raising_other_than_unicodedecodeerror_is_not_valid_text(body: bytes, charset: str) -> None:
    """Whatever a text codec raises on a body it cannot read is the 400 for text that is not
    valid in its charset (known_charset keeps these codecs out; this is the second guard)."""
    with pytest.raises(Invalid, match=f"^The request body is not valid {charset} text$"):
        wire.decode_json(body, charset)


@pytest.mark.parametrize("charset", ["rot13", "base64", "undefined", "punycode"])
def test_the_sandbox_control_api_reads_its_bodies_as_utf8_whatever_the_charset(
    sandbox: LiveServer, control: httpx.Client, sandbox_creds: object, charset: str
) -> None:
    headers = _content_type(charset)
    response = control.post("/faults", content=b'{"status":503}', headers=headers)
    assert response.status_code == 201, response.text
    response = control.post(f"/stores/{STORE}/seed", content=b'[{"Name":"x"}]', headers=headers)
    assert response.status_code == 201, response.text
    before = sandbox_state(sandbox.db)
    response = control.post("/faults", content=b'{"status":"x"}', headers=headers)
    assert response.status_code == 400, response.text
    assert sandbox_state(sandbox.db) == before
