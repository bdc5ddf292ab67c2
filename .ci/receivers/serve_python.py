"""Serves the Python receiver extracted from docs/signing.md on 127.0.0.1.

Usage: serve_python.py DIR   (DIR holds receiver.py; SIGNAL_HMAC_SECRET is set)

Prints the port on the first line of stdout. POST /webhook goes to
receiver.receive(); the harness reads GET /_harness/state (what was acted on,
every answer given, which ids are blocked in act) and POSTs
/_harness/release to let blocked calls finish (once per run). A signal whose "harness" field
is "fail" makes act raise; "block" makes it wait for the release (10 s at most).
"""

import json
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, sys.argv[1])
import receiver  # noqa: E402  (the path is only known at run time)

LOCK = threading.Lock()
ACTED = []
ANSWERS = []
BLOCKED = set()
RELEASE = threading.Event()


def act(signal):
    mode = signal.get("harness")
    if mode == "fail":
        raise RuntimeError("act failed on purpose (harness)")
    if mode == "block":
        with LOCK:
            BLOCKED.add(signal.get("id"))
        RELEASE.wait(10)
        with LOCK:
            BLOCKED.discard(signal.get("id"))
    with LOCK:
        ACTED.append(signal.get("id"))


class Handler(BaseHTTPRequestHandler):
    # One request per connection: a body left unread after a refusal can
    # never be taken for the next request.
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        if self.path != "/_harness/state":
            return self.answer(404, "not found")
        with LOCK:
            state = {"acted": ACTED, "answers": ANSWERS, "blocked": sorted(BLOCKED)}
            self.answer(200, json.dumps(state), "application/json")

    def do_POST(self):
        if self.path == "/_harness/release":
            RELEASE.set()
            return self.answer(200, "released")
        try:
            status, text = receiver.receive(self.headers.items(), self.rfile, act)
        except BaseException:  # noqa: BLE001 - the harness must see it as a failure, not a hang
            print("HARNESS: receive() raised:\n" + traceback.format_exc(), file=sys.stderr, flush=True)
            status, text = 500, "receive() raised"
        with LOCK:
            ANSWERS.append([status, text])
        self.answer(status, text)

    def answer(self, status, text, content_type="text/plain; charset=utf-8"):
        payload = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # the harness prints every case and its answer itself


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
