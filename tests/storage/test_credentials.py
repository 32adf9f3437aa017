"""Tokens as stored: only hashes, and a revoked token grants nothing."""

from __future__ import annotations

import sqlalchemy as sa

from cartgroups.service import credentials
from cartgroups.service.credentials import hash_secret
from cartgroups.storage import credentials as cred_sql
from cartgroups.storage import tables
from cartgroups.storage.database import Database


def test_only_hashes_of_secrets_are_stored(db: Database) -> None:
    issued = credentials.issue(db, secure_url="shop.com")
    assert issued.private_key is not None
    with db.read() as conn:
        dumped = repr([conn.execute(sa.select(table)).all() for table in tables.metadata.sorted_tables])
    assert issued.token not in dumped and issued.private_key not in dumped
    assert hash_secret(issued.token) in dumped and hash_secret(issued.private_key) in dumped


def test_a_revoked_token_has_no_grant_and_cannot_be_revoked_twice(db: Database) -> None:
    kept = credentials.issue(db, secure_url="shop.com")
    gone = credentials.issue(db, secure_url="shop.com")
    with db.write() as conn:
        assert cred_sql.revoke_token(conn, token_hash=hash_secret(gone.token))
    with db.write() as conn:
        assert not cred_sql.revoke_token(conn, token_id=gone.token_id)
        assert not cred_sql.revoke_token(conn, token_id=10**6)
    with db.read() as conn:
        assert cred_sql.find_grant(conn, token_hash=hash_secret(gone.token)) is None
        grant = cred_sql.find_grant(conn, token_hash=hash_secret(kept.token))
    assert grant is not None
    assert (grant.token_id, grant.secure_url, grant.can_read, grant.can_write) == (
        kept.token_id,
        "shop.com",
        True,
        True,
    )


def test_every_way_of_revoking_moves_the_count_other_processes_poll(db: Database) -> None:
    """The Authenticator keeps verified credentials until this count moves: a revocation path
    that skipped it (the API's, the CLI's or the admin console's) would leave a token usable."""
    by_hash, by_id, by_store = (
        credentials.issue(db, secure_url="shop.com", application=f"a{i}") for i in range(3)
    )
    other_store = credentials.issue(db, secure_url="other.com", application="b")
    with db.read() as conn:
        start = cred_sql.credentials_version(conn)
    with db.write() as conn:
        assert cred_sql.revoke_token(conn, token_hash=hash_secret(by_hash.token))
        assert cred_sql.revoke_token(conn, token_id=by_id.token_id)
        store_id = cred_sql.find_store_id(conn, secure_url="shop.com")
        assert store_id is not None
        assert not cred_sql.revoke_store_token(conn, store_id=store_id, token_id=other_store.token_id)
        assert cred_sql.revoke_store_token(conn, store_id=store_id, token_id=by_store.token_id)
    with db.read() as conn:
        assert cred_sql.credentials_version(conn) == start + 3
        assert cred_sql.find_grant(conn, token_hash=hash_secret(other_store.token)) is not None
