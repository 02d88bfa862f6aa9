"""A small router over `http.server`: requests, refusals, JSON and streamed replies."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

log = logging.getLogger("providers.sandbox")

STREAM_CHUNK = 64 * 1024


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes
    handler: BaseHTTPRequestHandler

    @classmethod
    def read(cls, handler: BaseHTTPRequestHandler) -> Request:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        return cls(
            method=handler.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=handler.headers,
            body=body,
            handler=handler,
        )

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            raise Refusal(400, {"error": "body is not JSON"}) from None

    @property
    def origin(self) -> str:
        host = self.headers.get("Host")
        if not host:
            name, port = cast(tuple[str, int], self.handler.server.server_address)[:2]
            host = f"{name}:{port}"
        return f"http://{host}"


@dataclass
class Refusal(Exception):
    """Raise to answer with an error status and a JSON body."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


Action = Callable[[Request, dict[str, str]], None]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    action: Action


class Router:
    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, action: Action) -> None:
        """`template` like "/routit/v1/customers/{customer}/cdrs"; {name} is one segment."""
        parts = re.split(r"\{(\w+)\}", template)
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)" for i, part in enumerate(parts)
        )
        self.routes.append(Route(method, re.compile(regex), action))

    def dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        request = Request.read(handler)
        for route in self.routes:
            match = route.pattern.fullmatch(request.path)
            if match is None or route.method != request.method:
                continue
            values = {name: unquote(value) for name, value in match.groupdict().items()}
            try:
                route.action(request, values)
            except Refusal as refusal:
                send_json(handler, refusal.status, refusal.body, refusal.headers)
            except (BrokenPipeError, ConnectionResetError):
                handler.close_connection = True  # the client gave up (timeout)
            except Exception:
                log.exception("sandbox: %s %s failed", request.method, request.path)
                send_json(handler, 500, {"error": "sandbox bug"})
            return
        send_json(handler, 404, {"error": f"no endpoint {request.method} {request.path}"})


def _start(
    handler: BaseHTTPRequestHandler, status: int, content_type: str, headers: Mapping[str, str]
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    for name, value in headers.items():
        handler.send_header(name, value)


def send_bytes(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
    *,
    drop: bool = False,
) -> None:
    """A whole body; with `drop`, only its first half before the connection closes."""
    _start(handler, status, content_type, headers or {})
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if drop:
        handler.wfile.write(body[: len(body) // 2])
        handler.close_connection = True
        return
    handler.wfile.write(body)


def send_json(
    handler: BaseHTTPRequestHandler,
    status: int,
    document: Any,
    headers: Mapping[str, str] | None = None,
) -> None:
    if status == 204:
        _start(handler, status, "application/json", headers or {})
        handler.end_headers()
        return
    body = json.dumps(document, ensure_ascii=False, default=str).encode()
    send_bytes(handler, status, body, "application/json", headers)


def send_stream(
    handler: BaseHTTPRequestHandler,
    chunks: Iterable[bytes],
    content_type: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """A chunked 200 reply; an empty chunk from `chunks` breaks the connection off."""
    _start(handler, 200, content_type, headers or {})
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    out = handler.wfile
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        if not chunk:
            if pending:
                out.write(_chunk(b"".join(pending)))
            handler.close_connection = True
            return
        pending.append(chunk)
        size += len(chunk)
        if size >= STREAM_CHUNK:
            out.write(_chunk(b"".join(pending)))
            pending, size = [], 0
    if pending:
        out.write(_chunk(b"".join(pending)))
    out.write(b"0\r\n\r\n")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "expensis-sandbox/0.1"
    server: HttpServer

    def do_GET(self) -> None:
        self.server.router.dispatch(self)

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a `slow` reply still sleeping must not hold up stop()

    def __init__(self, address: tuple[str, int], router: Router) -> None:
        super().__init__(address, _Handler)
        self.router = router
