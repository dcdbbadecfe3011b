"""What both local speech services share: an HTTP server that admits a bounded amount of work,
OpenAI-shaped error bodies, and the start-up that verifies the models before opening the port.

Concurrency: one request computes at a time (the model already uses every core it is given);
up to `--queue` more wait for their turn, and beyond that a request is answered 429 with
Retry-After at once, which OneVoice's client retries. Bodies over `--max-body` bytes are a 413
before they are read, and a client that stalls for `--read-timeout` seconds is dropped.
"""

import argparse
import email.parser
import email.policy
import json
import logging
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import models

log = logging.getLogger("local_speech")


class Refusal(Exception):
    """A request answered with an OpenAI-shaped error: {"error": {"message", "type", "code"}}."""

    def __init__(self, status, message, kind="invalid_request_error", code=None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


def arguments(description, port, extra=()):
    p = argparse.ArgumentParser(description=description)
    for flag, kind, default in extra:
        p.add_argument(flag, type=kind, default=default)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=port)
    p.add_argument("--models", type=Path, required=True, help="the assembled models directory")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--queue", type=int, default=8, help="requests waiting beyond the one running")
    p.add_argument("--max-body", type=int, default=64 << 20)
    p.add_argument("--read-timeout", type=float, default=30.0)
    return p.parse_args()


def start(args, needed, load, routes):
    """Verifies `needed` models, loads them (`load(args)` returns the engine), then serves
    `routes` ({(method, path): handler(engine, request) -> (status, content type, bytes)})."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        models.verify(args.models, needed)
    except models.ModelError as e:
        print(f"local speech: cannot start: {e}", file=sys.stderr)
        sys.exit(3)
    engine = load(args)
    gate = threading.BoundedSemaphore(1)
    waiting = threading.BoundedSemaphore(args.queue + 1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = args.read_timeout

        def log_message(self, fmt, *a):  # one line per request, without bodies
            log.info("%s %s", self.command, fmt % a)

        def do_GET(self):
            self._serve()

        def do_POST(self):
            self._serve()

        def _serve(self):
            path = self.path.split("?", 1)[0]
            try:
                handler = routes.get((self.command, path))
                if handler is None:
                    raise Refusal(404, f"no route {self.command} {path}", code="not_found")
                request = Request(self, args.max_body)
                if not waiting.acquire(blocking=False):
                    raise Refusal(429, "busy: too many requests waiting", "rate_limit_exceeded")
                try:
                    with gate:
                        status, ctype, body = handler(engine, request)
                finally:
                    waiting.release()
            except Refusal as r:
                error = {"message": r.message, "type": r.kind, "code": r.code}
                status, ctype = r.status, "application/json"
                body = json.dumps({"error": error}).encode()
            except Exception:  # an engine failure is the server's, not the request's
                log.exception("request failed")
                error = {"message": "the engine failed", "type": "server_error", "code": None}
                status, ctype, body = 500, "application/json", json.dumps({"error": error}).encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if status == 429:
                self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    log.info("serving on %s:%d", args.host, args.port)
    server.serve_forever()


class Request:
    def __init__(self, handler, max_body):
        self.headers = handler.headers
        length = handler.headers.get("Content-Length")
        if handler.command != "POST":
            self.body = b""
            return
        if length is None or not length.isdigit():
            raise Refusal(411, "Content-Length is required")
        if int(length) > max_body:
            handler.close_connection = True
            raise Refusal(413, f"the body is over {max_body} bytes")
        self.body = handler.rfile.read(int(length))

    def json(self):
        try:
            doc = json.loads(self.body)
        except ValueError:
            raise Refusal(400, "the body is not JSON")
        if not isinstance(doc, dict):
            raise Refusal(400, "the body is not a JSON object")
        return doc

    def form(self):
        """multipart/form-data: {name: [str or bytes, ...]} (files as bytes)."""
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            raise Refusal(415, "expected multipart/form-data")
        head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + self.body)
        if not message.is_multipart():
            raise Refusal(400, "malformed multipart body")
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            payload = part.get_payload(decode=True) or b""
            value = payload if part.get_filename() else payload.decode("utf-8", "replace")
            fields.setdefault(name, []).append(value)
        return fields
