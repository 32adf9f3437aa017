"""Requests of real third-party 3dcart clients, replayed byte for byte.

tests/fixtures/clients/ holds what the official C# REST-API-Client (its published DLL, under mono)
and the PHP client menes1337/3dcart-api-php-client (Guzzle) sent to a cartgroups server through a
recording proxy (README.md there says how). Each fixture is sent unchanged over a raw socket, with
only its placeholders filled (the credentials and Host; none of them is in a body, so every
Content-Length and chunk size stays as the client wrote it), and the answer is checked against the
wire rules (shared spec wire-compat.md, docs/api.md).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest

from cartgroups.service.credentials import Issued
from tests.api.support import array, group_bytes, item_path, record, stored
from tests.conftest import LiveServer, create_group, result_body

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "clients"
CSHARP = "official-csharp"
PHP = "php-menes1337"
WIRE_ORDER = [
    "CustomerGroupID",
    "Name",
    "Description",
    "MinimumOrder",
    "NonTaxable",
    "AllowRegistration",
    "DisableRewardPoints",
    "AutoApprove",
    "RegistrationMessage",
    "PriceLevel",
]
XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
XSD = 'xmlns:xsd="http://www.w3.org/2001/XMLSchema"'

# The store the replays run against: names, levels and amounts chosen so that a sort of the page
# differs from id order and from a sort of the whole store.
SEEDS: list[dict[str, Any]] = [
    {"Name": "Retail", "PriceLevel": 1, "MinimumOrder": "12.50"},
    {"Name": "Wholesale", "PriceLevel": 3, "MinimumOrder": "250.00", "NonTaxable": True},
    {"Name": "Yacht Club", "PriceLevel": 3, "MinimumOrder": "1000.5", "AllowRegistration": True},
    {"Name": "Distributors", "PriceLevel": 2, "Description": "Resellers", "RegistrationMessage": "Welcome"},
]
SEED_BYTES = [
    group_bytes(1, "Retail", minimum_order="12.50", price_level=1),
    group_bytes(2, "Wholesale", minimum_order="250.00", non_taxable=True, price_level=3),
    group_bytes(3, "Yacht Club", minimum_order="1000.5", allow_registration=True, price_level=3),
    group_bytes(4, "Distributors", description="Resellers", registration_message="Welcome", price_level=2),
]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body, parse_float=Decimal)


Replay = Callable[[str, str], Answer]


def fixture_names(client: str) -> list[str]:
    return sorted(path.stem for path in (FIXTURES / client).glob("*.http"))


def request_bytes(client: str, name: str, server: LiveServer, creds: Issued) -> bytes:
    """The recorded request with its placeholders filled; the body is left as recorded."""
    raw = (FIXTURES / client / f"{name}.http").read_bytes()
    head, sep, body = raw.partition(b"\r\n\r\n")
    assert sep, f"{name}: no end of head"
    assert b"{{" not in body, f"{name}: a placeholder in the body would change its length"
    assert creds.private_key is not None
    fills = {
        "{{HOST}}": server.base_url.removeprefix("http://"),
        "{{SECUREURL}}": creds.secure_url,
        "{{PRIVATEKEY}}": creds.private_key,
        "{{TOKEN}}": creds.token,
    }
    for placeholder, value in fills.items():
        head = head.replace(placeholder.encode(), value.encode())
    assert b"{{" not in head, f"{name}: an unknown placeholder"
    return head + sep + body


def _read_head(sock: socket.socket, data: bytes) -> tuple[bytes, bytes]:
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before a whole response head: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _read_exactly(sock: socket.socket, data: bytes, size: int) -> tuple[bytes, bytes]:
    while len(data) < size:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside a response body"
        data += chunk
    return data[:size], data[size:]


def _read_line(sock: socket.socket, data: bytes) -> tuple[bytes, bytes]:
    while b"\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed inside a chunked response"
        data += chunk
    line, _, rest = data.partition(b"\r\n")
    return line, rest


def _read_chunked(sock: socket.socket, data: bytes) -> bytes:
    body = b""
    while True:
        line, data = _read_line(sock, data)
        size = int(line.split(b";")[0], 16)
        if size == 0:
            while True:  # trailer fields, up to the empty line
                line, data = _read_line(sock, data)
                if not line:
                    return body
        chunk, data = _read_exactly(sock, data, size + 2)
        body += chunk[:-2]


def exchange(server: LiveServer, request: bytes) -> Answer:
    """Send the raw request on a new connection and read the final response (1xx are skipped)."""
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while True:
            head, data = _read_head(sock, data)
            status_line, *lines = head.decode("latin-1").split("\r\n")
            status = int(status_line.split(" ")[1])
            if status >= 200:
                break
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = _read_chunked(sock, data)
        else:
            body, _ = _read_exactly(sock, data, int(headers.get("content-length", "0")))
    return Answer(status, headers, body)


@pytest.fixture
def replay(server: LiveServer, creds: Issued, api: httpx.Client) -> Replay:
    """replay(client, name) -> Answer, on a store holding SEEDS as groups 1-4."""
    for seed in SEEDS:
        create_group(api, **seed)

    def _replay(client: str, name: str) -> Answer:
        return exchange(server, request_bytes(client, name, server, creds))

    return _replay


def assert_json(answer: Answer, status: int) -> None:
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == "application/json; charset=utf-8"


def assert_one_record(answer: Answer, status: int, group_id: int, message: str) -> None:
    """A write result exactly as the wire carries it, and readable the official client's way:
    it cuts off the first and last character and reads one object."""
    assert_json(answer, status)
    assert answer.body == result_body(status, group_id, message)
    assert json.loads(answer.body[1:-1])["Status"] == str(status)


def assert_selected(answer: Answer, fields: list[str], ids: list[int]) -> list[dict[str, Any]]:
    """A $select answer (fields include CustomerGroupID): the groups in the given order, each with
    exactly the selected properties, their values as stored (decimals exact)."""
    assert_json(answer, 200)
    groups = answer.json()
    assert [group["CustomerGroupID"] for group in groups] == ids
    assert all(set(group) == set(fields) for group in groups), groups
    full = [json.loads(SEED_BYTES[i - 1], parse_float=Decimal) for i in ids]
    for group, seed in zip(groups, full, strict=True):
        for field in fields:
            assert str(group[field]) == str(seed[field]), (field, group, seed)
    return list(groups)


# ---------------------------------------------------------------- reads answered byte for byte

READS = [
    pytest.param(CSHARP, "01-list", array(*SEED_BYTES), id="csharp-list"),
    pytest.param(CSHARP, "02-list-limit", array(*SEED_BYTES[:2]), id="csharp-limit"),
    pytest.param(CSHARP, "03-get-by-id", array(SEED_BYTES[0]), id="csharp-get-by-id"),
    pytest.param(PHP, "01-list", array(*SEED_BYTES), id="php-list-trailing-slash"),
    pytest.param(PHP, "02-limit-offset", array(*SEED_BYTES[1:3]), id="php-limit-offset"),
    pytest.param(PHP, "03-countonly", b'{"TotalCount":4}', id="php-countonly"),
    # $orderby=PriceLevel desc,CustomerGroupID asc on the default page (all four groups).
    pytest.param(
        PHP,
        "05-orderby-two-keys",
        array(SEED_BYTES[1], SEED_BYTES[2], SEED_BYTES[3], SEED_BYTES[0]),
        id="php-orderby-two-keys",
    ),
]


@pytest.mark.parametrize(("client", "name", "expected"), READS)
def test_reads_answer_the_exact_bytes(replay: Replay, client: str, name: str, expected: bytes) -> None:
    answer = replay(client, name)
    assert_json(answer, 200)
    assert answer.body == expected


# ---------------------------------------------------------------- the official C# client writes


def test_csharp_post_with_pricelevel_unset_sends_zero_and_nulls_in_a_chunked_body(
    replay: Replay, api: httpx.Client
) -> None:
    """The client's own POST sample: CustomerGroupID 0, PriceLevel 0 and RegistrationMessage null,
    in a chunked body. 0 is stored as given; null is taken as absent (default "")."""
    answer = replay(CSHARP, "04-post-pricelevel-unset")
    assert_one_record(answer, 201, 5, "Created successfully")
    assert stored(api, 5) == array(
        group_bytes(
            5,
            "AnotherCustomerGroup121615_01",
            description="CustomerGroup121615_01",
            minimum_order="0.0",
            price_level=0,
        )
    )


def test_csharp_put_by_id_with_null_name(replay: Replay, api: httpx.Client) -> None:
    """The client's PUT sample sets only CustomerGroupID and Description: Name and
    RegistrationMessage go as null (left alone), every number and flag as its default (written)."""
    answer = replay(CSHARP, "05-put-by-id-null-name")
    assert_one_record(answer, 200, 2, "updated successfully")
    assert stored(api, 2) == array(
        group_bytes(2, "Wholesale", description="SupportCustomers", minimum_order="0.0", price_level=0)
    )


def test_csharp_bulk_put(replay: Replay, api: httpx.Client) -> None:
    answer = replay(CSHARP, "06-put-bulk")
    assert_json(answer, 200)
    assert answer.body == array(record(1, 200, "updated successfully"))
    assert stored(api, 1) == array(
        group_bytes(
            1,
            "Retail",
            description="Walk-in customers",
            minimum_order="12.50",
            non_taxable=True,
            price_level=1,
        )
    )
    assert stored(api, 2) == array(SEED_BYTES[1])


def test_csharp_delete(replay: Replay, api: httpx.Client) -> None:
    answer = replay(CSHARP, "07-delete")
    assert_one_record(answer, 200, 3, "Deleted successfully")
    assert api.get(item_path(3)).status_code == 404
    assert [group["CustomerGroupID"] for group in api.get("/CustomerGroups").json()] == [1, 2, 4]


def test_csharp_with_contenttype_xml_gets_xml(replay: Replay) -> None:
    """The client sends its ContentType setting as Accept; set to application/xml, the answer is
    the XmlSerializer shape of the live help samples: GET by id is a one-element list."""
    answer = replay(CSHARP, "08-get-by-id-accept-xml")
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"].split(";")[0] == "application/xml"
    text = answer.body.decode("utf-8")
    root = ElementTree.fromstring(answer.body)  # noqa: S314 (our own server's answer)
    assert root.tag == "ArrayOfCustomerGroup"
    assert XSI in text and XSD in text
    (group,) = root
    assert group.tag == "CustomerGroup"
    assert [child.tag for child in group] == WIRE_ORDER
    values = {child.tag: child.text or "" for child in group}
    assert values == {
        "CustomerGroupID": "1",
        "Name": "Retail",
        "Description": "",
        "MinimumOrder": "12.50",
        "NonTaxable": "false",
        "AllowRegistration": "false",
        "DisableRewardPoints": "false",
        "AutoApprove": "false",
        "RegistrationMessage": "",
        "PriceLevel": "1",
    }


# ---------------------------------------------------------------- the PHP client's $select


def test_php_select_and_orderby_apply_to_the_page(replay: Replay) -> None:
    """limit=2&$orderby=Name desc&$select=Name,CustomerGroupID: the page is groups 1 and 2 (the
    store's first two), sorted by Name descending; group 3 ("Yacht Club") would come first in a
    sort of the whole store and is not there."""
    answer = replay(PHP, "04-select-limit-orderby")
    groups = assert_selected(answer, ["Name", "CustomerGroupID"], [2, 1])
    assert [group["Name"] for group in groups] == ["Wholesale", "Retail"]


def test_php_select_keeps_types_and_exact_decimals(replay: Replay) -> None:
    answer = replay(PHP, "06-select")
    fields = ["CustomerGroupID", "MinimumOrder", "NonTaxable", "PriceLevel"]
    groups = assert_selected(answer, fields, [1, 2, 3, 4])
    assert [group["NonTaxable"] for group in groups] == [False, True, False, False]
    assert b'"MinimumOrder":250.00' in answer.body
    assert b'"MinimumOrder":1000.5' in answer.body


# ---------------------------------------------------------------- every answer


@pytest.mark.parametrize("client", [CSHARP, PHP])
def test_every_replayed_answer_carries_the_live_headers(replay: Replay, client: str) -> None:
    """Each fixture in recorded order on one store: never a 5xx, and the headers every live
    recording shows (no-cache trio, CORS origin) on each answer."""
    for name in fixture_names(client):
        answer = replay(client, name)
        assert answer.status < 500, (name, answer.body)
        assert answer.headers.get("cache-control") == "no-cache", name
        assert answer.headers.get("pragma") == "no-cache", name
        assert answer.headers.get("expires") == "-1", name
        assert answer.headers.get("access-control-allow-origin") == "*", name
