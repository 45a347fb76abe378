"""Receives the notifier's webhooks and checks each signature before trusting a byte of
the body. Standard library only.

    WEBHOOK_SECRET=<the webhook's secret> python webhook_receiver.py 8080

Every delivery carries `X-Tickets-Signature: t=<unix seconds>,v1=<hex>`: `v1` is
HMAC-SHA256 with the webhook's secret over `"<t>.<raw body>"`. While a rotated secret's
overlap lasts there is one `v1=` per secret; accept any that matches. A timestamp further
than five minutes from this clock is refused, so an old delivery cannot be replayed.
"""

import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 300


def verify(
    secret: str,
    header: str,
    body: bytes,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    pairs = [item.strip().split("=", 1) for item in header.split(",") if "=" in item]
    stamps = [value for name, value in pairs if name == "t"]
    signatures = [value.encode() for name, value in pairs if name == "v1"]
    if len(stamps) != 1 or not (stamps[0].isascii() and stamps[0].isdigit()):
        return False
    if abs((time.time() if now is None else now) - int(stamps[0])) > tolerance:
        return False
    message = stamps[0].encode() + b"." + body
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest().encode()
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


class Receiver(BaseHTTPRequestHandler):
    secret = os.environ.get("WEBHOOK_SECRET", "")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not verify(self.secret, self.headers.get("X-Tickets-Signature", ""), body):
            print("refused: bad signature", flush=True)
            self.send_response(401)
            self.end_headers()
            return
        delivery = json.loads(body)  # {"eventId", "type", "occurredAt", "data": the event}
        # A delivery may come again (retries); deduplicate on delivery["eventId"].
        print("accepted", delivery["type"], delivery["data"]["ticketId"], flush=True)
        self.send_response(204)
        self.end_headers()


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    print("listening on port", server.server_address[1], flush=True)
    server.serve_forever()
