"""The ASGI types, declared once for every module that speaks ASGI (app.py, api/dispatch.py,
api/sandbox.py): a connection's scope, the messages of its two channels, and the two callables
the server hands the application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
