"""Customers (issue #18): the customers table and each store's last CustomerID.

A customer belongs to one store, keyed by (store_id, customer_id) like a group. Its 33 stored
fields follow customer_model.STORED; free text never set is NULL (D4). Beside them:
password_hash (D5), total_store_credit (D6), updated_at (D8, seconds since the epoch) and the
filter keys (<filter>_key: the trimmed, case-folded text that the list filters match, D7),
indexed with the store. stores.last_customer_id hands out ids that are never reused (D1).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cartgroups.storage.dialect import ExactDecimal

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_KEYS = ("email", "firstname", "lastname", "country", "state", "city", "phone")


def upgrade() -> None:
    op.add_column("stores", sa.Column("last_customer_id", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "customers",
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(100), nullable=False),
        sa.Column("billing_company", sa.String(255), nullable=True),
        sa.Column("billing_first_name", sa.String(50), nullable=True),
        sa.Column("billing_last_name", sa.String(50), nullable=True),
        sa.Column("billing_address1", sa.String(255), nullable=True),
        sa.Column("billing_address2", sa.String(50), nullable=True),
        sa.Column("billing_city", sa.String(100), nullable=True),
        sa.Column("billing_state", sa.String(100), nullable=True),
        sa.Column("billing_zip_code", sa.String(20), nullable=True),
        sa.Column("billing_country", sa.String(100), nullable=True),
        sa.Column("billing_phone_number", sa.String(50), nullable=True),
        sa.Column("billing_tax_id", sa.String(50), nullable=True),
        sa.Column("shipping_company", sa.String(255), nullable=True),
        sa.Column("shipping_first_name", sa.String(50), nullable=True),
        sa.Column("shipping_last_name", sa.String(50), nullable=True),
        sa.Column("shipping_address1", sa.String(255), nullable=True),
        sa.Column("shipping_address2", sa.String(50), nullable=True),
        sa.Column("shipping_city", sa.String(100), nullable=True),
        sa.Column("shipping_state", sa.String(100), nullable=True),
        sa.Column("shipping_zip_code", sa.String(20), nullable=True),
        sa.Column("shipping_country", sa.String(100), nullable=True),
        sa.Column("shipping_phone_number", sa.String(50), nullable=True),
        sa.Column("shipping_address_type", sa.Integer(), nullable=False),
        sa.Column("customer_group_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("mail_list", sa.Boolean(), nullable=False),
        sa.Column("non_taxable", sa.Boolean(), nullable=False),
        sa.Column("disable_billing_same_as_shipping", sa.Boolean(), nullable=False),
        sa.Column("comments", sa.String(255), nullable=True),
        sa.Column("additional_field1", sa.String(250), nullable=True),
        sa.Column("additional_field2", sa.String(250), nullable=True),
        sa.Column("additional_field3", sa.String(150), nullable=True),
        sa.Column("reset_password", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("total_store_credit", ExactDecimal(), nullable=False, server_default="0.0"),
        sa.Column("updated_at", sa.Float(), nullable=False),
        # customer_model.FILTER_KEY_MAX_LENGTH: case folding makes 100 characters up to 300.
        *(sa.Column(f"{key}_key", sa.String(300), nullable=True) for key in _KEYS),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_customers_store_id_stores", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("store_id", "customer_id", name="pk_customers"),
        sa.UniqueConstraint("store_id", "email_key", name="uq_customers_store_id_email_key"),
    )
    op.create_index("ix_customers_members", "customers", ["store_id", "customer_group_id", "customer_id"])
    op.create_index("ix_customers_updated_at", "customers", ["store_id", "updated_at"])
    for key in _KEYS[1:]:
        op.create_index(f"ix_customers_{key}_key", "customers", ["store_id", f"{key}_key", "customer_id"])


def downgrade() -> None:
    op.drop_table("customers")
    # In place (SQLite 3.35 and later drop a column themselves): batch mode would copy the
    # stores table and drop the old one, and with foreign keys on, that drop deletes every row
    # that refers to a store.
    op.drop_column("stores", "last_customer_id")
