"""Runs the status table of docs/signing.md against the receivers extracted
from that page, each behind its small HTTP server on 127.0.0.1.

Usage: cases.py --work DIR --python VENV_PYTHON --node NODE --binary SIGNAL_DELIVERY

DIR holds py/receiver.py and node/receiver.mjs (written by extract.py) with
the official libraries installed beside them. Three receivers run: Python,
JavaScript given Node's req.headers, and JavaScript given the headers as sent
(Title-Case keys, repeats as arrays). Each gets the crafted requests below,
sent over raw sockets so that letter case, repeats, framing and bytes are
exactly as written, and real deliveries by `signal-delivery send`.

Every case prints one line, PASS or FAIL. A 500, a missing answer, a receiver
that died, a secret in an answer or a log: each is a FAIL. Exits 1 on any.
Standard library only.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
MAX_BODY_BYTES = 1024 * 1024
TOLERANCE = 300
IO_TIMEOUT = 10


def whsec(key):
    return "whsec_" + base64.b64encode(key).decode()


# Fresh keys per run: nothing here is a real secret, but the leak check
# below looks for these exact values.
KEY_A, KEY_B, KEY_OTHER = (secrets.token_bytes(32) for _ in range(3))
RECEIVER_SECRETS = f"{whsec(KEY_A)} {whsec(KEY_B)}"


def sign(key, msg_id, timestamp, body):
    """Standard Webhooks v1 over the exact bytes, as hmac-client signs."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def now():
    return int(time.time())


def signal(msg_id, **extra):
    fields = {"id": msg_id, "instrument": "EURUSD", "side": "buy", **extra}
    return json.dumps(fields, separators=(",", ":")).encode()


def signed(msg_id, body, key=KEY_A, timestamp=None):
    """The three headers of a genuine request, in lowercase."""
    timestamp = now() if timestamp is None else timestamp
    return [
        ("webhook-id", msg_id),
        ("webhook-timestamp", str(timestamp)),
        ("webhook-signature", sign(key, msg_id, timestamp, body)),
    ]


def recased(headers, change):
    return [(change(name), value) for name, value in headers]


def replace(headers, name, value):
    """`headers` with `name` set to `value`, or removed when `value` is None."""
    kept = [(n, v) for n, v in headers if n != name]
    return kept if value is None else kept + [(name, value)]


