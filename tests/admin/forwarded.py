"""A browser that reaches the console from a chosen loopback address, with the headers a reverse
proxy adds, for the tests of a server behind a proxy (issue #19, item 3).

Linux routes all of 127.0.0.0/8 to the loopback interface, so a client bound to 127.0.0.2 is a
second peer on the same machine: the server can trust 127.0.0.1 (the "proxy") and not it.
Cookies are kept by hand, with their attributes: httpx's jar would not send a Secure cookie
back over http, and the tests look at the attributes."""

from __future__ import annotations

import html
import re
from http.cookies import Morsel, SimpleCookie

import httpx

from tests.admin.support import PASSWORD, USERNAME

PROXY = "127.0.0.1"  # the peer the servers under test trust
STRANGER = "127.0.0.2"  # a peer they do not
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def set_cookies(response: httpx.Response) -> dict[str, Morsel[str]]:
    """The cookies a response sets, by name, each with its attributes."""
    found: dict[str, Morsel[str]] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        found.update(jar)
    return found


class Peer:
    """A browser at ``source`` sending ``headers`` (say X-Forwarded-For) with every request."""

    def __init__(self, base_url: str, source: str, headers: dict[str, str] | None = None) -> None:
        self.client = httpx.Client(
            base_url=base_url,
            transport=httpx.HTTPTransport(local_address=source),
            headers=headers,
            timeout=30,
            follow_redirects=False,
        )
        self.cookies: dict[str, Morsel[str]] = {}

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        kept = "; ".join(f"{name}={morsel.value}" for name, morsel in self.cookies.items())
        response = self.client.request(method, path, data=data, headers={"cookie": kept} if kept else {})
        self.client.cookies.clear()
        for name, morsel in set_cookies(response).items():
            if morsel["max-age"] == "0" or morsel.value == "":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = morsel
        return response

    def sign_in(self, username: str = USERNAME, password: str = PASSWORD) -> httpx.Response:
        page = self.request("GET", "/admin/sign-in")
        assert page.status_code == 200, page.text
        found = _CSRF.search(page.text)
        assert found, page.text
        form = {"csrf_token": html.unescape(found.group(1)), "username": username, "password": password}
        return self.request("POST", "/admin/sign-in", form)
