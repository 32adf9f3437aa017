"""Content negotiation (api/media.py) and the XML writers and reader (api/xml.py), without a server."""

from __future__ import annotations

from decimal import Decimal

import pytest
from defusedxml import ElementTree

from cartgroups.api import xml
from cartgroups.api.media import JSON, TEXT_XML, XML, Media, negotiate
from cartgroups.errors import Invalid
from cartgroups.model import FIELDS, CustomerGroup

CHROME = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "content_type", "expected"),
    [
        (None, None, JSON),
        ("", None, JSON),
        ("*/*", None, JSON),
        ("application/json", None, JSON),
        ("text/json", None, JSON),
        ("application/json; charset=utf-8", None, JSON),
        ("application/xml", None, XML),
        ("Application/XML", None, XML),
        ("text/xml", None, TEXT_XML),
        ("application/xml; charset=utf-8", None, XML),
        (CHROME, None, XML),  # application/xml is named at 0.9; JSON only falls under */* at 0.8
        (FIREFOX, None, XML),
        ("text/html", None, JSON),  # nothing matches: the first formatter, never 406
        ("image/png, text/plain", None, JSON),
        ("not a media type", None, JSON),
        ("application/xml;q=0.5, application/json;q=0.4", None, XML),  # the highest q
        ("application/json;q=0.5, application/xml", None, XML),
        ("application/xml, application/json", None, JSON),  # equal q: JSON first
        ("*/*, application/xml", None, XML),  # equal q: the named type before */*
        ("application/*", None, JSON),  # a range both cover: JSON first
        ("text/*", None, JSON),  # text/json before text/xml
        ("application/xml;q=0", None, JSON),  # q=0 never matches
        ("application/xml;q=abc", None, JSON),  # a value that does not parse is skipped
        ("application/xml;q=1.5", None, JSON),
        ("application/xml;q=0.1, */*;q=0.05", None, XML),
        ("application/json;q=0, */*", None, JSON),  # Web API ignores q=0 rather than excluding
        (None, "application/xml", XML),  # no Accept: the body's media type
        (None, "text/xml; charset=utf-8", TEXT_XML),
        (None, "application/json", JSON),
        ("text/html", "application/xml", XML),  # no Accept value matches: the body's type
        ("*/*", "application/xml", JSON),  # an Accept match wins over the body's type
    ],
)
def test_negotiation_follows_web_apis_default_negotiator(
    accept: str | None, content_type: str | None, expected: Media
) -> None:
    assert negotiate(accept, content_type) is expected


def _group(**values: object) -> CustomerGroup:
    base: dict[str, object] = {
        "group_id": 1,
        "name": "N",
        "description": "",
        "minimum_order": Decimal("0"),
        "non_taxable": False,
        "allow_registration": True,
        "disable_reward_points": False,
        "auto_approve": False,
        "registration_message": "",
        "price_level": -2147483648,
    }
    return CustomerGroup(**{**base, **values})  # type: ignore[arg-type]


def test_a_group_is_written_in_xmlserializers_shape() -> None:
    body = xml.groups_body([_group(name="A & <B> \"c\" 'd'", minimum_order=Decimal("1.50"))])
    assert body == (
        b'<ArrayOfCustomerGroup xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><CustomerGroup><CustomerGroupID>1</CustomerGroupID>'
        b"<Name>A &amp; &lt;B&gt; \"c\" 'd'</Name><Description /><MinimumOrder>1.50</MinimumOrder>"
        b"<NonTaxable>false</NonTaxable><AllowRegistration>true</AllowRegistration>"
        b"<DisableRewardPoints>false</DisableRewardPoints><AutoApprove>false</AutoApprove>"
        b"<RegistrationMessage /><PriceLevel>-2147483648</PriceLevel></CustomerGroup></ArrayOfCustomerGroup>"
    )


def test_only_the_fields_given_are_written() -> None:
    fields = (FIELDS[1], FIELDS[0])
    assert xml.groups_body([_group()], fields).endswith(
        b"<CustomerGroup><Name>N</Name><CustomerGroupID>1</CustomerGroupID></CustomerGroup></ArrayOfCustomerGroup>"
    )


@pytest.mark.parametrize(
    ("amount", "text"),
    [("0", "0"), ("0.0", "0.0"), ("100", "100"), ("1E+2", "100"), ("1.50", "1.50"), ("1E-7", "0.0000001")],
)
def test_decimals_are_written_like_xmlconvert_exactly(amount: str, text: str) -> None:
    body = xml.groups_body([_group(minimum_order=Decimal(amount))])
    assert f"<MinimumOrder>{text}</MinimumOrder>".encode() in body


