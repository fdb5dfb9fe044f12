"""A fake Telegram Bot API on 127.0.0.1 (stdlib ``ThreadingHTTPServer``) for what itb uses:
``/bot<token>/getMe``, ``/bot<token>/sendMessage`` (form-encoded or JSON bodies, as python-telegram-bot
sends them) and ``/bot<token>/sendPhoto`` (a ``multipart/form-data`` upload with the picture in its
``photo`` part, parsed with the standard library's MIME parser), with the real answers' shape (``{"ok":
true, "result": ...}``; errors ``{"ok": false, "error_code": N, "description": ...}``).

It records every accepted message per chat, in arrival order (a photo's caption among the messages, and
the photo's bytes with its caption in :meth:`FakeTelegram.photos`). A token other than the server's gets
401 ``Unauthorized`` (as the real API answers). Faults (:meth:`FakeTelegram.add_fault`) apply to the
next ``sendMessage`` / ``sendPhoto`` requests, one each: ``429`` (``parameters.retry_after``), ``500`` /
``502``, ``400`` (a permanent refusal) and ``drop`` (the connection is closed without an answer). A
faulted request records nothing: the message was not delivered.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs

FaultKind = Literal["429", "500", "502", "400", "drop"]


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    retry_after: int = 1


class FakeTelegram:
    """``with FakeTelegram(token) as tg:`` serves on ``tg.url`` until the block ends."""

    def __init__(self, token: str) -> None:
        self.token = token
        self._lock = threading.Lock()
        self._messages: dict[str, list[str]] = defaultdict(list)
        self._faults: list[Fault] = []
        self._photos: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
        #: (path without the token, answered status or "drop") of every request, in order.
        self.requests: list[tuple[str, int | str]] = []
        #: Monotonic times of the sendMessage requests (to check waits between attempts).
        self.send_times: list[float] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeTelegram:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_fault(self, kind: FaultKind, times: int = 1, retry_after: int = 1) -> None:
        with self._lock:
            self._faults.extend(Fault(kind, retry_after) for _ in range(times))

    def messages(self, chat_id: str) -> list[str]:
        with self._lock:
            return list(self._messages[str(chat_id)])

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def photos(self, chat_id: str) -> list[tuple[str, bytes]]:
        """(caption, PNG bytes) of every accepted ``sendPhoto``, in order."""
        with self._lock:
            return list(self._photos[str(chat_id)])

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _record(self, chat_id: str, text: str, photo: bytes | None = None) -> int:
        with self._lock:
            self._messages[chat_id].append(text)
            if photo is not None:
                self._photos[chat_id].append((text, photo))
            return sum(len(v) for v in self._messages.values())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _answer(self, status: int, body: dict[str, Any], method: str) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with fake._lock:
                    fake.requests.append((method, status))

            def _error(self, status: int, description: str, method: str, **extra: Any) -> None:
                self._answer(
                    status, {"ok": False, "error_code": status, "description": description, **extra}, method
                )

            def _params(self) -> tuple[dict[str, str], dict[str, bytes]]:
                """The request's fields, and its uploaded files (multipart parts with a file name)."""
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                kind = self.headers.get("Content-Type") or ""
                if "json" in kind:
                    return {k: str(v) for k, v in json.loads(raw or b"{}").items()}, {}
                if kind.startswith("multipart/form-data"):
                    return multipart(kind, raw)
                return {k: v[0] for k, v in parse_qs(raw.decode()).items()}, {}

            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                prefix, _, method = self.path.lstrip("/").partition("/")
                params, files = self._params()
                if prefix != f"bot{fake.token}":
                    self._error(401, "Unauthorized", method)
                    return
                if method == "getMe":
                    me = {"id": 7, "is_bot": True, "first_name": "itb", "username": "itb_fake_bot"}
                    self._answer(200, {"ok": True, "result": me}, method)
                    return
                if method not in ("sendMessage", "sendPhoto"):
                    self._error(404, "Not Found: method not found", method)
                    return
                fake.send_times.append(time.monotonic())
                fault = fake._next_fault()
                if fault is not None:
                    self._fault(fault, method)
                    return
                chat = params.get("chat_id")
                photo = files.get("photo")
                text = params.get("text") if method == "sendMessage" else params.get("caption", "")
                if method == "sendPhoto" and not photo:
                    self._error(400, "Bad Request: there is no photo in the request", method)
                    return
                if not chat or text is None:
                    self._error(400, "Bad Request: message text is empty", method)
                    return
                number = fake._record(chat, text, photo)
                result = {"message_id": number, "date": int(time.time()),
                          "chat": {"id": int(chat) if chat.lstrip("-").isdigit() else 1, "type": "private"},
                          "text": text}  # fmt: skip
                self._answer(200, {"ok": True, "result": result}, method)

            def _fault(self, fault: Fault, method: str) -> None:
                if fault.kind == "drop":
                    with fake._lock:
                        fake.requests.append((method, "drop"))
                    self.close_connection = True
                    self.connection.close()
                elif fault.kind == "429":
                    self._error(429, f"Too Many Requests: retry after {fault.retry_after}", method,
                                parameters={"retry_after": fault.retry_after})  # fmt: skip
                elif fault.kind == "400":
                    self._error(400, "Bad Request: can't parse entities", method)
                else:
                    self._error(int(fault.kind), "Internal Server Error", method)

        return Handler


def multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """Fields and files of a ``multipart/form-data`` body (the MIME parser wants its header first)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(data, bytes):
            continue
        if part.get_filename() is not None:
            files[name] = data
        else:
            fields[name] = data.decode()
    return fields, files