def request(headers, body=b"", length="auto", chunked=False, send_body=True):
    """The bytes of one POST /webhook. length: "auto", None (no header) or a raw value."""
    lines = ["POST /webhook HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        payload = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    else:
        if length == "auto":
            lines.append(f"Content-Length: {len(body)}")
        elif length is not None:
            lines.append(f"Content-Length: {length}")
        payload = body
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (payload if send_body else b"")


class Answer(NamedTuple):
    status: int  # 0: no answer
    text: str

    def __str__(self):
        return f"{self.status} {self.text!r}" if self.status else "no answer"


def exchange(port, data, half_close=False):
    """Sends `data`, reads until the server closes, returns its answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as conn:
        try:
            conn.sendall(data)
            if half_close:
                conn.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer before reading everything: read what it said
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    head, _, body = received.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return Answer(0, "")
    return Answer(int(parts[1]), body.decode("utf-8", "replace"))


class Receiver:
    def __init__(self, kind, command, work):
        self.kind = kind
        self.stderr_path = work / f"{kind}.stderr"
        env = {**os.environ, "SIGNAL_HMAC_SECRET": RECEIVER_SECRETS}
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, env=env
            )
        ready, _, _ = select.select([self.process.stdout], [], [], 20)
        line = self.process.stdout.readline().strip() if ready else b""
        if not line.isdigit():
            self.stop()
            raise SystemExit(f"{kind} receiver did not start:\n{self.stderr_path.read_text()}")
        self.port = int(line)
        self.url = f"http://127.0.0.1:{self.port}"

    def send(self, data, half_close=False):
        return exchange(self.port, data, half_close)

    def harness(self, path, method="GET"):
        req = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=IO_TIMEOUT) as response:
            return json.loads(response.read()) if method == "GET" else None

    def state(self):
        return self.harness("/_harness/state")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Run:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, receiver, label, ok, detail):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{'PASS' if ok else 'FAIL'}  {receiver.kind:<8}  {label}: {detail}", flush=True)
        return ok

    def expect(self, receiver, label, data, status, text=None, half_close=False):
        """Sends one request and checks the status, and the text when given."""
        got = receiver.send(data, half_close)
        ok = got.status == status and (text is None or got.text == text)
        wanted = f"{status}" + (f" {text!r}" if text is not None else "")
        return self.check(receiver, label, ok, f"{got}" + ("" if ok else f", expected {wanted}"))

    def acted_once(self, receiver, label, msg_id):
        count = receiver.state()["acted"].count(msg_id)
        return self.check(receiver, label, count == 1, f"acted on {msg_id} {count} time(s), expected 1")


class Requests:
    """Builds the crafted requests, each with a fresh id."""

    def __init__(self):
        self.count = 0

    def next_id(self):
        self.count += 1
        return f"case-{self.count:02}"

    def valid(self, key=KEY_A):
        msg_id = self.next_id()
        body = signal(msg_id)
        return request(signed(msg_id, body, key), body)

    def with_header(self, name, value):
        """A genuine request with one header replaced, or removed (None)."""
        msg_id = self.next_id()
        body = signal(msg_id)
        return request(replace(signed(msg_id, body), name, value), body)

    def several_signatures(self):
        msg_id = self.next_id()
        body = signal(msg_id)
        timestamp = now()
        good = sign(KEY_A, msg_id, timestamp, body)
        wrong = sign(KEY_OTHER, msg_id, timestamp, body)
        headers = replace(
            signed(msg_id, body, timestamp=timestamp), "webhook-signature", f"{wrong} v1a,AAAA {good}"
        )
        return request(headers, body)

    def tampered(self):
        msg_id = self.next_id()
        return request(signed(msg_id, signal(msg_id)), signal(msg_id, side="sell"))

    def shifted(self, seconds):
        msg_id = self.next_id()
        body = signal(msg_id)
        return request(signed(msg_id, body, timestamp=now() + seconds), body)

    def timestamp_text(self, suffix):
        """A timestamp header of now + suffix, signed over now alone."""
        msg_id = self.next_id()
        body = signal(msg_id)
        timestamp = now()
        headers = signed(msg_id, body, timestamp=timestamp)
        return request(replace(headers, "webhook-timestamp", f"{timestamp}{suffix}"), body)

    def with_id(self, msg_id):
        body = signal(msg_id)
        return request(signed(msg_id, body), body)

    def repeated_id(self, second_name):
        msg_id = self.next_id()
        body = signal(msg_id)
        return request(signed(msg_id, body) + [(second_name, self.next_id())], body)

    def signed_body(self, body, **framing):
        return request(signed(self.next_id(), body), body, **framing)

    def at_the_limit(self):
        msg_id = self.next_id()
        padding = MAX_BODY_BYTES - len(signal(msg_id, pad=""))
        body = signal(msg_id, pad="x" * padding)
        assert len(body) == MAX_BODY_BYTES
        return request(signed(msg_id, body), body)

    def declared_only(self, length):
        """Headers announcing `length`, and no body: a receiver must answer without waiting for it."""
        msg_id = self.next_id()
        body = signal(msg_id)
        return request(signed(msg_id, body), body, length=length, send_body=False)

    def chunked(self, body=None):
        msg_id = self.next_id()
        body = signal(msg_id) if body is None else body
        return request(signed(msg_id, body), body, chunked=True)

    def chunked_unfinished(self, announced, sent):
        """A chunk announced as `announced` bytes, of which only `sent` are sent before reading the answer."""
        msg_id = self.next_id()
        head = request(signed(msg_id, b""), b"", chunked=True)
        head = head[: head.index(b"\r\n\r\n") + 4]
        return head + f"{announced:x}\r\n".encode() + b"x" * sent


REFUSED = "webhook verification failed"
NOT_OBJECT = "body is not a JSON object"
TOO_LARGE = f"body over {MAX_BODY_BYTES} bytes"
# Node's own HTTP parser answers 400 to these before the receiver is called.
NODE_PARSER = {"python": 413, "node": 400, "node-raw": 400}


def single_cases(kind):
    """(label, request, status, text or None) for one receiver: one request each."""
    r = Requests()
    over = b'{"id":"x","pad":"' + b"x" * MAX_BODY_BYTES + b'"}'
    cases = [
        (
            "several signatures, the last one valid (wrong key, v1a, right key)",
            r.several_signatures(),
            200,
            "ok",
        ),
        ("signed with the receiver's second key (rotation)", r.valid(KEY_B), 200, "ok"),
        ("signed with a key the receiver does not have", r.valid(KEY_OTHER), 401, REFUSED),
        ("body changed after signing", r.tampered(), 401, REFUSED),
        ("webhook-signature without a comma", r.with_header("webhook-signature", "v1" + "A" * 44), 400, None),
        ("webhook-signature v1, with bad base64", r.with_header("webhook-signature", "v1,abc"), 400, None),
        (
            "webhook-signature with 17 entries",
            r.with_header("webhook-signature", " ".join(["v1,AAAA"] * 17)),
            400,
            None,
        ),
        ("webhook-signature empty", r.with_header("webhook-signature", ""), 400, None),
        (
            f"stale timestamp ({TOLERANCE + 60} s old), valid signature",
            r.shifted(-TOLERANCE - 60),
            401,
            REFUSED,
        ),
        (f"timestamp {TOLERANCE + 60} s ahead, valid signature", r.shifted(TOLERANCE + 60), 401, REFUSED),
        ("non-numeric timestamp", r.with_header("webhook-timestamp", "yesterday"), 400, None),
        ("timestamp with trailing letters, signed over its digits", r.timestamp_text("abc"), 400, None),
        ("fractional timestamp, signed over its integer part", r.timestamp_text(".9"), 400, None),
        ("webhook-id missing", r.with_header("webhook-id", None), 400, None),
        ("webhook-timestamp missing", r.with_header("webhook-timestamp", None), 400, None),
        ("webhook-signature missing", r.with_header("webhook-signature", None), 400, None),
        ("webhook-id with a character outside A-Z a-z 0-9 _ -, signed", r.with_id("case.dot"), 400, None),
        ("webhook-id of 255 characters, signed", r.with_id("i" * 255), 200, "ok"),
        ("webhook-id of 256 characters, signed", r.with_id("i" * 256), 400, None),
        ("webhook-id sent twice", r.repeated_id("webhook-id"), 400, None),
        ("webhook-id sent twice, in two letter cases", r.repeated_id("Webhook-Id"), 400, None),
        (
            "body not UTF-8, valid signature over its bytes",
            r.signed_body(b'{"id":"x","n":"\xff\xfe"}'),
            400,
            "body is not UTF-8",
        ),
        (
            "body with a UTF-8-encoded surrogate, valid signature",
            r.signed_body(b'{"id":"x","n":"\xed\xa0\x80"}'),
            400,
            "body is not UTF-8",
        ),
        ("body not JSON, valid signature", r.signed_body(b"buy EURUSD"), 400, NOT_OBJECT),
        ("body a JSON array, valid signature", r.signed_body(b'[{"id":"x"}]'), 400, NOT_OBJECT),
        (
            "body JSON nested 500,000 deep, valid signature",
            r.signed_body(b"[" * 500_000 + b"]" * 500_000),
            400,
            NOT_OBJECT,
        ),
        (
            "body with a UTF-8 BOM before the JSON, valid signature",
            r.signed_body(b"\xef\xbb\xbf" + signal("x")),
            400,
            NOT_OBJECT,
        ),
        ("empty body, valid signature", r.signed_body(b""), 400, NOT_OBJECT),
        (
            "no Content-Length, no body, valid signature over nothing",
            r.signed_body(b"", length=None),
            400,
            None,
        ),
        ("body of exactly 1 MiB (1,048,576 bytes), valid signature", r.at_the_limit(), 200, "ok"),
        (
            "Content-Length 1,048,577, answered before the body is sent",
            r.declared_only(MAX_BODY_BYTES + 1),
            413,
            TOO_LARGE,
        ),
        ("Content-Length of 30 digits", r.declared_only("9" * 30), NODE_PARSER[kind], None),
        ("Content-Length not a number", r.declared_only("abc"), 400, None),
    ]
    if kind != "python":  # only Node reads bodies without Content-Length; the Python example requires it
        cases += [
            ("chunked body over 1 MiB, no Content-Length", r.chunked(over), 413, TOO_LARGE),
            (
                "chunked body of 4 MiB, the client waits for the answer after 1.5 MiB",
                r.chunked_unfinished(4 * MAX_BODY_BYTES, MAX_BODY_BYTES * 3 // 2),
                413,
                TOO_LARGE,
            ),
            ("chunked body, valid signature", r.chunked(), 200, "ok"),
        ]
    return cases


def case_redelivery(run, receiver, label, first_case, second_case, msg_id):
    body = signal(msg_id)
    run.expect(
        receiver,
        f"{label}: first delivery",
        request(recased(signed(msg_id, body), first_case), body),
        200,
        "ok",
    )
    # A retry as the sender makes it: same id and body, new timestamp and signature.
    later = signed(msg_id, body, timestamp=now() + 1)
    run.expect(receiver, f"{label}: redelivery", request(recased(later, second_case), body), 200, "duplicate")
    run.acted_once(receiver, f"{label}: acted on once", msg_id)


def case_failed_act(run, receiver):
    msg_id = "act-fails"
    failing = signal(msg_id, harness="fail")
    run.expect(
        receiver,
        "act raises: the sender is told to retry",
        request(signed(msg_id, failing), failing),
        503,
        None,
    )
    body = signal(msg_id)
    run.expect(receiver, "act raises: the retry is processed", request(signed(msg_id, body), body), 200, "ok")
    run.acted_once(receiver, "act raises: acted on once, by the retry", msg_id)


def case_concurrent(run, receiver):
    msg_id = "act-slow"
    slow = signal(msg_id, harness="block")
    first = {}
    thread = threading.Thread(
        target=lambda: first.update(answer=receiver.send(request(signed(msg_id, slow), slow)))
    )
    thread.start()
    deadline = time.monotonic() + IO_TIMEOUT
    while msg_id not in receiver.state()["blocked"] and time.monotonic() < deadline:
        time.sleep(0.01)  # a real server in another process: there is no clock to drive
    body = signal(msg_id)
    run.expect(
        receiver, "same id while the first is processed", request(signed(msg_id, body), body), 409, None
    )
    receiver.harness("/_harness/release", method="POST")
    thread.join(IO_TIMEOUT)
    answer = first.get("answer", Answer(0, ""))
    run.check(receiver, "same id while the first is processed: the first", answer == (200, "ok"), f"{answer}")
    run.expect(receiver, "same id once processed", request(signed(msg_id, body), body), 200, "duplicate")
    run.acted_once(receiver, "same id, concurrently: acted on once", msg_id)


def send_with_binary(binary, receiver, secret, lines):
    """Runs `signal-delivery send` on NDJSON lines; returns (exit code, outcomes)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SIGNAL_SERVER_URL": f"{receiver.url}/webhook",
        "SIGNAL_HMAC_SECRET": secret,
        "OPS_ALERTS_DISABLED": "true",
        "MAX_RETRIES": "0",
        "RUST_LOG": "warn",
    }
    done = subprocess.run(
        [binary, "send"], input="\n".join(lines) + "\n", capture_output=True, text=True, env=env, timeout=60
    )
    outcomes = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, outcomes, done.stderr


