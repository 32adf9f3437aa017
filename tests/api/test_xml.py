"""XML on every route (SQLite and PostgreSQL): replies in XmlSerializer's shape when Accept asks
for application/xml or text/xml, XML request bodies on POST, PUT and bulk PUT, errors as XML
records, and hostile XML refused with a 400 that changes nothing."""

from __future__ import annotations

from xml.sax.saxutils import escape

import httpx
import pytest

from tests.api.support import (
    AWKWARD_TEXT,
    COLLECTION,
    GROUP_NOT_FOUND,
    LIMIT_RULE,
    REJECTED,
    State,
    array,
    group_bytes,
    item_path,
    stored,
)
from tests.conftest import LiveServer, create_group, error_body, plain_client, result_body

XML = {"Accept": "application/xml"}
XML_BODY = {"Content-Type": "application/xml", "Accept": "application/xml"}
NS = ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
APPLICATION_XML = "application/xml; charset=utf-8"
UNSUPPORTED = (
    "Content-Type must be a valid XML or JSON content type: application/json, text/json, "
    "application/xml or text/xml (got text/plain)"
)


def xml_group(
    group_id: int, name: str, *, minimum_order: str = "0", flags: str = "ffff", level: int = 1
) -> str:
    """One <CustomerGroup> as written by hand: empty Description and RegistrationMessage."""
    names = ("NonTaxable", "AllowRegistration", "DisableRewardPoints", "AutoApprove")
    booleans = "".join(
        f"<{n}>{'true' if f == 't' else 'false'}</{n}>" for n, f in zip(names, flags, strict=True)
    )
    return (
        f"<CustomerGroup><CustomerGroupID>{group_id}</CustomerGroupID><Name>{escape(name)}</Name>"
        f"<Description /><MinimumOrder>{minimum_order}</MinimumOrder>{booleans}"
        f"<RegistrationMessage /><PriceLevel>{level}</PriceLevel></CustomerGroup>"
    )


def xml_list(*groups: str) -> bytes:
    return f"<ArrayOfCustomerGroup{NS}>{''.join(groups)}</ArrayOfCustomerGroup>".encode()


def xml_records(*records: tuple[str, object, int, str]) -> bytes:
    inner = "".join(
        f"<Record><Key>{key}</Key>{f'<Value>{value}</Value>' if value != '' else '<Value />'}"
        f"<Status>{status}</Status><Message>{escape(message)}</Message></Record>"
        for key, value, status, message in records
    )
    return f"<ArrayOfRecord{NS}>{inner}</ArrayOfRecord>".encode()


def xml_error(status: int, message: str, value: str = "") -> bytes:
    return xml_records(("Error", value, status, message))


def assert_xml(
    response: httpx.Response, status: int, body: bytes, content_type: str = APPLICATION_XML
) -> None:
    assert response.status_code == status, response.text
    assert response.content == body
    assert response.headers["content-type"] == content_type
    assert response.headers["vary"] == "Accept"


def without_accept(
    api: httpx.Client, method: str, path: str, body: bytes, content_type: str
) -> httpx.Response:
    """A request with no Accept header at all (httpx sends ``Accept: */*`` unless told not to)."""
    request = api.build_request(method, path, content=body, headers={"Content-Type": content_type})
    del request.headers["Accept"]
    return api.send(request)


def _two_groups(api: httpx.Client) -> None:
    create_group(api, Name="Retail & <Co>", PriceLevel=1)
    create_group(api, Name="VIP", MinimumOrder="101.25", NonTaxable=True, AutoApprove=True, PriceLevel=10)


def test_a_list_is_an_array_of_customer_group_in_wire_order(api: httpx.Client) -> None:
    _two_groups(api)
    expected = xml_list(
        xml_group(1, "Retail & <Co>"),
        xml_group(2, "VIP", minimum_order="101.25", flags="tfft", level=10),
    )
    assert_xml(api.get(COLLECTION, headers=XML), 200, expected)
    assert_xml(api.get(COLLECTION, headers={"Accept": "text/xml"}), 200, expected, "text/xml; charset=utf-8")
    # v2 and the JSON reply of the same page are unchanged by the XML one (each kept apart)
    assert api.get(COLLECTION).content == array(
        group_bytes(1, "Retail & <Co>", price_level=1),
        group_bytes(2, "VIP", minimum_order="101.25", non_taxable=True, auto_approve=True, price_level=10),
    )