def test_characters_xml_cannot_carry_are_references_and_read_back() -> None:
    text = "".join(chr(c) for c in range(1, 32)) + "\r\n\ufffe\uffff\ue000 \u2028\u0085 \U0001f600"
    body = xml.groups_body([_group(name=text)])
    assert b"&#x1;&#x2;" in body and b"&#x1F;" in body and b"&#xD;\n" in body and b"&#xFFFE;" in body
    assert "\u2028\u0085".encode() in body  # valid XML 1.0 characters: raw, as XmlWriter writes them
    read = xml.decode_xml(body, many=True)
    assert isinstance(read, list)
    assert read[0]["Name"] == text


def test_records_and_count() -> None:
    namespaces = (
        b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
    )
    records = [{"Key": "Error", "Value": "", "Status": "400", "Message": "x < y"}]
    assert xml.records_body(records) == (
        b"<ArrayOfRecord" + namespaces + b"><Record><Key>Error</Key><Value /><Status>400</Status>"
        b"<Message>x &lt; y</Message></Record></ArrayOfRecord>"
    )
    assert xml.count_body(0) == b"<CountResult" + namespaces + b"><TotalCount>0</TotalCount></CountResult>"
    ElementTree.fromstring(xml.records_body(records))  # well-formed to any XML parser


def test_a_body_becomes_what_the_json_reader_would_give() -> None:
    body = (
        b'<?xml version="1.0" encoding="utf-8"?>\n<CustomerGroup xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        b'<Name> spaced </Name><Description xsi:nil="true"/><RegistrationMessage></RegistrationMessage>'
        b"<NonTaxable> 1 </NonTaxable><AutoApprove>0</AutoApprove><AllowRegistration>true</AllowRegistration>"
        b"<PriceLevel>\n 3 </PriceLevel><MinimumOrder>1.50</MinimumOrder><Extra><x/></Extra>"
        b"<Name2><![CDATA[&#x1; <kept>]]></Name2><!-- &#x1; --></CustomerGroup>"
    )
    assert xml.decode_xml(body) == {
        "Name": " spaced ",
        "Description": None,
        "RegistrationMessage": "",
        "NonTaxable": True,
        "AutoApprove": False,
        "AllowRegistration": "true",
        "PriceLevel": "3",
        "MinimumOrder": "1.50",
    }


def test_a_namespaced_body_and_other_charsets_are_read() -> None:
    body = '<CustomerGroup xmlns="http://schemas.datacontract.org/2004/07/X"><Name>été</Name></CustomerGroup>'
    assert xml.decode_xml(body.encode("utf-16"), "utf-16") == {"Name": "été"}
    assert xml.decode_xml(body.encode("cp1252"), "cp1252") == {"Name": "été"}
    assert xml.decode_xml(b"\xef\xbb\xbf" + body.encode()) == {"Name": "été"}


def test_a_list_skips_what_is_not_a_customer_group() -> None:
    body = (
        b'<ArrayOfCustomerGroup xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        b"<CustomerGroup><CustomerGroupID>1</CustomerGroupID></CustomerGroup><Other><Name>x</Name></Other>"
        b'<CustomerGroup xsi:nil="true"/><CustomerGroup/></ArrayOfCustomerGroup>'
    )
    assert xml.decode_xml(body, many=True) == [{"CustomerGroupID": "1"}, None, {}]


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE CustomerGroup [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><CustomerGroup/>',
        b'<!DOCTYPE CustomerGroup PUBLIC "-//x//y" "http://127.0.0.1:1/x.dtd"><CustomerGroup/>',
        b'<?xml-stylesheet href="http://127.0.0.1:1/x"?><CustomerGroup><Name>&ext;</Name></CustomerGroup>',
        b"<CustomerGroup>" + b"<x>" * 10_000 + b"</x>" * 10_000 + b"</CustomerGroup>",
        b"<CustomerGroup><Name>&#0;</Name></CustomerGroup>".replace(b"&#0;", b"\x00"),
        b"<CustomerGroup></customergroup>",
        b"<CustomerGroup/><CustomerGroup/>",
    ],
)
def test_hostile_bodies_are_invalid(body: bytes) -> None:
    with pytest.raises(Invalid):
        xml.decode_xml(body)
