"""One typed settings object, read from ``CARTGROUPS_*`` environment variables.

Command-line flags override the environment; `cartgroups serve` passes its
settings to worker processes through the same variables.
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cartgroups.logs import LogFormat
from cartgroups.service.rate_limit import parse_rate

DEFAULT_DATABASE_URL = "sqlite:///./cartgroups.db"

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


def check_proxies(value: str) -> str:
    """forwarded_allow_ips with spaces and empty items removed: ``*``, or IP addresses and
    networks. Anything else is refused (uvicorn would take a typo for a name that no peer has,
    and silently believe no proxy)."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    if items == ["*"]:
        return "*"
    if not items:
        raise ValueError("name at least one proxy address, or * for every peer")
    for item in items:
        try:
            ipaddress.ip_network(item) if "/" in item else ipaddress.ip_address(item)
        except ValueError:
            raise ValueError(
                f"{item!r} is not an IP address or network; give proxies as addresses or networks "
                "separated by commas, such as 127.0.0.1,10.0.0.0/8, or * for every peer"
            ) from None
    return ",".join(items)


class Settings(BaseSettings):
    """Everything the server can be told. Each field maps to ``CARTGROUPS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CARTGROUPS_", extra="ignore", frozen=True)

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy-style URL: sqlite:///path/to/file.db (default ./cartgroups.db) "
        "or postgresql://user@host:5432/dbname. A bare file path means a SQLite file.",
    )
    host: str = Field("127.0.0.1", description="Interface to bind; 0.0.0.0 to accept remote clients.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on.")
    workers: int = Field(1, ge=1, le=64, description="Number of server processes.")
    log_level: LogLevel = Field(
        "info", description="Server log level; info writes one access line per request."
    )
    log_format: LogFormat = Field(
        "text",
        description="Server log format: text (one plain line per record) or json (one JSON object per "
        "line: time in ISO 8601 UTC, level, logger, message or the access fields; see docs/operations.md).",
    )
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest accepted request body in bytes (default 1 MiB); larger gets 413.",
    )
    body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Longest time a client may take to send a request body once its headers are in; "
        "slower gets 408 and the connection is closed (a slow client cannot hold a request open).",
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Longest time a connection may take to send a complete request head (request line "
        "and headers), counted from its opening for the first request and from a head's first bytes "
        "for later ones; slower is closed (idle and slowloris connections cannot pile up).",
    )
    keep_alive_seconds: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="How long an idle connection is kept open after a response for the client's next "
        "request.",
    )
    max_connections: int = Field(
        1000,
        ge=1,
        le=1_000_000,
        description="Most open client connections per server process (lowered to what the process's "
        "open-file limit allows); past it a new connection gets 503 and is closed, and a warning is "
        "logged (at most one a minute).",
    )
    max_header_bytes: int = Field(
        64 * 1024,
        ge=4096,
        le=16 * 1024 * 1024,
        description="Largest accepted request head (request line and headers) in bytes (default 64 KiB); "
        "larger gets 431 and the connection is closed.",
    )
    max_bulk_items: int = Field(
        1000, ge=1, le=100_000, description="Most items accepted in one bulk PUT; more gets 400."
    )
    auth_cache_seconds: float = Field(
        0.5,
        ge=0,
        le=1.0,
        description="How often a process checks the database for revoked tokens; until a revocation, "
        "it reuses credentials it has verified (0 disables the reuse). At most 1 s, so a revoked "
        "token stops working within 1 s everywhere.",
    )
    read_cache: bool = Field(
        True,
        description="On SQLite, keep answers of API reads (a group, a count, a list page) in each "
        "process until any process commits a change, checked before every answer.",
    )
    read_cache_mb: int = Field(
        32,
        ge=1,
        le=65_536,
        description="Most memory, in MiB, each process gives the read cache; over it, the oldest "
        "quarter of the answers is forgotten.",
    )
    pg_pool_size: int = Field(
        10,
        ge=1,
        le=1000,
        description="On PostgreSQL, most connections each server process opens for API requests "
        "(a pool: requests of one process wait for the database side by side, up to this many).",
    )
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL",
        description="SQLite durability: NORMAL (WAL) survives a process crash, FULL also power loss.",
    )

    price_level_1_to_10: bool = Field(
        False,
        description="Accept only PriceLevel 1 to 10, the levels of the store's UI (an absent one on "
        "create is then 1). Off by default: like the live service, any 32-bit integer is stored as "
        "given, and an absent one is 0 (the official C# client sends 0 when it is unset).",
    )

    safe_group_delete: bool = Field(
        False,
        description="Refuse to delete a customer group that still has customers: DELETE "
        "/CustomerGroups/{id} then answers 400 naming how many, and nothing changes. Off by "
        "default: like the live service, the group goes and its customers are put in no group (0).",
    )
    store_timezone: str = Field(
        "UTC",
        description="The time zone the Customers filters lastupdatestart and lastupdateend are read "
        "in (an IANA name such as America/New_York; 3dcart's own times are Eastern).",
    )

    rate_limit: str = Field(
        "off",
        description="Requests per store and application: off (default); 3dcart (3dcart's leaky "
        "bucket, 50 requests draining 2 per second); or CAPACITY/PER_SECOND such as 100/5. "
        "Over the limit: 429 with Retry-After. Held in the database, so shared by every process.",
    )

    @field_validator("store_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as UTC or America/New_York"
            ) from None
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        spec = value.strip().lower()
        parse_rate(spec)  # ValueError names the accepted forms
        return spec

    proxy_headers: bool = Field(
        False,
        description="Behind a reverse proxy: believe X-Forwarded-Proto and X-Forwarded-For when the "
        "connection comes from an address in forwarded_allow_ips, so that a request the proxy took "
        "over https counts as https (the admin session cookie is Secure) and the client address is "
        "the one the proxy reports (the admin console's brake on failed sign-ins). Off by default: a "
        "server that clients can reach directly then never believes such headers.",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1,::1",
        description="With proxy_headers: the proxies to believe, a comma-separated list of IP "
        "addresses and networks (10.0.0.0/8); * believes every peer, only for a server that nothing "
        "but the proxy can reach.",
    )

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str) -> str:
        return check_proxies(value)

    audit_retention_days: int = Field(
        90,
        ge=0,
        le=36_500,
        description="Days the audit log keeps each change; older entries are pruned by the server "
        "(at start and hourly) and by `cartgroups audit prune`. 0 keeps them forever.",
    )

    sandbox: bool = Field(
        False,
        description="Turn on the sandbox controls under /_cartgroups/ (resets, seeding, export, fault "
        "injection, request journal, throttling switch); for test servers only.",
    )
    sandbox_token: str | None = Field(
        None,
        min_length=16,
        max_length=200,
        description="Admin token of the sandbox controls (Authorization: Bearer <token>), 16 to 200 "
        "printable characters. Unset: `cartgroups serve --sandbox` makes one and prints it.",
    )
    sandbox_journal_size: int = Field(
        100, ge=1, le=10_000, description="Requests kept in each store's sandbox journal."
    )

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("sandbox_token")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and not all("!" <= char <= "~" for char in value):
            raise ValueError("use printable ASCII characters only, without spaces")
        return value

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value
