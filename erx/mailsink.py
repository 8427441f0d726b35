"""A local mail sink: accepts every message over SMTP and keeps it as an .eml file.

    python -m erx.mailsink --smtp-port 1025 --http-port 1080 --dir .data/mail

Nothing is relayed anywhere. ``GET /messages`` lists what arrived (newest last),
``GET /messages/{id}`` shows one, ``GET /messages/{id}/raw`` is the .eml itself and
``DELETE /messages`` empties the box. Both servers listen on 127.0.0.1 only: the
messages hold real names and addresses from the development database.

Tests use the class directly::

    sink = MailSink()            # a temporary directory, free ports
    sink.start()
    ...  # send to 127.0.0.1:sink.smtp_port
    [message] = await sink.wait_for(1)
    sink.stop()
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import logging
import re
import signal
import socket
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"
_ID = re.compile(r"^[0-9TZ]+-[0-9a-f]{8}$")


class _Store:
    """The .eml files of one directory; ids are file stems that sort by arrival."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def add(self, envelope_from: str, envelope_to: list[str], content: bytes) -> str:
        message_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"
        # The envelope is kept beside the headers, as a delivering MTA would (Bcc shows here).
        prefix = (
            f"X-Envelope-From: <{envelope_from}>\r\n"
            f"X-Envelope-To: {', '.join(f'<{r}>' for r in envelope_to)}\r\n"
        ).encode()
        path = self.directory / f"{message_id}.eml"
        with self._lock:
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(prefix + content)
            tmp.replace(path)
        return message_id

    def ids(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.eml") if _ID.match(p.stem))

    def raw(self, message_id: str) -> bytes | None:
        if not _ID.match(message_id):
            return None
        path = self.directory / f"{message_id}.eml"
        return path.read_bytes() if path.exists() else None

    def message(self, message_id: str) -> EmailMessage | None:
        raw = self.raw(message_id)
        if raw is None:
            return None
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def clear(self) -> None:
        with self._lock:
            for path in self.directory.glob("*.eml"):
                path.unlink(missing_ok=True)


def summary(message_id: str, message: EmailMessage) -> dict[str, Any]:
    return {
        "id": message_id,
        "from": message.get("From"),
        "to": message.get("To"),
        "subject": message.get("Subject"),
        "date": message.get("Date"),
        "text": _part(message, "plain"),
    }


def _part(message: EmailMessage, subtype: str) -> str | None:
    body = message.get_body(preferencelist=(subtype,))
    if body is None:
        return None
    content = body.get_content()
    return content if isinstance(content, str) else None


class _Handler:
    def __init__(self, store: _Store) -> None:
        self._store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        recipients = [str(r) for r in envelope.rcpt_tos]
        await asyncio.to_thread(self._store.add, str(envelope.mail_from), recipients, content)
        return "250 Message accepted for delivery"


class _BoundController(Controller):
    """aiosmtpd's threaded controller on a socket we bound first, so port 0 works."""

    def __init__(self, handler: _Handler, sock: socket.socket) -> None:
        host, port = sock.getsockname()[:2]
        # A fixed server name: aiosmtpd would otherwise wait on a DNS look-up of our own host.
        super().__init__(handler, hostname=host, port=port, server_hostname="mailsink.localhost")
        self._sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


def _http_handler(store: _Store) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = [p for p in self.path.split("?", 1)[0].split("/") if p]
            if parts == ["messages"]:
                listing = []
                for message_id in store.ids():
                    message = store.message(message_id)
                    if message is not None:
                        listing.append(summary(message_id, message))
                self._json(listing)
            elif len(parts) == 2 and parts[0] == "messages":
                message = store.message(parts[1])
                if message is None:
                    self._json({"error": "not_found"}, HTTPStatus.NOT_FOUND)
                else:
                    self._json({**summary(parts[1], message), "html": _part(message, "html")})
            elif len(parts) == 3 and parts[0] == "messages" and parts[2] == "raw":
                raw = store.raw(parts[1])
                if raw is None:
                    self._json({"error": "not_found"}, HTTPStatus.NOT_FOUND)
                else:
                    self._send(raw, "message/rfc822")
            else:
                self._json({"error": "not_found"}, HTTPStatus.NOT_FOUND)

        def do_DELETE(self) -> None:
            if self.path.rstrip("/") == "/messages":
                store.clear()
                self._json({"deleted": True})
            else:
                self._json({"error": "not_found"}, HTTPStatus.NOT_FOUND)

        def _json(self, body: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
            self._send(json.dumps(body, indent=2).encode(), "application/json", status)

        def _send(self, body: bytes, content_type: str, status: HTTPStatus = HTTPStatus.OK) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # Request lines name message ids only, but a sink should stay quiet.
            pass

    return Handler


# aiosmtpd logs every command (INFO) and line (DEBUG) it receives: they name the recipients.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class MailSink:
    """The SMTP sink and (when ``http_port`` is given) its HTTP listing, in threads."""

    def __init__(
        self,
        directory: str | Path | None = None,
        *,
        smtp_port: int = 0,
        http_port: int | None = None,
        host: str = HOST,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mailsink-")
            directory = self._tmp.name
        self.store = _Store(Path(directory))
        self.host = host
        self._smtp_port = smtp_port
        self._http_port = http_port
        self._controller: _BoundController | None = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    @property
    def directory(self) -> Path:
        return self.store.directory

    @property
    def smtp_port(self) -> int:
        if self._controller is None:
            raise RuntimeError("the mail sink is not running")
        return int(self._controller.port)

    @property
    def http_port(self) -> int:
        if self._http is None:
            raise RuntimeError("the mail sink has no HTTP listing running")
        return int(self._http.server_address[1])

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def start(self) -> MailSink:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._smtp_port))
        sock.listen()
        self._controller = _BoundController(_Handler(self.store), sock)
        self._controller.start()
        if self._http_port is not None:
            self._http = ThreadingHTTPServer(
                (self.host, self._http_port), _http_handler(self.store)
            )
            self._http_thread = threading.Thread(
                target=self._http.serve_forever, name="mailsink-http", daemon=True
            )
            self._http_thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def messages(self) -> list[EmailMessage]:
        """Every message received so far, oldest first."""
        found = (self.store.message(message_id) for message_id in self.store.ids())
        return [m for m in found if m is not None]

    def clear(self) -> None:
        self.store.clear()

    async def wait_for(
        self,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109  (callers pass a number, not a scope)
    ) -> list[EmailMessage]:
        """The messages once at least ``count`` have arrived; TimeoutError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.messages()
            if len(messages) >= count:
                return messages
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{len(messages)} of {count} messages arrived in {timeout} s")
            await asyncio.sleep(0.05)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m erx.mailsink", description=__doc__)
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=1080)
    parser.add_argument("--dir", default=".data/mail", help="where the .eml files are kept")
    args = parser.parse_args(argv)

    sink = MailSink(args.dir, smtp_port=args.smtp_port, http_port=args.http_port).start()
    print(
        f"mail sink: SMTP {HOST}:{sink.smtp_port}, messages at {sink.http_url}/messages, "
        f"files in {sink.directory}",
        flush=True,
    )
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()
    sink.stop()


if __name__ == "__main__":
    main()
