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
