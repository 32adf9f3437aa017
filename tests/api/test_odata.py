"""OData $select and $orderby on GET /CustomerGroups and GET /CustomerGroups/{id} (docs/api.md,
"OData"): applied to the page already built, field names in any case, 400 for what cannot be read."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.api.support import (
    COLLECTION,
    GROUP_NOT_FOUND,
    NO_GROUPS,
    OFFSET_PAST_END,
    State,
    array,
    assert_error,
    group_bytes,
    ids_of,
    item_path,
)
from tests.conftest import create_group

PROPERTIES = (
    "CustomerGroupID, Name, Description, MinimumOrder, NonTaxable, AllowRegistration, "
    "DisableRewardPoints, AutoApprove, RegistrationMessage, PriceLevel"
)
# What the PHP client (menes1337/3dcart-api-php-client) sends for its README's "selecting,
# filtering and sorting" example (tests/fixtures/clients/php-menes1337/04-select-limit-orderby.http,
# replayed byte for byte in tests/api/test_real_client_requests.py): $ and , percent-encoded, the
# blank as +, a trailing slash on the path.
PHP_QUERY = "/?limit=2&%24orderby=Name+desc&%24select=Name%2CCustomerGroupID"


def _names(api: httpx.Client, *names: str) -> None:
    for n, name in enumerate(names, start=1):
        assert create_group(api, Name=name, PriceLevel=3) == n


def _unknown(parameter: str, name: str) -> str:
    return f"{parameter}: '{name}' is not a property of CustomerGroup (properties: {PROPERTIES})"


def test_select_returns_only_those_properties_in_wire_order(api: httpx.Client) -> None:
    _names(api, "Retail", "VIP")
    api.put(item_path(2), json={"PriceLevel": 7, "MinimumOrder": "12.50"})
    response = api.get(COLLECTION + "?$select=PriceLevel,Name,MinimumOrder")
    assert response.status_code == 200
    assert response.content == (
        b'[{"Name":"Retail","MinimumOrder":0.0,"PriceLevel":3},'
        b'{"Name":"VIP","MinimumOrder":12.50,"PriceLevel":7}]'
    )
    assert response.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(
    "select", ["customergroupid,NAME", " Name , CustomerGroupID ", "name,Name,customerGroupId"]
)
def test_select_names_are_case_insensitive_trimmed_and_counted_once(api: httpx.Client, select: str) -> None:
    _names(api, "Retail")
    response = api.get(COLLECTION, params={"$SELECT": select})
    assert response.content == b'[{"CustomerGroupID":1,"Name":"Retail"}]'


@pytest.mark.parametrize("query", ["?$select=*", "?$select=Name,*", "?$select=&$orderby=", "?$Select="])
def test_select_star_or_empty_values_are_the_whole_group(api: httpx.Client, query: str) -> None:
    _names(api, "Retail", "VIP")
    assert api.get(COLLECTION + query).content == array(
        group_bytes(1, "Retail", price_level=3), group_bytes(2, "VIP", price_level=3)
    )


def test_the_php_clients_encoded_query_sorts_the_page_it_returns(api: httpx.Client) -> None:
    _names(api, "Alpha", "Beta", "Zulu")
    response = api.get(COLLECTION + PHP_QUERY)
    assert response.status_code == 200
    # limit=2 takes groups 1 and 2; Name desc sorts those two, not the whole store (Zulu)
    assert response.content == b'[{"CustomerGroupID":2,"Name":"Beta"},{"CustomerGroupID":1,"Name":"Alpha"}]'


def test_orderby_sorts_the_page_chosen_by_offset_and_limit(api: httpx.Client) -> None:
    _names(api, "e", "d", "c", "b", "a")
    assert ids_of(api.get(COLLECTION + "?offset=2&limit=3&$orderby=Name")) == [4, 3, 2]
    assert ids_of(api.get(COLLECTION + "?offset=2&limit=3&$orderby=Name asc")) == [4, 3, 2]
    assert ids_of(api.get(COLLECTION + "?offset=2&limit=3&$orderby=name DESC")) == [2, 3, 4]
    assert ids_of(api.get(COLLECTION + "?$orderby=CustomerGroupID desc")) == [5, 4, 3, 2, 1]


def test_several_keys_each_with_its_direction_and_ties_in_id_order(api: httpx.Client) -> None:
    for name, level in (("b", 2), ("a", 1), ("c", 2), ("a", 2), ("b", 1)):
        create_group(api, Name=name, PriceLevel=level)
    assert ids_of(api.get(COLLECTION + "?$orderby=PriceLevel desc,Name")) == [4, 1, 3, 2, 5]
    assert ids_of(api.get(COLLECTION + "?$orderby=Name desc, PriceLevel desc")) == [3, 1, 5, 4, 2]
    # equal in every key: the page's (id) order is kept, ascending or descending
    assert ids_of(api.get(COLLECTION + "?$orderby=Description")) == [1, 2, 3, 4, 5]
    assert ids_of(api.get(COLLECTION + "?$orderby=Description desc")) == [1, 2, 3, 4, 5]


def test_strings_sort_as_a_culture_aware_comparison_roughly_does(api: httpx.Client) -> None:
    _names(api, "b", "A", "é", "a", "B", "f", "e", "10", "résumé", "resume", "resumes")
    response = api.get(COLLECTION + "?limit=20&$orderby=Name&$select=Name")
    got = [group["Name"] for group in response.json()]
    assert got == ["10", "a", "A", "b", "B", "e", "é", "f", "resume", "résumé", "resumes"]


def test_decimals_sort_by_value_and_booleans_false_first(api: httpx.Client) -> None:
    for amount, flag in (("10", True), ("9.5", False), ("100.00", True), ("10.0", False)):
        create_group(api, MinimumOrder=amount, NonTaxable=flag)
    assert ids_of(api.get(COLLECTION + "?$orderby=MinimumOrder")) == [2, 1, 4, 3]
    assert ids_of(api.get(COLLECTION + "?$orderby=NonTaxable,MinimumOrder desc")) == [4, 2, 3, 1]


def test_v2_reads_them_the_same(api: httpx.Client) -> None:
    _names(api, "a", "b")
    v2 = api.get(api.base_url.join("/3dCartWebAPI/v2/CustomerGroups?$select=Name&$orderby=Name desc"))
    assert v2.content == b'[{"Name":"b"},{"Name":"a"}]'
    by_id = api.get(api.base_url.join("/3dCartWebAPI/v2/CustomerGroups/2?$select=customergroupid"))
    assert by_id.content == b'[{"CustomerGroupID":2}]'


def test_countonly_ignores_select_and_orderby_even_malformed(api: httpx.Client) -> None:
    _names(api, "a", "b")
    for query in ("?countonly=1&$select=Name", "?countonly=1&$orderby=Nope sideways&$select=,"):
        response = api.get(COLLECTION + query)
        assert response.status_code == 200
        assert response.content == b'{"TotalCount":2}'


def test_the_paging_errors_are_as_without_them(api: httpx.Client) -> None:
    assert_error(api.get(COLLECTION + "?$select=Name&$orderby=Name"), 404, NO_GROUPS)
    _names(api, "a")
    assert_error(api.get(COLLECTION + "?offset=5&$orderby=Name"), 400, OFFSET_PAST_END)


def test_get_by_id_selects_and_keeps_the_whole_groups_etag(api: httpx.Client) -> None:
    _names(api, "Retail")
    whole = api.get(item_path(1))
    tag = whole.headers["etag"]
    assert tag == '"' + hashlib.blake2b(whole.content, digest_size=16).hexdigest() + '"'
    some = api.get(item_path(1) + "?$select=Name,PriceLevel&$orderby=Name desc")
    assert some.status_code == 200
    assert some.content == b'[{"Name":"Retail","PriceLevel":3}]'
    assert some.headers["etag"] == tag  # the tag names the group's state, which If-Match compares
    not_modified = api.get(item_path(1) + "?$select=Name", headers={"If-None-Match": tag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert api.put(item_path(1), json={"Name": "Mine"}, headers={"If-Match": tag}).status_code == 200
    changed = api.get(item_path(1) + "?$select=Name", headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.content == b'[{"Name":"Mine"}]'
    assert changed.headers["etag"] == api.get(item_path(1)).headers["etag"] != tag


def test_get_by_id_of_a_missing_group_is_still_404(api: httpx.Client) -> None:
    assert_error(api.get(item_path(3) + "?$select=Name"), 404, GROUP_NOT_FOUND, "3")


def test_a_shaped_answer_is_never_given_to_another_request(api: httpx.Client) -> None:
    """Answers are kept until the database changes (docs/api.md): the key includes the shape."""
    _names(api, "a", "b")
    for _ in range(2):
        assert api.get(COLLECTION + "?$select=Name").content == b'[{"Name":"a"},{"Name":"b"}]'
        assert (
            api.get(COLLECTION + "?$select=name&$orderby=Name desc").content == b'[{"Name":"b"},{"Name":"a"}]'
        )
        assert ids_of(api.get(COLLECTION)) == [1, 2]
        assert api.get(item_path(1) + "?$select=Name").content == b'[{"Name":"a"}]'
        assert api.get(item_path(1) + "?$select=PriceLevel").content == b'[{"PriceLevel":3}]'
        assert api.get(item_path(1)).content == b"[" + group_bytes(1, "a", price_level=3) + b"]"
    api.put(item_path(1), json={"Name": "z"})
    assert api.get(COLLECTION + "?$select=Name").content == b'[{"Name":"z"},{"Name":"b"}]'
    assert api.get(item_path(1) + "?$select=Name").content == b'[{"Name":"z"}]'


BAD = [
    ("$select=Nope", _unknown("$select", "Nope")),
    ("$select=Name,Pricelevels", _unknown("$select", "Pricelevels")),
    ("$select=Name,", "$select has an empty item; give property names separated by commas"),
    ("$select=,", "$select has an empty item; give property names separated by commas"),
    ("$orderby=Nope", _unknown("$orderby", "Nope")),
    ("$orderby=*", _unknown("$orderby", "*")),
    ("$orderby=Name sideways", "$orderby: 'sideways' after Name is not a direction; use asc or desc"),
    ("$orderby=Name desc PriceLevel", "$orderby: 'Name desc PriceLevel' is not 'Property [asc|desc]'"),
    (
        "$orderby=Name,,PriceLevel",
        "$orderby has an empty item; give 'Property [asc|desc]' items separated by commas",
    ),
    ("$orderby=Name,name desc", "Duplicate property named 'Name' is not supported in '$orderby'."),
    ("$select=Name&$orderby=Nope", _unknown("$orderby", "Nope")),
    ("$select=" + "x" * 70, _unknown("$select", "x" * 60 + "...")),
]


@pytest.mark.parametrize(("query", "message"), BAD)
def test_what_cannot_be_read_is_400_naming_it_and_changes_nothing(
    api: httpx.Client, state: State, query: str, message: str
) -> None:
    _names(api, "a", "b")
    before = state()
    assert_error(api.get(f"{COLLECTION}?limit=1&{query}"), 400, message)
    assert_error(api.get(f"{item_path(1)}?{query}"), 400, message)
    assert state() == before


def test_a_bad_shape_is_400_even_on_an_empty_store_or_a_missing_group(api: httpx.Client) -> None:
    message = _unknown("$select", "Nope")
    assert_error(api.get(COLLECTION + "?$select=Nope"), 400, message)
    assert_error(api.get(item_path(4) + "?$select=Nope"), 400, message)


def test_xml_answers_hold_the_same_properties_in_the_same_order(api: httpx.Client) -> None:
    create_group(api, Name="b", PriceLevel=2)
    create_group(api, Name="a", PriceLevel=3)
    listed = api.get(
        COLLECTION + "?$select=PriceLevel,Name&$orderby=Name", headers={"Accept": "application/xml"}
    )
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/xml; charset=utf-8"
    assert listed.content == (
        b'<ArrayOfCustomerGroup xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
        b"<CustomerGroup><Name>a</Name><PriceLevel>3</PriceLevel></CustomerGroup>"
        b"<CustomerGroup><Name>b</Name><PriceLevel>2</PriceLevel></CustomerGroup></ArrayOfCustomerGroup>"
    )
    by_id = api.get(item_path(1) + "?$select=name", headers={"Accept": "text/xml"})
    assert by_id.content.endswith(b"><CustomerGroup><Name>b</Name></CustomerGroup></ArrayOfCustomerGroup>")
    assert by_id.headers["etag"] == api.get(item_path(1)).headers["etag"]  # the JSON body's, as always
    # the JSON answer to the same query is not the XML one kept in the read cache
    assert api.get(item_path(1) + "?$select=name").content == b'[{"Name":"b"}]'
