"""A minimal token endpoint: mints realtime tokens server side, for a browser or another process.

    python examples/token_server.py [--port 8787] [--allow-origin http://localhost:3000]

``POST /token`` answers TanStack's token JSON, ``{"provider", "token", "expiresAt"
(ms), "config"}``, which TanStack AI's browser client and ``realtime_client.tokens.fetch_token``
both understand, so the API key never leaves this process:

    client = RealtimeClient(get_token=fetch_token("http://127.0.0.1:8787/token"), adapter=...)

With OPENAI_API_KEY set it mints OpenAI client secrets (OPENAI_BASE_URL, if set, is the API
base, as for the official SDK); otherwise it starts an embedded FakeRealtimeServer, mints its
tokens and prints its WebSocket URL for the client's ``openai_realtime(url=...)``.
It authenticates nobody: before deploying it, put your app's own login check in ``do_POST``.
"""

from __future__ import annotations

import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

from realtime_client import RealtimeError, RealtimeToken


def tanstack_json(token: RealtimeToken) -> dict:
    """The token as TanStack's ``RealtimeToken`` JSON (``expiresAt`` in milliseconds)."""
    expires = None if token.expires_at is None else round(token.expires_at * 1000)
    config = {"model": token.config.model} if token.config.model else {}
    return {"provider": token.provider, "token": token.token, "expiresAt": expires, "config": config}


def make_handler(mint: Callable[[], RealtimeToken], allow_origin: Optional[str]) -> type:
    class TokenHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/token":
                return self.reply(404, {"error": "not found; POST /token"})
            try:
                token = mint()  # a fresh, short-lived token per request
            except RealtimeError as error:  # messages never contain keys or tokens
                return self.reply(502, {"error": str(error)})
            self.reply(200, tanstack_json(token))

        def do_OPTIONS(self) -> None:  # CORS preflight from a browser app on another origin
            self.reply(204, None)

        def reply(self, status: int, body: Any) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")  # tokens must not be cached
            if allow_origin:
                self.send_header("Access-Control-Allow-Origin", allow_origin)
                self.send_header("Access-Control-Allow-Headers", "Content-Type")
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # one line per request, no secrets
            print(f"{self.command} {self.path.split('?')[0]} -> {args[1] if len(args) > 1 else '?'}",
                  flush=True)

    return TokenHandler


def main() -> None:
    parser = argparse.ArgumentParser(description="Mint realtime tokens for browsers and other processes.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    parser.add_argument("--allow-origin", help="a browser origin allowed to fetch tokens (CORS)")
    args = parser.parse_args()
    fake: Any = None
    if os.environ.get("OPENAI_API_KEY"):
        from realtime_client.tokens import openai_realtime_token

        base_url = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
        mint: Callable[[], RealtimeToken] = openai_realtime_token(base_url=base_url, expires_after=600)
        print("minting OpenAI client secrets", flush=True)
    else:
        from realtime_client.testing import FakeRealtimeServer

        fake = FakeRealtimeServer().start()
        mint = fake.get_token
        print(f"minting tokens for the embedded fake server; realtime endpoint: {fake.url}", flush=True)
    httpd = ThreadingHTTPServer((args.host, args.port), make_handler(mint, args.allow_origin))
    print(f"token endpoint: http://{args.host}:{httpd.server_address[1]}/token", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        if fake is not None:
            fake.stop()


if __name__ == "__main__":
    main()