def test_count_and_get_by_id_in_xml(api: httpx.Client) -> None:
    _two_groups(api)
    count = api.get(COLLECTION, params={"countonly": "1"}, headers=XML)
    assert_xml(count, 200, f"<CountResult{NS}><TotalCount>2</TotalCount></CountResult>".encode())
    one = api.get(item_path(2), headers=XML)
    assert_xml(one, 200, xml_list(xml_group(2, "VIP", minimum_order="101.25", flags="tfft", level=10)))
    # The ETag names the group's state, whichever representation carried it.
    assert one.headers["etag"] == api.get(item_path(2)).headers["etag"]
    assert api.get(item_path(2), headers={**XML, "If-None-Match": one.headers["etag"]}).status_code == 304


def test_post_put_and_delete_with_xml_bodies_and_replies(api: httpx.Client) -> None:
    body = (
        "<CustomerGroup><Name>Trade</Name><Description>a\nb</Description><MinimumOrder>1.50</MinimumOrder>"
        "<NonTaxable>1</NonTaxable><AllowRegistration>true</AllowRegistration>"
        "<DisableRewardPoints>0</DisableRewardPoints><AutoApprove>false</AutoApprove>"
        "<RegistrationMessage /><PriceLevel>\n  3\n</PriceLevel><Unknown>ignored</Unknown></CustomerGroup>"
    )
    created = api.post(COLLECTION, content=body.encode(), headers=XML_BODY)
    assert_xml(created, 201, xml_records(("CustomerGroupID", 1, 201, "Created successfully")))
    assert stored(api, 1) == array(
        group_bytes(
            1,
            "Trade",
            description="a\nb",
            minimum_order="1.50",
            non_taxable=True,
            allow_registration=True,
            price_level=3,
        )
    )
    update = b"<CustomerGroup><Name>Trade 2</Name><MinimumOrder>100</MinimumOrder></CustomerGroup>"
    assert_xml(
        api.put(item_path(1), content=update, headers=XML_BODY),
        200,
        xml_records(("CustomerGroupID", 1, 200, "updated successfully")),
    )
    assert_xml(
        api.get(item_path(1), headers=XML),
        200,
        xml_list(
            xml_group(1, "Trade 2", minimum_order="100", flags="ttff", level=3).replace(
                "<Description />", "<Description>a\nb</Description>"
            )
        ),
    )
    assert_xml(
        api.delete(item_path(1), headers=XML),
        200,
        xml_records(("CustomerGroupID", 1, 200, "Deleted successfully")),
    )


def test_an_xml_body_without_accept_is_answered_in_xml(api: httpx.Client) -> None:
    """Web API's negotiator: with no Accept, the reply takes the request body's media type."""
    response = without_accept(
        api, "POST", COLLECTION, b"<CustomerGroup><Name>x</Name></CustomerGroup>", "text/xml"
    )
    assert_xml(
        response,
        201,
        xml_records(("CustomerGroupID", 1, 201, "Created successfully")),
        "text/xml; charset=utf-8",
    )
    # ... but an Accept that names JSON (or */*) wins over the body's type.
    response = api.post(
        COLLECTION,
        content=b"<CustomerGroup><Name>y</Name></CustomerGroup>",
        headers={"Content-Type": "application/xml; charset=utf-8", "Accept": "*/*"},
    )
    assert response.content == result_body(201, 2, "Created successfully")


