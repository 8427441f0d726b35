"""Member email: the activity over real SMTP into the local sink, and the sink itself."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notifications import EmailSent, MemberEmail, NotificationActivities
from erx.mail import Mailer, invitation_email
from erx.mailsink import MailSink
from erx.settings import Settings
from tests.conftest import WorkspaceKeys

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink(http_port=0) as sink:
        yield sink


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eml_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eml"))


def activities(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], port: int
) -> NotificationActivities:
    return NotificationActivities(
        Mailer("127.0.0.1", port, settings.mail_from), sessionmaker, settings
    )


async def test_invitation_reaches_the_member_over_smtp(
    sink: MailSink,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    acts = activities(settings, sessionmaker, sink.smtp_port)
    sent = await ActivityEnvironment().run(
        acts.send_member_email,
        MemberEmail(
            workspace_id=workspace.id, member_id=workspace.member_id, template="invitation"
        ),
    )
    assert isinstance(sent, EmailSent)

    [message] = await sink.wait_for(1)
    assert message["To"] == "ada@example.com"
    assert message["From"] == settings.mail_from
    assert message["Subject"] == "Test Practice invited you to e-prescribe"
    assert message["Message-ID"] == sent.message_id
    url = (
        f"{settings.api_public_url}/v1/workspaces/{workspace.id}"
        f"/erx/clinicians/{workspace.member_id}/enrollment"
    )
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "Hi Ada," in text.get_content()
    assert url in text.get_content()
    assert f'href="{url}"' in html.get_content()


@pytest.mark.parametrize(
    ("template", "subject"),
    [
        ("verified", "You're verified to e-prescribe"),
        ("verification_expired", "Your e-prescribing verification expired"),
    ],
)
async def test_the_other_member_emails(
    sink: MailSink,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
    template: str,
    subject: str,
) -> None:
    acts = activities(settings, sessionmaker, sink.smtp_port)
    await ActivityEnvironment().run(
        acts.send_member_email,
        MemberEmail.model_validate(
            {"workspace_id": workspace.id, "member_id": workspace.member_id, "template": template}
        ),
    )
    [message] = await sink.wait_for(1)
    assert message["Subject"] == subject
    assert message["To"] == "ada@example.com"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "Test Practice" in body.get_content()


async def test_http_listing(sink: MailSink) -> None:
    mailer = Mailer("127.0.0.1", sink.smtp_port, "eRx <erx-noreply@example.com>")
    message_id = await mailer.send("grace@example.com", "Hello", "Plain words", "<p>Rich</p>")
    await sink.wait_for(1)
    async with httpx.AsyncClient(base_url=sink.http_url) as http:
        listing = (await http.get("/messages")).json()
        assert len(listing) == 1
        [entry] = listing
        assert entry["from"] == "eRx <erx-noreply@example.com>"
        assert entry["to"] == "grace@example.com"
        assert entry["subject"] == "Hello"
        assert entry["date"]
        assert entry["text"].strip() == "Plain words"

        one = (await http.get(f"/messages/{entry['id']}")).json()
        assert one["html"].strip() == "<p>Rich</p>"
        raw = await http.get(f"/messages/{entry['id']}/raw")
        assert raw.headers["content-type"] == "message/rfc822"
        assert message_id.encode() in raw.content

        assert (await http.get("/messages/../../etc/passwd")).status_code == 404
        assert (await http.get("/messages/20260101T000000000000Z-deadbeef")).status_code == 404

        assert (await http.delete("/messages")).status_code == 200
        assert (await http.get("/messages")).json() == []


async def test_messages_are_kept_as_eml_files(tmp_path: Path) -> None:
    with MailSink(tmp_path) as sink:
        mailer = Mailer("127.0.0.1", sink.smtp_port, "erx@example.com")
        await mailer.send("ada@example.com", "Kept", "on disk")
        await sink.wait_for(1)
    [path] = eml_files(tmp_path)
    assert b"Subject: Kept" in path.read_bytes()
    # A restarted sink still lists what arrived before.
    with MailSink(tmp_path) as again:
        assert [m["Subject"] for m in again.messages()] == ["Kept"]


async def test_unreachable_mail_server_is_retryable(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    acts = activities(settings, sessionmaker, free_port())
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            acts.send_member_email,
            MemberEmail(
                workspace_id=workspace.id, member_id=workspace.member_id, template="verified"
            ),
        )
    assert caught.value.type == "MailUnavailable"
    assert not caught.value.non_retryable
    # Nothing that names the member travels with the failure.
    assert caught.value.__cause__ is None
    assert "ada@example.com" not in str(caught.value)


async def test_unknown_member_is_not_retried(
    sink: MailSink,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace: WorkspaceKeys,
) -> None:
    acts = activities(settings, sessionmaker, sink.smtp_port)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            acts.send_member_email,
            MemberEmail(workspace_id=workspace.id, member_id="m_nobody", template="invitation"),
        )
    assert caught.value.type == "MemberNotFound"
    assert caught.value.non_retryable
    assert sink.messages() == []


def test_templates_escape_html() -> None:
    subject, text, html = invitation_email("<Ada>", "Smith & Jones", "http://x/?a=1&b=2")
    assert subject == "Smith & Jones invited you to e-prescribe"
    assert "Hi <Ada>," in text
    assert "&lt;Ada&gt;" in html and "Smith &amp; Jones" in html
    assert 'href="http://x/?a=1&amp;b=2"' in html


async def test_the_command_line_sink(tmp_path: Path) -> None:
    smtp_port, http_port = free_port(), free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "erx.mailsink",
        "--smtp-port", str(smtp_port), "--http-port", str(http_port),
        "--dir", str(tmp_path / "mail"),
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http:
            for _ in range(100):
                try:
                    await http.get("/messages")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            await Mailer("127.0.0.1", smtp_port, "erx@example.com").send(
                "ada@example.com", "From the CLI", "hello"
            )
            listing = (await http.get("/messages")).json()
        assert [m["subject"] for m in listing] == ["From the CLI"]
        assert len(eml_files(tmp_path / "mail")) == 1
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
