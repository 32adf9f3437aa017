"""XML bodies, in the shape the live service writes and reads them.

The live CustomerGroups help pages list ``application/xml`` and ``text/xml`` as request and
response formats, with samples in XmlSerializer's shape: ASP.NET Web API's XmlMediaTypeFormatter
with UseXmlSerializer. Its writer settings (aspnetwebstack, XmlMediaTypeFormatter.cs) are
OmitXmlDeclaration, CheckCharacters=false, no indentation, UTF-8 without a BOM. So a list is::

    <ArrayOfCustomerGroup xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><CustomerGroup><CustomerGroupID>1</CustomerGroupID>...</CustomerGroup></ArrayOfCustomerGroup>

Elements follow wire order; an empty string is ``<Name />``; booleans are ``true``/``false``;
a decimal is written as .NET's XmlConvert.ToString(decimal) writes it: its digits and scale
exactly, without the ".0" Json.NET adds (``100``, ``1.50``). Text escapes ``& < >``; a carriage
return is written ``&#xD;`` (so that an XML reader gives it back instead of a line feed), and a
character XML 1.0 cannot carry (controls below U+0020 other than tab, line feed and carriage
return; U+FFFE, U+FFFF) as a character reference such as ``&#x1;``, as XmlWriter does with
CheckCharacters=false. Result and error records are ``<ArrayOfRecord>`` of ``<Record>`` with
Key, Value, Status, Message; countonly is ``<CountResult><TotalCount>N</TotalCount></CountResult>``.

Request bodies are read with defusedxml: no DTD, no entity declarations, no external references,
nesting at most MAX_DEPTH deep; the size is bounded before (Services.max_body_bytes). A
``<CustomerGroup>`` (or ``<Customer>``: ``decode_xml``'s ``entity``) becomes the dict the JSON
reader would give (element names to text; an element with ``xsi:nil="true"`` to None; an empty
one to ""), an ``<ArrayOfCustomerGroup>`` (``<ArrayOfCustomer>``) a list of them. Character
references to the characters above are read back too (an extension of XML 1.0, which refuses
them), so what this module writes, it reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from cartgroups.customer_model import CUSTOMER_FIELDS, CUSTOMER_POSITION, Customer
from cartgroups.errors import Invalid
from cartgroups.model import FIELDS, POSITION, CustomerGroup, FieldSpec

XSI = "http://www.w3.org/2001/XMLSchema-instance"
_NAMESPACES = f' xmlns:xsi="{XSI}" xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
GROUP, GROUPS = "CustomerGroup", "ArrayOfCustomerGroup"
RECORD, RECORDS = "Record", "ArrayOfRecord"
COUNT = "CountResult"
MAX_DEPTH = 16  # a body is three deep (ArrayOfCustomerGroup, CustomerGroup, field)

# What XML 1.0 cannot carry, even as a reference (XmlWriter writes a reference with CheckCharacters=false).
_UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SPECIAL = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _reference(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"&#x{ord(char):X};"


def _text(value: str) -> str:
    return _SPECIAL.sub(_reference, value) if _SPECIAL.search(value) else value


def _element(name: str, text: str) -> str:
    return f"<{name}>{text}</{name}>" if text else f"<{name} />"


def _value(value: object) -> str:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # XmlConvert.ToString(decimal): digits and scale, no exponent
    return str(value)


def _group(group: CustomerGroup, fields: Sequence[FieldSpec]) -> str:
    inner = "".join(_element(spec.wire, _value(group[POSITION[spec]])) for spec in fields)
    return f"<{GROUP}>{inner}</{GROUP}>"


def groups_body(groups: Sequence[CustomerGroup], fields: Sequence[FieldSpec] = FIELDS) -> bytes:
    """``<ArrayOfCustomerGroup>`` of the groups, each with ``fields`` only, in wire order."""
    inner = "".join(_group(group, fields) for group in groups)
    return f"<{GROUPS}{_NAMESPACES}>{inner}</{GROUPS}>".encode()


CUSTOMER, CUSTOMERS = "Customer", "ArrayOfCustomer"


def _customer(customer: Customer, fields: Sequence[FieldSpec]) -> str:
    # XmlSerializer leaves out a property that is null.
    if fields is CUSTOMER_FIELDS:
        pairs: Iterable[tuple[FieldSpec, object]] = zip(CUSTOMER_FIELDS, customer, strict=True)
    else:
        pairs = ((spec, customer[CUSTOMER_POSITION[spec]]) for spec in fields)
    inner = "".join(_element(spec.wire, _value(value)) for spec, value in pairs if value is not None)
    return f"<{CUSTOMER}>{inner}</{CUSTOMER}>"


def customers_body(customers: Sequence[Customer], fields: Sequence[FieldSpec] = CUSTOMER_FIELDS) -> bytes:
    """``<ArrayOfCustomer>`` of the customers, each with ``fields`` only (all by default) but the
    null ones, in wire order."""
    inner = "".join(_customer(customer, fields) for customer in customers)
    return f"<{CUSTOMERS}{_NAMESPACES}>{inner}</{CUSTOMERS}>".encode()


def records_body(records: Sequence[dict[str, str]]) -> bytes:
    """``<ArrayOfRecord>`` of result or error records (Key, Value, Status, Message)."""
    inner = "".join(
        f"<{RECORD}>" + "".join(_element(name, _text(text)) for name, text in record.items()) + f"</{RECORD}>"
        for record in records
    )
    return f"<{RECORDS}{_NAMESPACES}>{inner}</{RECORDS}>".encode("utf-8", "replace")


def count_body(total: int) -> bytes:
    return f"<{COUNT}{_NAMESPACES}><TotalCount>{total}</TotalCount></{COUNT}>".encode()


# Reading ---------------------------------------------------------------------------------------

_NIL = f"{{{XSI}}}nil"
_FLAGS = {"1": True, "0": False}  # xsd:boolean's other spelling of true and false
# A character reference to a character XML 1.0 refuses (outside CDATA sections and comments,
# which are matched first and kept as they are); and the marker that stands in for one.
_REFERENCES = re.compile(
    r"<!\[CDATA\[.*?\]\]>|<!--.*?-->|&#(?:x0*([0-9a-fA-F]{1,6})|0*([0-9]{1,7}));|\ue000", re.DOTALL
)
_MARK = "\ue000"  # a private-use character: followed by the character it marks
_MARKED = re.compile("\ue000(.)", re.DOTALL)
_SHIFT = 0xE100  # a marked control character c is written chr(_SHIFT + c)


def _mark(match: re.Match[str]) -> str:
    text = match.group()
    if text == _MARK:
        return _MARK + _MARK
    hexadecimal, decimal = match.group(1), match.group(2)
    if hexadecimal is None and decimal is None:
        return text  # a CDATA section or a comment
    code = int(hexadecimal, 16) if hexadecimal is not None else int(decimal)
    if code == ord(_MARK):
        return _MARK + _MARK
    if code <= 0xFFFF and _UNWRITABLE.fullmatch(chr(code)):
        return _MARK + chr(_SHIFT + code)
    return text


def _unmark(match: re.Match[str]) -> str:
    char = match.group(1)
    return _MARK if char == _MARK else chr(ord(char) - _SHIFT)


@dataclass(frozen=True, slots=True)
class _Entity:
    """What a request body of one resource is read as: its item and list elements, the kind of
    each property (by case-folded name), the nouns of its messages, and its markup bound."""

    item: str  # <CustomerGroup>
    array: str  # <ArrayOfCustomerGroup>
    kinds: Mapping[str, str]
    one: str  # "group"
    many: str  # "groups"
    tags_per_item: int


def _tags_per_item(fields: Sequence[FieldSpec]) -> int:
    """The markup an item may hold: its properties' tags (2 each) with room for unknown elements,
    three times over; TAGS_PER_GROUP for a group's 10 properties."""
    return 6 * len(fields) + 4