def cases_with_binary(run, receiver, binary):
    def answers_since(count):
        return [tuple(answer) for answer in receiver.state()["answers"][count:]]

    def outcome_line(outcomes):
        return " ".join(json.dumps(o, separators=(",", ":")) for o in outcomes)

    ids = ["sd-1", "sd-2", "sd-3"]
    lines = [signal(msg_id, price=1.1).decode() for msg_id in ids]
    before = len(receiver.state()["answers"])
    code, outcomes, stderr = send_with_binary(binary, receiver, whsec(KEY_A), lines)
    delivered = [o.get("outcome") == "delivered" and o.get("status") == 200 for o in outcomes]
    run.check(
        receiver,
        "signal-delivery send, 3 signals",
        code == 0 and len(outcomes) == 3 and all(delivered) and answers_since(before) == [(200, "ok")] * 3,
        f"exit {code}, {outcome_line(outcomes)}, receiver answered {answers_since(before)}"
        + ("" if code == 0 else f"\n{stderr}"),
    )
    for msg_id in ids:
        run.acted_once(receiver, f"signal-delivery send: {msg_id} acted on once", msg_id)

    before = len(receiver.state()["answers"])
    code, outcomes, stderr = send_with_binary(binary, receiver, whsec(KEY_A), lines[:1])
    run.check(
        receiver,
        "signal-delivery send, sd-1 again (a redelivery)",
        code == 0
        and [o.get("outcome") for o in outcomes] == ["delivered"]
        and answers_since(before) == [(200, "duplicate")],
        f"exit {code}, {outcome_line(outcomes)}, receiver answered {answers_since(before)}",
    )
    run.acted_once(receiver, "signal-delivery send: sd-1 still acted on once", "sd-1")

    before = len(receiver.state()["answers"])
    rotating = f"{whsec(KEY_OTHER)} {whsec(KEY_B)}"
    code, outcomes, stderr = send_with_binary(binary, receiver, rotating, [signal("sd-rotation").decode()])
    run.check(
        receiver,
        "signal-delivery send with two secrets, the second the receiver's",
        code == 0
        and [o.get("outcome") for o in outcomes] == ["delivered"]
        and answers_since(before) == [(200, "ok")],
        f"exit {code}, {outcome_line(outcomes)}, receiver answered {answers_since(before)}",
    )

    code, outcomes, stderr = send_with_binary(
        binary, receiver, whsec(KEY_OTHER), [signal("sd-wrong-key").decode()]
    )
    refused = [(o.get("outcome"), o.get("reason"), o.get("status")) for o in outcomes]
    run.check(
        receiver,
        "signal-delivery send with a secret the receiver lacks",
        code == 1 and refused == [("failed", "signature_rejected", 401)],
        f"exit {code}, {outcome_line(outcomes)}",
    )


