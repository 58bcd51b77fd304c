"""A small loopback HTTP server that the fake third-party APIs build on.

`FakeServer` runs `http.server.ThreadingHTTPServer` on 127.0.0.1 with an ephemeral port in a
background thread. Use it as a context manager (`with FakeX() as fake: fake.url`) or call
`start()` / `stop()`.

- Every request is recorded in `server.requests` as a `RecordedRequest` (method, path, query,
  headers, body bytes and parsed JSON), including requests answered by a scripted fault.
- `server.fail_next(status=429, headers={"Retry-After": "1"}, body=None, times=1, path_prefix=None)`
  queues a fault: the next `times` matching requests get that response instead of the normal one.
  With `body=None` the subclass's `error_body(status)` supplies the provider's own error JSON.
- Subclasses declare routes with the `@route("GET", r"/v1/(?P<resource>\\w+)")` decorator; a handler
  receives the request and the regex groups and returns `Response(status, body, headers)` (a dict or
  list body is sent as JSON).
- A handler that raises answers 500 and appends the traceback to `server.errors`, so a test can
  assert the fake itself did not crash (`assert not fake.errors`).

Handlers run one at a time under `server.lock`, so a fake's in-memory state needs no further locking.
"""

from __future__ import annotations

import json
import re
import threading
import time
import traceback
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeServer", "RecordedRequest", "Response", "Fault", "route", "json_body"]


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query string, still percent-encoded
    query: dict[str, str]  # last value of each parameter
    query_lists: dict[str, list[str]]  # every value of each parameter, in order
    headers: Message  # case-insensitive: req.headers["authorization"]
    body: bytes
    faulted: bool = False  # answered by a scripted fault
    at: float = field(default_factory=time.time)  # when it arrived (time.time())

    @property
    def json(self) -> Any:
        """The body parsed as JSON, or None when it is empty or not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def target(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict / list -> JSON; str -> UTF-8 text; bytes as is; None -> empty
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, (dict, list)):
            data = json.dumps(self.body).encode()
            headers.setdefault("Content-Type", "application/json;charset=utf-8")
        elif isinstance(self.body, str):
            data = self.body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        else:
            data = self.body or b""
        return data, headers


@dataclass
class Fault:
    status: int
    headers: dict[str, str]
    body: Any
    times: int
    path_prefix: str | None
    method: str | None
    delay: float

    def matches(self, req: RecordedRequest) -> bool:
        return (self.path_prefix is None or req.path.startswith(self.path_prefix)) and (
            self.method is None or req.method == self.method.upper()
        )


def route(method: str, pattern: str) -> Callable:
    """Mark a FakeServer method as the handler of `method` requests whose path fully matches `pattern`."""

    def mark(fn):
        fn._route = (method.upper(), re.compile(pattern))
        return fn

    return mark


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_HTTPServer"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self):
        split = urlsplit(self.path)
        query_lists = parse_qs(split.query, keep_blank_values=True)
        req = RecordedRequest(
            method=self.command,
            path=split.path,
            query={k: v[-1] for k, v in query_lists.items()},
            query_lists=query_lists,
            headers=self.headers,
            body=self._read_body(),
        )
        resp = self.server.fake._dispatch(req)
        data, headers = resp.encode()
        self.send_response(resp.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: "FakeServer"


class FakeServer:
    """Base class: a threaded loopback HTTP server with request recording, scripted faults and routing."""

    def __init__(self):
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = []
        for name in dir(type(self)):
            fn = getattr(type(self), name, None)
            if callable(fn) and hasattr(fn, "_route"):
                self._routes.append((*fn._route, getattr(self, name)))

    # --- lifecycle ---
    def start(self) -> "FakeServer":
        if self._httpd is None:
            self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
            self._httpd.fake = self
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"{type(self).__name__}-server", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not started; use it as a context manager")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. http://127.0.0.1:40123."""
        return f"http://127.0.0.1:{self.port}"

    # --- faults and inspection ---
    def fail_next(self, status: int = 429, headers: dict[str, str] | None = None, body: Any = None, times: int = 1,
                  path_prefix: str | None = None, method: str | None = None, delay: float = 0.0) -> Fault:
        """Answer the next `times` requests (matching `path_prefix` / `method` if given) with this response.

        `body=None` uses the provider's error body for `status` (see `error_body`). `delay` seconds are
        slept before answering (to exercise client timeouts). Faults are used in the order queued.
        """
        fault = Fault(status, dict(headers or {}), body, times, path_prefix, method, delay)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[RecordedRequest]:
        return [r for r in self.requests
                if r.path.startswith(path_prefix) and (method is None or r.method == method.upper())]

    # --- hooks for subclasses ---
    def error_body(self, status: int) -> Any:
        """The provider's error body for a scripted fault with no explicit body."""
        return {"error": f"HTTP {status}"}

    def authenticate(self, req: RecordedRequest) -> Response | None:
        """Return an error Response to reject the request, or None to let it through."""
        return None

    def not_found(self, req: RecordedRequest) -> Response:
        return Response(404, {"error": f"no route for {req.method} {req.path}"})

    def response_headers(self, req: RecordedRequest) -> dict[str, str]:
        """Headers added to every response (normal or faulted)."""
        return {}

    # --- dispatch ---
    def _take_fault(self, req: RecordedRequest) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.matches(req):
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _dispatch(self, req: RecordedRequest) -> Response:
        with self.lock:
            self.requests.append(req)
            fault = self._take_fault(req)
        if fault is not None:
            req.faulted = True
            if fault.delay:
                time.sleep(fault.delay)
            body = fault.body if fault.body is not None else self.error_body(fault.status)
            return Response(fault.status, body, {**self.response_headers(req), **fault.headers})
        with self.lock:
            try:
                resp = self.authenticate(req)
                if resp is None:
                    resp = self._match_route(req)
            except Exception:  # a bug in the fake: make it visible
                self.errors.append(traceback.format_exc())
                resp = Response(500, {"error": "fake server crashed", "traceback": self.errors[-1]})
            resp.headers = {**self.response_headers(req), **resp.headers}
            return resp

    def _match_route(self, req: RecordedRequest) -> Response:
        for method, pattern, handler in self._routes:
            if method == req.method:
                match = pattern.fullmatch(req.path)
                if match:
                    return handler(req, **match.groupdict())
        return self.not_found(req)


def json_body(req: RecordedRequest) -> Any:
    """Parse the JSON body or raise ValueError (for handlers that need a body)."""
    return json.loads(req.body or b"null")
