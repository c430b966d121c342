#!/usr/bin/env python3
"""A webhook receiver for local runs: answers 204 to every POST (so endpoint verification
passes) and prints each webhook's id, type and body; with a secret (`--secret whsec_…`,
or WEBHOOK_SECRET) it also checks the Standard Webhooks signature and says whether it
verifies. Standard library only.

    python3 scripts/webhook-receiver.py --port 8099 [--secret whsec_…] [--log FILE]
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import time


def verifies(secret: str, headers, body: bytes) -> bool:
    """The Standard Webhooks check: HMAC-SHA256 over "{id}.{timestamp}.{body}", keyed with
    the base64 part of the secret; any of the space-separated v1 signatures may match."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > 300:
        return False
    signed = f"{msg_id}.{ts}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, sig.removeprefix("v1,"))
        for sig in headers["webhook-signature"].split()
        if sig.startswith("v1,")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--secret", default=os.environ.get("WEBHOOK_SECRET"))
    parser.add_argument("--log", help="also append each webhook, as a JSON line, to this file")
    args = parser.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(204)
            self.end_headers()
            kind = json.loads(body).get("type", "?")
            signed = ""
            if args.secret:
                signed = " (signature verifies)" if verifies(args.secret, self.headers, body) else " (BAD SIGNATURE)"
            print(f"{self.headers.get('webhook-id')} {kind}{signed}\n  {body.decode()}", flush=True)
            if args.log:
                with open(args.log, "a") as log:
                    record = {"headers": dict(self.headers), "body": body.decode()}
                    log.write(json.dumps(record) + "\n")

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"receiving webhooks on http://127.0.0.1:{args.port}/webhooks", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
