"""XML on the Customers routes (SQLite and PostgreSQL): <Customer> and <ArrayOfCustomer> request
bodies on POST, PUT and bulk PUT, replies in XmlSerializer's shape (a null property left out,
Password always empty) when Accept asks for XML, and XML that breaks a rule refused with a 400
that changes nothing."""

from __future__ import annotations

from xml.sax.saxutils import escape

import httpx
import pytest

from cartgroups.customer_model import CUSTOMER_FIELDS
from tests.api.support import State
from tests.api.test_xml import APPLICATION_XML, NS, XML, XML_BODY, assert_xml, xml_error, xml_records
from tests.conftest import create_group

CUSTOMERS = "/Customers"
XSI = ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
NOT_FOUND = "The Customer record was not found."
SOME_NOT_FOUND = "One or more Customer records were not found."

# Customer 1 as POST_BODY creates it, written out by hand: Password empty, the strings never
# set (BillingCompany, sent as xsi:nil, among them) left out, Comments set to "" kept empty.
JANE = (
    "<Customer><CustomerID>1</CustomerID><Email>jane@example.com</Email><Password />"
    "<BillingFirstName>Jane &amp; &lt;co&gt;</BillingFirstName><BillingLastName>Doe</BillingLastName>"
    "<BillingCity>Tampa&#xD;</BillingCity>"
    "<ShippingAddressType>3</ShippingAddressType><CustomerGroupID>0</CustomerGroupID>"
    "<Enabled>true</Enabled><MailList>false</MailList><NonTaxable>true</NonTaxable>"
    "<DisableBillingSameAsShipping>false</DisableBillingSameAsShipping><Comments />"
    "<TotalStoreCredit>0.0</TotalStoreCredit><ResetPassword>false</ResetPassword></Customer>"
)
POST_BODY = (
    f"<Customer{XSI}><CustomerID>77</CustomerID><Email>jane@example.com</Email>"
    '<Password>secret</Password><BillingCompany xsi:nil="true" />'
    "<BillingFirstName>Jane &amp; &lt;co&gt;</BillingFirstName><billinglastname>Doe</billinglastname>"
    "<BillingCity>Tampa&#xD;</BillingCity><ShippingAddressType> 3 </ShippingAddressType>"
    "<Enabled>true</Enabled><NonTaxable>1</NonTaxable><Comments />"
    "<TotalStoreCredit>99</TotalStoreCredit><Unknown><a>ignored</a></Unknown></Customer>"
).encode()


def customers_xml(*customers: str) -> bytes:
    return f"<ArrayOfCustomer{NS}>{''.join(customers)}</ArrayOfCustomer>".encode()


def customer_xml(customer_id: int, email: str, **values: str) -> str:
    """A <Customer> as the server writes one: ``values`` (wire name -> XML text) over the
    defaults of a customer created with only an Email."""
    defaults = {"integer": "0", "boolean": "false"}
    inner = ""
    for spec in CUSTOMER_FIELDS:
        text: str | None = {
            "CustomerID": str(customer_id),
            "Email": email,
            "Password": "",
            "TotalStoreCredit": "0.0",
        }.get(spec.wire, values.get(spec.wire, defaults.get(spec.kind)))
        if text is not None:
            inner += f"<{spec.wire}>{text}</{spec.wire}>" if text else f"<{spec.wire} />"
    return f"<Customer>{inner}</Customer>"


def create(api: httpx.Client, email: str, **fields: object) -> int:
    response = api.post(CUSTOMERS, json={"Email": email, **fields})
    assert response.status_code == 201, response.text
    return int(response.json()[0]["Value"])


def created(customer_id: int) -> bytes:
    return xml_records(("CustomerID", customer_id, 201, "Created successfully"))


def updated(*customer_ids: int) -> bytes:
    return xml_records(*(("CustomerID", n, 200, "updated successfully") for n in customer_ids))


