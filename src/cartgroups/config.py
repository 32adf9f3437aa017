"""One typed settings object, read from ``CARTGROUPS_*`` environment variables.

Command-line flags override the environment; `cartgroups serve` passes its
settings to worker processes through the same variables.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./cartgroups.db"

LogLevel = Literal["debug", "info", "warning", "error", "critical"]


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
    max_bulk_items: int = Field(
        1000, ge=1, le=100_000, description="Most items accepted in one bulk PUT; more gets 400."
    )
    auth_cache_seconds: float = Field(
        0.5,
        ge=0,
        le=1.0,
        description="How long a process may reuse a verified credential before asking the database "
        "again (0 disables). At most 1 s, so a revoked token stops working within 1 s everywhere.",
    )
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL",
        description="SQLite durability: NORMAL (WAL) survives a process crash, FULL also power loss.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value