def test_bulk_put_takes_an_array_of_customer_group_and_answers_206(api: httpx.Client) -> None:
    create_group(api, Name="A", PriceLevel=1)
    body = (
        "<ArrayOfCustomerGroup>"
        "<CustomerGroup><CustomerGroupID>1</CustomerGroupID><Name>A2</Name></CustomerGroup>"
        "<CustomerGroup><CustomerGroupID>9</CustomerGroupID><Name>Z</Name></CustomerGroup>"
        "</ArrayOfCustomerGroup>"
    )
    response = api.put(COLLECTION, content=body.encode(), headers=XML_BODY)
    assert_xml(
        response,
        206,
        xml_records(
            ("CustomerGroupID", 1, 200, "updated successfully"),
            ("CustomerGroupID", 9, 404, GROUP_NOT_FOUND),
        ),
    )
    assert stored(api, 1) == array(group_bytes(1, "A2", price_level=1))


def test_what_xml_get_writes_a_bulk_put_reads_back_unchanged(api: httpx.Client, state: State) -> None:
    """Awkward text (every control character, CR, quotes, characters beyond the BMP) and amounts
    survive GET in XML followed by PUT of the same bytes."""
    for n, text in enumerate(AWKWARD_TEXT):
        create_group(
            api, Name=f"{n} {text}"[:150], Description=text, RegistrationMessage=text + "\r", PriceLevel=n
        )
    create_group(api, Name="amount", MinimumOrder="34158822.957761675", PriceLevel=-7)
    before = state()
    listed = api.get(COLLECTION, headers=XML)
    assert listed.status_code == 200
    assert b"&#x1;" in listed.content and b"&#xD;" in listed.content
    response = api.put(COLLECTION, content=listed.content, headers=XML_BODY)
    assert response.status_code == 200, response.text
    # Every row as it was; the last item, the audit entry count, grew: an accepted update is
    # recorded even when it changes nothing.
    after = state()
    assert after[:-1] == before[:-1]
    assert after[-1][0] == before[-1][0] + len(AWKWARD_TEXT) + 1  # type: ignore[operator]


