"""Helpers for the admin console's route tests: a browser-like client that keeps cookies,
finds the CSRF token in a page, and signs in."""

from __future__ import annotations

import html
import re

import httpx

from cartgroups.service.operators import hash_password
from cartgroups.storage import operators as op_sql
from cartgroups.storage.database import Database

USERNAME = "alice"
PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_operator(db: Database, username: str = USERNAME, password: str = PASSWORD) -> int:
    """An operator account whose hash uses a small scrypt cost (the cost is stored with the hash,
    so sign-in checks it at that cost): the tests sign in hundreds of times."""
    with db.write() as conn:
        return op_sql.insert_operator(conn, username=username, password_hash=hash_password(password, n=2**10))


class Browser:
    """An httpx client that behaves like a browser on the console: keeps cookies, does not
    follow redirects by itself (tests look at them), and posts forms with the page's token."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)
        self.csrf = ""

    def close(self) -> None:
        self.client.close()

    def get(self, path: str, **params: str) -> httpx.Response:
        response = self.client.get(path, params=params or None)
        found = _CSRF.search(response.text)
        if found:
            self.csrf = html.unescape(found.group(1))
        return response

    def post(
        self, path: str, data: dict[str, str] | None = None, *, csrf: str | None = None
    ) -> httpx.Response:
        form = {"csrf_token": self.csrf if csrf is None else csrf, **(data or {})}
        return self.client.post(path, data=form)

    def sign_in(self, username: str = USERNAME, password: str = PASSWORD) -> httpx.Response:
        self.get("/admin/sign-in")
        return self.post("/admin/sign-in", {"username": username, "password": password})


def field_error(page: str, wire: str) -> str | None:
    """The inline message shown next to one field of a form, or None."""
    found = re.search(rf'<p class="field-error" id="e-{wire}">(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)) if found else None


def text_of(page: str) -> str:
    """The page's visible text, roughly: tags removed, entities decoded, spaces folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