def check_health(run, receiver):
    alive = receiver.process.poll() is None
    run.check(
        receiver,
        "still running after every case",
        alive,
        "alive" if alive else f"exited {receiver.process.returncode}",
    )
    log = receiver.stderr_path.read_text(errors="replace")
    raised = "HARNESS:" in log
    run.check(
        receiver,
        "never raised out of receive()",
        not raised,
        "see " + str(receiver.stderr_path) if raised else "no 500 given",
    )
    answers = json.dumps(receiver.state()["answers"]) if alive else ""
    keys = [base64.b64encode(k).decode() for k in (KEY_A, KEY_B, KEY_OTHER)]
    leaked = [n for n, k in zip("ABO", keys, strict=True) if k in log or k in answers]
    run.check(
        receiver,
        "no secret in its answers or its log",
        not leaked,
        f"keys found: {leaked}" if leaked else "none found",
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--python", required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--binary", required=True)
    args = parser.parse_args()

    started = time.monotonic()
    commands = {
        "python": [args.python, str(HERE / "serve_python.py"), str(args.work / "py")],
        "node": [args.node, str(HERE / "serve_node.mjs"), str(args.work / "node" / "receiver.mjs"), "node"],
        "node-raw": [
            args.node,
            str(HERE / "serve_node.mjs"),
            str(args.work / "node" / "receiver.mjs"),
            "raw",
        ],
    }
    run = Run()
    receivers = []
    try:
        for kind, command in commands.items():
            receivers.append(Receiver(kind, command, args.work))
        for receiver in receivers:
            print(f"\n-- {receiver.kind} receiver on {receiver.url}", flush=True)
            case_redelivery(run, receiver, "valid, lowercase headers", str.lower, str.lower, "case-lower")
            case_redelivery(run, receiver, "valid, Title-Case headers", str.title, str.upper, "case-title")
            for label, data, status, text in single_cases(receiver.kind):
                run.expect(receiver, label, data, status, text)
            run.expect(
                receiver,
                "body shorter than its Content-Length, then the client half-closes",
                request(signed("case-short", signal("case-short")), b'{"id":', length=200),
                400,
                None,
                half_close=True,
            )
            case_failed_act(run, receiver)
            case_concurrent(run, receiver)
            cases_with_binary(run, receiver, args.binary)
            check_health(run, receiver)
    finally:
        for receiver in receivers:
            receiver.stop()
    print(f"\n({time.monotonic() - started:.1f} s)")
    print(f"receivers: {run.passed} passed, {run.failed} failed")
    sys.exit(1 if run.failed else 0)


if __name__ == "__main__":
    main()
