"""The Customer resource: its 36 fields in wire order, with the rules each one follows
(shared/spec/customers.md §2 and D1-D9).

As model.py is for CustomerGroup, this table is the single description of the object: the
service validates input with it, the API writes JSON in its order, storage names its columns
from it, and the OpenAPI document derives its schema from it.

Two fields are not stored as they are written:
- Password is write-only (D5): the store keeps a salted scrypt hash (service/passwords.py) and
  every response carries ``"Password":""``. A Customer's ``password`` is always "".
- TotalStoreCredit is read-only (D6): the sum of the customer's store credit, kept by the
  server; a value sent is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import NamedTuple

import orjson

from cartgroups.model import INT32_MAX, INT32_MIN, FieldSpec, decimal_text

CUSTOMER_ID = FieldSpec(
    "CustomerID",
    "customer_id",
    "id",
    "Assigned by the server: per store, from 1, ascending, never reused. Ignored in a POST body.",
    minimum=1,
    maximum=INT32_MAX,
    example=1,
)
EMAIL = FieldSpec(
    "Email",
    "email",
    "string",
    "Login e-mail. Required on create; 1 to 100 characters; unique in the store (any case, "
    "surrounding spaces ignored).",
    max_length=100,
    example="jane@example.com",
    required=True,
)
PASSWORD = FieldSpec(
    "Password",
    "password",
    "string",
    'Write-only: at most 50 characters, stored as a salted slow hash; always "" in responses. '
    "Empty, null or absent on an update keeps the password.",
    max_length=50,
    example="",
)
CUSTOMER_GROUP_ID = FieldSpec(
    "CustomerGroupID",
    "customer_group_id",
    "integer",
    "The customer's group: 0 (none) or a CustomerGroupID of the same store.",
    default=0,
    minimum=0,
    maximum=INT32_MAX,
    example=0,
)
TOTAL_STORE_CREDIT = FieldSpec(
    "TotalStoreCredit",
    "total_store_credit",
    "decimal",
    "Read-only: the customer's store credit, an exact decimal; a value sent is ignored.",
    default=Decimal("0.0"),
    example=0.0,
)


def _text(wire: str, column: str, max_length: int, description: str, example: str | None = None) -> FieldSpec:
    """A free-text field: null until set (D4)."""
    return FieldSpec(wire, column, "string", description, max_length=max_length, example=example)


def _flag(wire: str, column: str, description: str) -> FieldSpec:
    return FieldSpec(wire, column, "boolean", description, default=False, example=False)


def _address(side: str, column: str) -> tuple[FieldSpec, ...]:
    """The eleven fields of the billing or the shipping address."""
    lower = side.lower()
    return (
        _text(f"{side}Company", f"{column}_company", 255, f"{side} address: company."),
        _text(f"{side}FirstName", f"{column}_first_name", 50, f"{side} address: first name.", "Jane"),
        _text(f"{side}LastName", f"{column}_last_name", 50, f"{side} address: last name.", "Doe"),
        _text(f"{side}Address1", f"{column}_address1", 255, f"{side} address: first line."),
        _text(f"{side}Address2", f"{column}_address2", 50, f"{side} address: second line."),
        _text(f"{side}City", f"{column}_city", 100, f"{side} address: city."),
        _text(f"{side}State", f"{column}_state", 100, f"{side} address: state or region."),
        _text(f"{side}ZipCode", f"{column}_zip_code", 20, f"{side} address: postal code."),
        _text(f"{side}Country", f"{column}_country", 100, f"{side} address: country."),
        _text(f"{side}PhoneNumber", f"{column}_phone_number", 50, f"{side} address: phone number."),
        *(
            (_text("BillingTaxID", "billing_tax_id", 50, "Tax or account number of the billing party."),)
            if lower == "billing"
            else ()
        ),
    )


# Every writable field but the password, in wire order (the order of the stored columns).
STORED: tuple[FieldSpec, ...] = (
    EMAIL,
    *_address("Billing", "billing"),
    *_address("Shipping", "shipping"),
    FieldSpec(
        "ShippingAddressType",
        "shipping_address_type",
        "integer",
        "Address-type code of the shipping address (a 32-bit integer; values undocumented).",
        default=0,
        minimum=INT32_MIN,
        maximum=INT32_MAX,
        example=0,
    ),
    CUSTOMER_GROUP_ID,
    _flag("Enabled", "enabled", "The account is enabled."),
    _flag("MailList", "mail_list", "On the mailing list."),
    _flag("NonTaxable", "non_taxable", "Orders of the customer are tax exempt."),
    _flag("DisableBillingSameAsShipping", "disable_billing_same_as_shipping", "As 3dcart stores it."),
    _text("Comments", "comments", 255, "Merchant comments."),
    _text("AdditionalField1", "additional_field1", 250, "Free field."),
    _text("AdditionalField2", "additional_field2", 250, "Free field."),
    _text("AdditionalField3", "additional_field3", 150, "Free field."),
    _flag("ResetPassword", "reset_password", "The customer must set a new password (no e-mail is sent)."),
)
# What a request body may set: the stored fields and the password.
WRITABLE: tuple[FieldSpec, ...] = (PASSWORD, *STORED)

# Wire order (§2): the id, Email, Password, the addresses ..., TotalStoreCredit, ResetPassword.
_RESET = STORED[-1]
CUSTOMER_FIELDS: tuple[FieldSpec, ...] = (
    CUSTOMER_ID,
    EMAIL,
    PASSWORD,
    *STORED[1:-1],
    TOTAL_STORE_CREDIT,
    _RESET,
)
CUSTOMER_POSITION: dict[FieldSpec, int] = {spec: i for i, spec in enumerate(CUSTOMER_FIELDS)}
assert len(CUSTOMER_FIELDS) == 36, "the Customer object has 36 fields"


class Customer(NamedTuple):
    """One stored customer, attributes in wire order. ``password`` is always "" (write-only)."""

    customer_id: int
    email: str
    password: str
    billing_company: str | None
    billing_first_name: str | None
    billing_last_name: str | None
    billing_address1: str | None
    billing_address2: str | None
    billing_city: str | None
    billing_state: str | None
    billing_zip_code: str | None
    billing_country: str | None
    billing_phone_number: str | None
    billing_tax_id: str | None
    shipping_company: str | None
    shipping_first_name: str | None
    shipping_last_name: str | None
    shipping_address1: str | None
    shipping_address2: str | None
    shipping_city: str | None
    shipping_state: str | None
    shipping_zip_code: str | None
    shipping_country: str | None
    shipping_phone_number: str | None
    shipping_address_type: int
    customer_group_id: int
    enabled: bool
    mail_list: bool
    non_taxable: bool
    disable_billing_same_as_shipping: bool
    comments: str | None
    additional_field1: str | None
    additional_field2: str | None
    additional_field3: str | None
    total_store_credit: Decimal
    reset_password: bool


assert Customer._fields == tuple(f.column for f in CUSTOMER_FIELDS), "wire order is the tuple order"

_AT_COLUMN = {spec.column: i for i, spec in enumerate(CUSTOMER_FIELDS)}


def with_customer_values(customer: Customer, values: Mapping[str, object]) -> Customer:
    """The customer as an update of these stored column values leaves it."""
    changed: list[object] = list(customer)
    for column, value in values.items():
        changed[_AT_COLUMN[column]] = value
    return Customer._make(changed)


def created_customer(customer_id: int, values: Mapping[str, object]) -> Customer:
    """The customer a create with these stored column values (every field of STORED) made."""
    stored = [values[f.column] for f in STORED]
    return Customer._make((customer_id, stored[0], "", *stored[1:-1], TOTAL_STORE_CREDIT.default, stored[-1]))


def filter_key(text: str | None) -> str | None:
    """What a filtered text field is matched by (D2, D7): trimmed and case-folded, so that
    ``Jane@Example.com `` and ``jane@example.com`` are one e-mail, and the filter ``email``
    finds both. Kept beside the value in the store and indexed."""
    return None if text is None else text.strip().casefold()


# The longest filter key: case folding turns one character into at most three (Unicode's full
# case foldings; U+0390 becomes three), and the longest filtered field holds 100 characters.
# (Migration 0013 writes the number itself.)
FILTER_KEY_MAX_LENGTH = 300

# The list filters that match a text field (D7), each with the field it matches.
TEXT_FILTERS: dict[str, FieldSpec] = {
    "email": EMAIL,
    "firstname": STORED[2],
    "lastname": STORED[3],
    "country": STORED[9],
    "state": STORED[7],
    "city": STORED[6],
    "phone": STORED[10],
}
assert [f.wire for f in TEXT_FILTERS.values()] == [
    "Email",
    "BillingFirstName",
    "BillingLastName",
    "BillingCountry",
    "BillingState",
    "BillingCity",
    "BillingPhoneNumber",
]
assert all(3 * (f.max_length or 0) <= FILTER_KEY_MAX_LENGTH for f in TEXT_FILTERS.values())


_WIRE_NAMES = tuple(f.wire for f in CUSTOMER_FIELDS)


def customer_object(customer: Customer) -> dict[str, object]:
    """The customer as the API writes it (for orjson): wire names in wire order, ``"Password":""``,
    TotalStoreCredit as its exact digits with at least one fractional digit. The audit log keeps
    the same object, so it never holds a password either."""
    obj: dict[str, object] = dict(zip(_WIRE_NAMES, customer, strict=True))
    obj[TOTAL_STORE_CREDIT.wire] = orjson.Fragment(decimal_text(customer.total_store_credit))
    return obj


def customer_json(customer: Customer | None) -> str | None:
    """customer_object as JSON text (U+0085, U+2028 and U+2029 raw, as orjson writes them)."""
    return None if customer is None else orjson.dumps(customer_object(customer)).decode()
