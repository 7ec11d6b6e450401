"""Call a local stand-in of R2's API with requests and with httpx, signed by r2jwt, then
rotate the key and watch the next call recover on its own.

    .venv/bin/python examples/call_r2.py    # after `make dev`

The stand-in answers 200 to a token that verifies (PyJWT, HS256, the secret of the token's kid
among the keys it knows) and 401 otherwise. The keys start as a copy of the DEMO-ONLY keyset
next to this file: never sign real traffic with it.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import jwt
import requests

import r2jwt
from r2jwt.http import HTTPXAuth, RequestsAuth

KEYSET = Path(__file__).resolve().parent / "demo-keyset.json"


def start_stand_in(known: dict[str, str]) -> ThreadingHTTPServer:
    """R2's API, as far as authentication goes, on 127.0.0.1 and a free port. ``known`` maps
    the kids R2 accepts to their secrets; change it to rotate."""

    class R2(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            try:
                kid = jwt.get_unverified_header(token).get("kid")
                claims = jwt.decode(token, known.get(kid, ""), algorithms=["HS256"])
                status, body = 200, {"kid": kid, "claims": claims}
            except jwt.PyJWTError as exc:
                status, body = 401, {"error": type(exc).__name__}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), R2)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    keys = json.loads(KEYSET.read_text())
    known = {key["kid"]: key["secret"] for key in keys["keys"]}
    server = start_stand_in(known)
    host, port = server.server_address[:2]
    r2_url = f"http://{host!s}:{port}/v1/merchants"

    with tempfile.TemporaryDirectory() as tmp:
        # Our store: a private copy of the demo keyset (file:// refuses a shared file).
        store = Path(tmp) / "keys.json"
        write_private(store, keys)

        # One signer per process, shared by every client and thread.
        with r2jwt.Signer(f"file://{store}") as signer:
            # requests: the auth on a session (or auth= per call).
            with requests.Session() as session:
                session.auth = RequestsAuth(signer, mid="123456", country="MX")
                r = session.get(r2_url)
                print("requests      ", r.status_code, r.json())

            # httpx: the same for Client and AsyncClient; for_merchant() per call.
            auth = HTTPXAuth(signer, ttl=300)
            with httpx.Client() as client:
                r = client.get(r2_url, auth=auth.for_merchant("654321", "CO"))
                print("httpx         ", r.status_code, r.json())

                # R2 rotates: it issues a new kid and stops accepting the old one at once; ops
                # store the new key beside the old. The signer has not refreshed yet, so the
                # next call is refused, refreshes the keys, and is retried once with the new kid.
                kid, secret = "example-rotated", secrets.token_urlsafe(32)
                now = datetime.now(UTC).replace(microsecond=0).isoformat()
                keys["keys"].append({"kid": kid, "secret": secret, "not_before": now})
                write_private(store, keys)
                known.clear()
                known[kid] = secret

                r = client.get(r2_url, auth=auth.for_merchant("654321", "CO"))
                refused = [h.status_code for h in r.history]
                print("after rotation", r.status_code, r.json()["kid"], "- refused first:", refused)

    server.shutdown()
    server.server_close()


def write_private(path: Path, document: dict[str, object]) -> None:
    """Replace ``path`` atomically with ``document``, readable by its owner only."""
    part = path.with_suffix(".part")
    part.write_text(json.dumps(document))
    part.chmod(0o600)
    os.replace(part, path)


if __name__ == "__main__":
    main()
