"""The one way Json.NET's strings differ from orjson's and SQLite's: three characters escaped.

Json.NET (StringEscapeHandling.Default, which the live service writes with) escapes control
characters, ``"`` and ``\\`` exactly as orjson and SQLite's json functions do (``\\b \\t \\n \\f
\\r``, else ``\\u00xx`` in lower-case hex), leaves ``<>&'/`` and DEL raw, and also always writes
U+0085, U+2028 and U+2029 as ``\\u0085``, ``\\u2028``, ``\\u2029`` (Newtonsoft.Json's
Utilities/JavaScriptUtils.cs, WriteEscapedJavaScriptString), which the other two write raw.

``escaped`` turns a UTF-8 JSON document of theirs into Json.NET's bytes. In valid UTF-8 each of
the three sequences can only be that character (C2 and E2 begin a character, they never
continue one), and JSON's structure is ASCII, so they are in strings: replacing them in the
whole document is exact. An ASCII document, the usual one, is returned as it is after one check.
Used by api/wire.py's writers and by the SQLite page writer (storage/customer_groups.py).
"""

from __future__ import annotations

_NEL, _LS, _PS = ("\u0085".encode(), "\u2028".encode(), "\u2029".encode())  # C2 85, E2 80 A8, E2 80 A9


def escaped(document: bytes) -> bytes:
    """``document`` (JSON in UTF-8) with U+0085, U+2028 and U+2029 escaped, as Json.NET writes them.

    Most documents are ASCII (one pass in C, a word at a time). In the others a lead byte, C2 or
    E2, is looked for with memchr, many times faster than bytes.replace's search for the whole
    sequence: text in é, ü, ß never pays for more. bytes.replace returns the very same object
    when there is nothing to replace."""
    if document.isascii():
        return document
    if b"\xe2" in document:  # also dashes, curly quotes, the euro sign (U+2000-U+2FFF)
        document = document.replace(_LS, b"\\u2028").replace(_PS, b"\\u2029")
    if b"\xc2" in document:  # also no-break space, degree, pound, copyright (U+0080-U+00BF)
        document = document.replace(_NEL, b"\\u0085")
    return document