def test_xml_nil_and_empty_elements_read_as_json_null_and_empty_string(api: httpx.Client) -> None:
    create_group(api, Name="A", Description="kept", PriceLevel=1)
    create_group(api, Name="B", Description="kept", PriceLevel=1)
    nil = (
        '<CustomerGroup xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<Description xsi:nil="true" /></CustomerGroup>'
    )
    as_xml = api.put(item_path(1), content=nil.encode(), headers={"Content-Type": "application/xml"})
    as_json = api.put(item_path(2), json={"Description": None})
    assert as_xml.status_code == as_json.status_code
    assert as_xml.content == as_json.content.replace(b'"Value":"2"', b'"Value":"1"')
    assert stored(api, 1).replace(b'"A"', b'"B"').replace(b":1,", b":2,", 1) == stored(api, 2)
    empty = b"<CustomerGroup><Description /></CustomerGroup>"
    assert (
        api.put(item_path(1), content=empty, headers={"Content-Type": "application/xml"}).status_code == 200
    )
    assert stored(api, 1) == array(group_bytes(1, "A", price_level=1))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            b"<CustomerGroup><Name>&lol2;</Name></CustomerGroup>",
            "The request body is not accepted: XML with a DTD, entity declarations or external "
            "references is refused",
            id="billion-laughs",
        ),
        pytest.param(
            b'<!DOCTYPE CustomerGroup [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            b"<CustomerGroup><Name>&xxe;</Name></CustomerGroup>",
            "The request body is not accepted: XML with a DTD, entity declarations or external "
            "references is refused",
            id="external-entity",
        ),
        pytest.param(
            b'<!DOCTYPE CustomerGroup SYSTEM "http://127.0.0.1:1/x.dtd"><CustomerGroup><Name>x</Name></CustomerGroup>',
            "The request body is not accepted: XML with a DTD, entity declarations or external "
            "references is refused",
            id="external-dtd",
        ),
        pytest.param(
            b"<CustomerGroup>" + b"<a>" * 20 + b"</a>" * 20 + b"</CustomerGroup>",
            "The request body is not valid XML: it is nested more than 16 deep",
            id="deep",
        ),
        pytest.param(
            b"<CustomerGroup>" + b"<a/>" * 100 + b"<Name>x</Name></CustomerGroup>",
            "The XML request body has more markup than 1 group can hold (at most 64 tags a group)",
            id="markup",
        ),
        pytest.param(
            b"<CustomerGroup><Name>x</Name>",
            "The request body is not valid XML: no element found: line 1, column 29",
            id="unclosed",
        ),
        pytest.param(
            b"<CustomerGroup><Name>&nope;</Name></CustomerGroup>",
            "The request body is not valid XML: undefined entity: line 1, column 21",
            id="undefined-entity",
        ),
        pytest.param(
            b"<Customer><Name>x</Name></Customer>",
            "The XML request body's root element must be <CustomerGroup> (got <Customer>)",
            id="wrong-root",
        ),
        pytest.param(
            b"<ArrayOfCustomerGroup />",
            "The XML request body's root element must be <CustomerGroup> (got <ArrayOfCustomerGroup>)",
            id="list-for-one",
        ),
        pytest.param(
            b'{"Name":"x"}',
            "The request body is not valid XML: not well-formed (invalid token): line 1, column 0",
            id="json-body",
        ),
        pytest.param(
            b"<CustomerGroup><Name><b>x</b></Name></CustomerGroup>",
            "The XML element <Name> must hold text, not elements",
            id="element-in-field",
        ),
        pytest.param(b"  ", "The request body is empty; send a <CustomerGroup> XML document", id="empty"),
        pytest.param(
            b"<CustomerGroup><Name>\xff</Name></CustomerGroup>",
            "The request body is not valid utf-8 text",
            id="bytes",
        ),
    ],
)
def test_hostile_or_broken_xml_is_400_and_changes_nothing(
    api: httpx.Client, state: State, body: bytes, message: str
) -> None:
    create_group(api, PriceLevel=1)
    before = state()
    # No Accept: the XML body's type chooses XML for the error too.
    assert_xml(without_accept(api, "POST", COLLECTION, body, "application/xml"), 400, xml_error(400, message))
    assert_xml(api.post(COLLECTION, content=body, headers=XML_BODY), 400, xml_error(400, message))
    response = api.put(item_path(1), content=body, headers={**XML_BODY, "Accept": "application/json"})
    assert response.content == error_body(400, message.replace('"', '\\"'))
    assert state() == before


def test_a_bulk_body_holds_at_most_its_items_worth_of_markup(api: httpx.Client, state: State) -> None:
    """Markup is counted before it is parsed: the parser calls back into Python for each element."""
    create_group(api, PriceLevel=1)
    before = state()
    group = b"<CustomerGroup><CustomerGroupID>1</CustomerGroupID><Name>Kept</Name></CustomerGroup>"
    padding = b"<x/>" * (64 * 1000 + 8)  # the server's default max_bulk_items is 1000
    body = b"<ArrayOfCustomerGroup>" + group + padding + b"</ArrayOfCustomerGroup>"
    message = "The XML request body has more markup than 1000 groups can hold (at most 64 tags a group)"
    assert_xml(api.put(COLLECTION, content=body, headers=XML_BODY), 400, xml_error(400, message))
    assert state() == before
    fitting = b"<ArrayOfCustomerGroup>" + group + b"<x/>" * 60 + b"</ArrayOfCustomerGroup>"
    assert api.put(COLLECTION, content=fitting, headers=XML_BODY).status_code == 200


def test_bulk_put_wants_an_array_of_customer_group(api: httpx.Client, state: State) -> None:
    create_group(api, PriceLevel=1)
    before = state()
    body = b"<CustomerGroup><CustomerGroupID>1</CustomerGroupID></CustomerGroup>"
    message = "The XML request body's root element must be <ArrayOfCustomerGroup> (got <CustomerGroup>)"
    assert_xml(api.put(COLLECTION, content=body, headers=XML_BODY), 400, xml_error(400, message))
    assert state() == before