class _Reader:
    """The parser's target: builds the request's dict (or list of dicts) as elements end.
    ``root`` is the element the route takes: the entity's item (<CustomerGroup>), or its array
    (<ArrayOfCustomerGroup>) for the bulk update; elements it does not know inside an item are
    ignored (as XmlSerializer does)."""

    def __init__(self, entity: _Entity, many: bool) -> None:
        self.entity = entity
        self.many = many
        self.root = entity.array if many else entity.item
        self.group_depth = 2 if many else 1  # the depth of an item (<CustomerGroup>)
        self.depth = 0
        self.items: list[dict[str, object] | None] = []
        self.group: dict[str, object] | None = None
        self.in_group = False
        self.nil = False
        self.nested = False  # the current field holds elements
        self.text: list[str] = []

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self.depth = depth = self.depth + 1
        if depth > MAX_DEPTH:
            raise Invalid(f"The request body is not valid XML: it is nested more than {MAX_DEPTH} deep")
        name = _local(tag)
        if depth == 1 and name != self.root:
            raise Invalid(f"The XML request body's root element must be <{self.root}> (got <{name}>)")
        nil = attrib.get(_NIL, "").strip() in ("true", "1")
        if depth == self.group_depth:
            self.in_group = name == self.entity.item
            self.group = None if nil else {}
        elif depth == self.group_depth + 1:
            self.text, self.nil, self.nested = [], nil, False
        elif depth > self.group_depth + 1:
            self.nested = True

    def data(self, text: str) -> None:
        self.text.append(text)

    def end(self, tag: str) -> None:
        depth = self.depth
        self.depth -= 1
        if not self.in_group:
            return
        if depth == self.group_depth:
            self.items.append(self.group)
            self.in_group = False
        elif depth == self.group_depth + 1 and self.group is not None:
            name = _local(tag)
            kind = self.entity.kinds.get(name.lower())
            if kind is None:
                return  # not a property of the entity: ignored, like an unknown JSON property
            if self.nested:
                raise Invalid(f"The XML element <{name}> must hold text, not elements")
            self.group[name] = None if self.nil else _field(kind, "".join(self.text))

    def close(self) -> object:
        return self.items if self.many else self.items[0]


