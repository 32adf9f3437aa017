"""service.stores.Stores, what the admin console reads and changes through: pages clamped to
the pages there are, and a revoke that touches only a token of the store named."""

from __future__ import annotations

import pytest

from cartgroups.errors import NotFound
from cartgroups.service import credentials
from cartgroups.service.credentials import Principal
from cartgroups.service.customer_groups import CustomerGroups
from cartgroups.service.stores import Stores
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage.database import Database
from tests.service.conftest import Runner


def test_store_pages_are_clamped_to_the_pages_there_are(db: Database) -> None:
    for n in range(5):
        credentials.issue(db, secure_url=f"shop{n}.example.com")
    credentials.issue(db, secure_url="other.example.org")
    stores = Stores(db)
    found = [
        (p.number, p.pages, p.total, [s.secure_url for s in p.rows])
        for p in (
            stores.search(contains="EXAMPLE.COM", size=2, number=0),
            stores.search(contains="example.com", size=2, number=3),
            stores.search(contains="example.com", size=2, number=99),
            stores.search(contains="nowhere", size=2, number=5),
        )
    ]
    assert found == [
        (1, 3, 5, ["shop0.example.com", "shop1.example.com"]),
        (3, 3, 5, ["shop4.example.com"]),
        (3, 3, 5, ["shop4.example.com"]),
        (1, 1, 0, []),
    ]


def test_group_pages_sort_and_search_one_store(db: Database, groups: CustomerGroups, run: Runner) -> None:
    mine = credentials.store_id_of(db, credentials.issue(db, secure_url="shop.com").secure_url)
    theirs = credentials.store_id_of(db, credentials.issue(db, secure_url="other.com").secure_url)
    for store_id, names in ((mine, ["b", "A", "ab", "c"]), (theirs, ["a"])):
        for name in names:
            run(groups.create(principal=Principal(store_id, "-", True, True), body={"Name": name}))
    stores = Stores(db)
    page = stores.groups(mine, name_contains="A", sort="name", descending=True, size=2, number=1)
    assert ([g.name for g in page.rows], page.total, page.pages) == (["ab", "A"], 2, 1)
    last = stores.groups(mine, name_contains="", sort="id", descending=False, size=3, number=7)
    assert ([g.name for g in last.rows], last.number, last.pages) == (["c"], 2, 2)
    store = stores.get(mine)
    assert store is not None and (store.secure_url, store.group_count) == ("shop.com", 4)
    assert stores.get(theirs + 1000) is None


def test_revoke_touches_only_a_live_token_of_the_store_named(db: Database) -> None:
    here = credentials.issue(db, secure_url="shop.com", application="a")
    there = credentials.issue(db, secure_url="other.com", application="a")
    stores = Stores(db)
    store_id = credentials.store_id_of(db, "shop.com")
    with pytest.raises(NotFound):
        stores.revoke(store_id=store_id, token_id=there.token_id)
    stores.revoke(store_id=store_id, token_id=here.token_id)
    with pytest.raises(NotFound):
        stores.revoke(store_id=store_id, token_id=here.token_id)  # already revoked
    tokens, applications = stores.tokens(store_id)
    assert [(t.id, t.revoked_at is not None) for t in tokens] == [(here.token_id, True)]
    assert applications == ["a"]
    with db.read() as conn:
        assert cred_sql.credentials_version(conn) == 1  # the one revocation, counted once
        assert [t.revoked_at is None for t in cred_sql.list_tokens(conn)] == [False, True]