def test_errors_are_xml_records(server: LiveServer, api: httpx.Client, state: State) -> None:
    create_group(api, PriceLevel=1)
    before = state()
    assert_xml(api.get(COLLECTION, params={"limit": "0"}, headers=XML), 400, xml_error(400, LIMIT_RULE))
    assert_xml(api.get(item_path(7), headers=XML), 404, xml_error(404, GROUP_NOT_FOUND, "7"))
    allowed = "The requested resource does not support http method 'DELETE'; allowed: POST, GET, PUT, OPTIONS"
    response = api.delete(COLLECTION, headers=XML)
    assert_xml(response, 405, xml_error(405, allowed))
    response = api.post(COLLECTION, content=b"x", headers={"Content-Type": "text/plain", **XML})
    assert_xml(response, 415, xml_error(415, UNSUPPORTED))
    with plain_client(server.base_url + "/3dCartWebAPI/v2") as anonymous:
        missing = "Missing required header(s): SecureURL, PrivateKey, Token"
        assert_xml(anonymous.get(COLLECTION, headers=XML), 401, xml_error(401, missing))
        wrong = {**XML, "SecureURL": "shop.example.com", "PrivateKey": "k", "Token": "t"}
        assert_xml(anonymous.get(COLLECTION, headers=wrong), 401, xml_error(401, REJECTED))
    assert state() == before


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8", APPLICATION_XML),
        ("application/json;q=0.5, application/xml;q=0.6", APPLICATION_XML),
        ("application/xml;q=0.5, application/json;q=0.6", "application/json; charset=utf-8"),
        ("text/xml, application/json", "application/json; charset=utf-8"),  # a tie: JSON first
        ("*/*, text/xml", "text/xml; charset=utf-8"),  # of equal q, the named type before */*
        ("text/json", "application/json; charset=utf-8"),
        ("*/*", "application/json; charset=utf-8"),
        ("image/png", "application/json; charset=utf-8"),  # nothing matches: JSON, never 406
    ],
)
def test_negotiation_over_http(api: httpx.Client, accept: str, content_type: str) -> None:
    create_group(api, PriceLevel=1)
    response = api.get(item_path(1), headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content.startswith(b"<" if "xml" in content_type else b"[")


def test_json_replies_are_the_same_bytes_with_or_without_accept(api: httpx.Client) -> None:
    create_group(api, Name="Same", PriceLevel=1)
    for path in (COLLECTION, item_path(1), item_path(9)):
        plain = api.get(path)
        for accept in ("application/json", "*/*", "text/json", "application/json, text/plain, */*"):
            response = api.get(path, headers={"Accept": accept})
            assert (response.status_code, response.content) == (plain.status_code, plain.content)
            assert response.headers["content-type"] == "application/json; charset=utf-8"


def test_an_idempotent_replay_keeps_the_media_it_was_written_in(api: httpx.Client, state: State) -> None:
    body = b"<CustomerGroup><Name>Once</Name></CustomerGroup>"
    headers = {**XML_BODY, "Idempotency-Key": "xml-1"}
    first = api.post(COLLECTION, content=body, headers=headers)
    assert_xml(first, 201, xml_records(("CustomerGroupID", 1, 201, "Created successfully")))
    after = state()
    again = api.post(COLLECTION, content=body, headers=headers)
    assert_xml(again, 201, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    # The same key and body asking for JSON is another request: refused, not answered with XML.
    other = api.post(COLLECTION, content=body, headers={**headers, "Accept": "application/json"})
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/json; charset=utf-8"
    assert state() == after


def test_a_sandbox_fault_is_written_in_the_negotiated_media(
    control: httpx.Client, sandbox_api: httpx.Client
) -> None:
    response = control.post("/faults", json={"method": "GET", "path": "*/customergroups", "status": 503})
    assert response.status_code == 201, response.text
    faulted = sandbox_api.get(COLLECTION, headers=XML)
    assert faulted.status_code == 503
    assert faulted.content == xml_error(503, "The service is unavailable.")
    assert faulted.headers["content-type"] == APPLICATION_XML
    assert sandbox_api.get(COLLECTION).content == error_body(503, "The service is unavailable.")