def _local(tag: str) -> str:
    """An element's name without its namespace (XmlSerializer clients send none; others may)."""
    return tag.rpartition("}")[2]


def _field(kind: str, text: str) -> object:
    if _MARK in text:
        text = _MARKED.sub(_unmark, text)
    if kind == "string":
        return text
    text = text.strip(" \t\r\n")  # xsd's whitespace collapse for numbers and flags
    if kind == "boolean":
        return _FLAGS.get(text, text)
    return text


# The most markup ("<" characters: tags, comments, CDATA sections) a body may hold per item it
# carries: a group's 10 properties with their closing tags are 22, and unknown elements are
# allowed (ignored). The parser calls back into Python for every element (~0.8 us each): without
# a bound, a megabyte of "<a/>" held a worker 0.2 s; strict JSON of the same size is read in C.
# A customer's 36 properties are 74 tags: its bound is scaled to its field count (_tags_per_item).
TAGS_PER_GROUP = 64
assert _tags_per_item(FIELDS) == TAGS_PER_GROUP

_ENTITIES = {
    entity.item: entity
    for entity in (
        _Entity(GROUP, GROUPS, {s.key: s.kind for s in FIELDS}, "group", "groups", TAGS_PER_GROUP),
        _Entity(
            CUSTOMER,
            CUSTOMERS,
            {s.key: s.kind for s in CUSTOMER_FIELDS},
            "customer",
            "customers",
            _tags_per_item(CUSTOMER_FIELDS),
        ),
    )
}
TAGS_PER_CUSTOMER = _ENTITIES[CUSTOMER].tags_per_item


def decode_xml(
    body: bytes, charset: str = "utf-8", *, many: bool = False, max_items: int = 1, entity: str = GROUP
) -> object:
    """Parse an XML request body of ``entity`` (a resource's object name: "CustomerGroup" or
    "Customer"): one item (a dict), or with ``many`` its array (a list) of at most about
    ``max_items`` items' worth of markup (the service counts the items themselves). Every way it
    can be broken or hostile is an Invalid."""
    kind = _ENTITIES[entity]
    try:
        text = body.decode(charset)
    except ValueError:
        raise Invalid(f"The request body is not valid {charset} text") from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise Invalid(f"The request body is empty; send a <{kind.array if many else kind.item}> XML document")
    items = max_items if many else 1
    if text.count("<") > kind.tags_per_item * items + 8:  # one pass in C, before any callback
        raise Invalid(
            f"The XML request body has more markup than {items} "
            f"{kind.many if items > 1 else kind.one} can hold "
            f"(at most {kind.tags_per_item} tags a {kind.one})"
        )
    if "&#" in text or _MARK in text:
        text = _REFERENCES.sub(_mark, text)
    parser = DefusedXMLParser(
        target=_Reader(kind, many), forbid_dtd=True, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(text)
        return parser.close()
    except ParseError as exc:
        raise Invalid(f"The request body is not valid XML: {exc}") from None
    except DefusedXmlException:
        raise Invalid(
            "The request body is not accepted: XML with a DTD, entity declarations or external "
            "references is refused"
        ) from None