def test_post_in_xml_creates_and_get_in_xml_writes_it_byte_for_byte(api: httpx.Client) -> None:
    assert_xml(api.post(CUSTOMERS, content=POST_BODY, headers=XML_BODY), 201, created(1))
    assert_xml(api.get(f"{CUSTOMERS}/1", headers=XML), 200, customers_xml(JANE))
    assert_xml(api.get(CUSTOMERS, headers=XML), 200, customers_xml(JANE))
    assert_xml(
        api.get(f"{CUSTOMERS}/1", headers={"Accept": "text/xml"}),
        200,
        customers_xml(JANE),
        "text/xml; charset=utf-8",
    )
    # The same customer in JSON: unset strings null, the one set to "" empty, the password empty.
    got = api.get(f"{CUSTOMERS}/1").json()[0]
    assert (got["BillingCompany"], got["Comments"], got["Password"]) == (None, "", "")
    assert (got["BillingCity"], got["TotalStoreCredit"], got["NonTaxable"]) == ("Tampa\r", 0.0, True)
    # The password was kept (as its hash): the database never holds "secret".
    assert api.get(CUSTOMERS, params={"countonly": "1"}, headers=XML).content == (
        f"<CountResult{NS}><TotalCount>1</TotalCount></CountResult>".encode()
    )


def test_put_in_xml_changes_what_it_names_and_nil_keeps(api: httpx.Client) -> None:
    assert api.post(CUSTOMERS, content=POST_BODY, headers=XML_BODY).status_code == 201
    body = (
        f'<Customer{XSI}><CustomerID>5</CustomerID><BillingFirstName xsi:nil="true" />'
        "<BillingLastName>Roe</BillingLastName><Password /><Comments>VIP</Comments>"
        "<MailList>true</MailList></Customer>"
    ).encode()
    assert_xml(api.put(f"{CUSTOMERS}/1", content=body, headers=XML_BODY), 200, updated(1))
    expected = (
        JANE.replace("<BillingLastName>Doe", "<BillingLastName>Roe")
        .replace("<Comments />", "<Comments>VIP</Comments>")
        .replace("<MailList>false", "<MailList>true")
    )
    assert_xml(api.get(f"{CUSTOMERS}/1", headers=XML), 200, customers_xml(expected))


def test_bulk_put_in_xml_and_what_get_writes_reads_back_unchanged(api: httpx.Client) -> None:
    create(api, "a@example.com", BillingFirstName="Ann", Comments="x\x01y")
    create(api, "b@example.com", ShippingCity="Ö & <city>")
    listed = api.get(CUSTOMERS, headers=XML)
    expected = customers_xml(
        customer_xml(1, "a@example.com", BillingFirstName="Ann", Comments="x&#x1;y"),
        customer_xml(2, "b@example.com", ShippingCity=escape("Ö & <city>")),
    )
    assert_xml(listed, 200, expected)
    # GET in XML, then PUT the same bytes: every customer updated, none changed.
    assert_xml(api.put(CUSTOMERS, content=listed.content, headers=XML_BODY), 200, updated(1, 2))
    assert api.get(CUSTOMERS, headers=XML).content == expected
    body = customers_xml(
        "<Customer><CustomerID>2</CustomerID><Enabled>true</Enabled></Customer>",
        "<Customer><CustomerID>9</CustomerID><Enabled>true</Enabled></Customer>",
    )
    assert_xml(
        api.put(CUSTOMERS, content=body, headers=XML_BODY),
        206,
        xml_records(("CustomerID", 2, 200, "updated successfully"), ("CustomerID", 9, 404, SOME_NOT_FOUND)),
    )
    changed = customer_xml(2, "b@example.com", ShippingCity=escape("Ö & <city>"), Enabled="true")
    assert_xml(api.get(f"{CUSTOMERS}/2", headers=XML), 200, customers_xml(changed))


def test_a_groups_members_in_xml(api: httpx.Client) -> None:
    group_id = create_group(api, PriceLevel=1)
    create(api, "a@example.com")
    create(api, "b@example.com", CustomerGroupID=group_id)
    path = f"/CustomerGroups/{group_id}/Customers"
    assert_xml(
        api.get(path, headers=XML), 200, customers_xml(customer_xml(2, "b@example.com", CustomerGroupID="1"))
    )
    count = api.get(path, params={"countonly": "1"}, headers=XML)
    assert_xml(count, 200, f"<CountResult{NS}><TotalCount>1</TotalCount></CountResult>".encode())


