"""The baseline: a bare ASGI app (no routing, no auth, no database) that answers every request
with the same bytes and headers as a cartgroups GET-by-id response.

It runs under the same server as cartgroups (uvicorn, the same worker count, the same uvicorn
options as ``cartgroups serve``: loop and http "auto", which pick uvloop and httptools; no
access log; no server header; cartgroups' logging config), so the ratio cartgroups / baseline
is what cartgroups itself costs on top of the server.

    python benchmarks/baseline_app.py --port 8123 --workers 2 --body-file body.bin
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Message = MutableMapping[str, Any]
BODY_ENV = "CARTGROUPS_BENCH_BASELINE_BODY_FILE"


def create_app() -> Callable[..., Awaitable[None]]:
    body = Path(os.environ[BODY_ENV]).read_bytes()
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"access-control-allow-origin", b"*"),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    reply = {"type": "http.response.body", "body": body}

    async def app(
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http":
            await send(start)
            await send(reply)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    return app


def main() -> None:
    import uvicorn

    from cartgroups.cli.serve import UVICORN_OPTIONS
    from cartgroups.logs import logging_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    os.environ[BODY_ENV] = str(Path(args.body_file).resolve())
    # The same uvicorn.run options as `cartgroups serve` (src/cartgroups/cli/serve.py).
    uvicorn.run(
        "baseline_app:create_app",
        factory=True,
        app_dir=str(Path(__file__).resolve().parent),
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_config=logging_config(args.log_level),
        log_level=args.log_level,
        **UVICORN_OPTIONS,
    )


if __name__ == "__main__":
    sys.exit(main())