def test_a_whole_customer_with_unknown_elements_fits_the_markup_bound(api: httpx.Client) -> None:
    """A customer has 36 properties (74 tags with its own): more than a group's 64 tags, so the
    bound is the customer's own (220 tags an item)."""
    texts = {"integer": "0", "id": "0", "decimal": "0", "boolean": "false"}
    inner = "".join(
        f"<{spec.wire}>{texts.get(spec.kind, 'x')}</{spec.wire}>" for spec in CUSTOMER_FIELDS
    ).replace("<Email>x</Email>", "<Email>all@example.com</Email>")
    body = f"<Customer>{inner}{'<Extra/>' * 140}</Customer>".encode()
    assert body.count(b"<") == 74 + 140  # 36 properties and the item: 74 tags
    assert_xml(api.post(CUSTOMERS, content=body, headers=XML_BODY), 201, created(1))
    assert b"<BillingTaxID>x</BillingTaxID>" in api.get(f"{CUSTOMERS}/1", headers=XML).content


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            b"<Customer><Email>x@example.com</Email>" + b"<a/>" * 225 + b"</Customer>",
            "The XML request body has more markup than 1 customer can hold (at most 220 tags a customer)",
            id="markup",
        ),
        pytest.param(
            b"<CustomerGroup><Name>x</Name></CustomerGroup>",
            "The XML request body's root element must be <Customer> (got <CustomerGroup>)",
            id="group-for-customer",
        ),
        pytest.param(
            b"<ArrayOfCustomer />",
            "The XML request body's root element must be <Customer> (got <ArrayOfCustomer>)",
            id="list-for-one",
        ),
        pytest.param(
            b"<Customer><Email><b>x</b></Email></Customer>",
            "The XML element <Email> must hold text, not elements",
            id="element-in-field",
        ),
        pytest.param(b" ", "The request body is empty; send a <Customer> XML document", id="empty"),
        pytest.param(
            b'<!DOCTYPE Customer [<!ENTITY e "x">]><Customer><Email>&e;</Email></Customer>',
            "The request body is not accepted: XML with a DTD, entity declarations or external "
            "references is refused",
            id="entity",
        ),
        pytest.param(
            b"<Customer><Email>x@example.com</Email><Enabled>maybe</Enabled></Customer>",
            "Enabled must be true or false",
            id="not-a-flag",
        ),
    ],
)
def test_broken_or_invalid_customer_xml_is_400_and_changes_nothing(
    api: httpx.Client, state: State, body: bytes, message: str
) -> None:
    create(api, "kept@example.com")
    before = state()
    message_element = f"<Message>{escape(message)}"
    post = api.post(CUSTOMERS, content=body, headers=XML_BODY)
    assert post.status_code == 400, post.text
    assert post.headers["content-type"] == APPLICATION_XML
    assert message_element in post.text
    put = api.put(f"{CUSTOMERS}/1", content=body, headers=XML_BODY)
    assert put.status_code == 400 and message_element in put.text
    assert state() == before


def test_bulk_put_wants_an_array_of_customer_within_its_markup_bound(api: httpx.Client, state: State) -> None:
    create(api, "kept@example.com")
    before = state()
    one = b"<Customer><CustomerID>1</CustomerID><Comments>changed</Comments></Customer>"
    wrong = "The XML request body's root element must be <ArrayOfCustomer> (got <Customer>)"
    assert_xml(api.put(CUSTOMERS, content=one, headers=XML_BODY), 400, xml_error(400, wrong))
    padding = b"<x/>" * (220 * 1000 + 8)  # the server's default max_bulk_items is 1000
    body = b"<ArrayOfCustomer>" + one + padding + b"</ArrayOfCustomer>"
    message = (
        "The XML request body has more markup than 1000 customers can hold (at most 220 tags a customer)"
    )
    assert_xml(api.put(CUSTOMERS, content=body, headers=XML_BODY), 400, xml_error(400, message))
    assert state() == before
    fitting = b"<ArrayOfCustomer>" + one + b"<x/>" * 200 + b"</ArrayOfCustomer>"
    assert_xml(api.put(CUSTOMERS, content=fitting, headers=XML_BODY), 200, updated(1))


def test_errors_of_customer_routes_are_xml_records(api: httpx.Client, state: State) -> None:
    before = state()
    assert_xml(api.get(f"{CUSTOMERS}/9", headers=XML), 404, xml_error(404, NOT_FOUND, "9"))
    assert_xml(api.get(CUSTOMERS, headers=XML), 404, xml_error(404, "No Customer records found."))
    body = b"<Customer><Email>x@example.com</Email></Customer>"
    assert_xml(api.put(f"{CUSTOMERS}/9", content=body, headers=XML_BODY), 404, xml_error(404, NOT_FOUND, "9"))
    assert state() == before
