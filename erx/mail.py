"""Outgoing email over SMTP, and the messages we send to team members.

The templates are pure functions of the few values they show; the Mailer is the only
part that does I/O (stdlib smtplib on a worker thread, so no event loop ever blocks).
"""

from __future__ import annotations

import asyncio
import html as html_lib
import smtplib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from erx.settings import Settings


class MailUnavailable(Exception):
    """The mail server could not be reached or asked us to try later (4xx)."""


class MailRejected(Exception):
    """The mail server refused the message for good (5xx): retrying cannot help."""


class Mailer:
    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout
        domain = parseaddr(sender)[1].rpartition("@")[2]
        self._msgid_domain = domain or "localhost"

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer:
        return cls(settings.smtp_host, settings.smtp_port, settings.mail_from)

    async def send(self, to: str, subject: str, text: str, html: str | None = None) -> str:
        """Send one message; returns its Message-ID."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain=self._msgid_domain)
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        await asyncio.to_thread(self._deliver, message)
        return str(message["Message-ID"])

    def _deliver(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused:
            # Carries the addresses; only the outcome travels on.
            raise MailRejected("the mail server refused the recipient") from None
        except smtplib.SMTPResponseException as err:
            if 400 <= err.smtp_code < 500:
                raise MailUnavailable(f"the mail server answered {err.smtp_code}") from None
            raise MailRejected(f"the mail server answered {err.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as err:
            raise MailUnavailable(
                f"the mail server is unreachable ({type(err).__name__})"
            ) from None


# Templates: (subject, text, html) -------------------------------------------------

Rendered = tuple[str, str, str]


def invitation_email(first_name: str, workspace_name: str, enroll_url: str) -> Rendered:
    subject = f"{workspace_name} invited you to e-prescribe"
    text = (
        f"Hi {first_name},\n\n"
        f"{workspace_name} has invited you to prescribe electronically.\n\n"
        "Connect your account and verify your identity to get started:\n"
        f"{enroll_url}\n\n"
        "Identity verification is done with DoseSpot, our e-prescribing partner; "
        "have your phone to hand.\n"
    )
    html = _page(
        f"<p>Hi {_e(first_name)},</p>"
        f"<p>{_e(workspace_name)} has invited you to prescribe electronically.</p>"
        f'<p><a href="{_e(enroll_url)}">Connect your account and verify your identity</a></p>'
        "<p>Identity verification is done with DoseSpot, our e-prescribing partner; "
        "have your phone to hand.</p>"
    )
    return subject, text, html


def verified_email(first_name: str, workspace_name: str) -> Rendered:
    subject = "You're verified to e-prescribe"
    text = (
        f"Hi {first_name},\n\n"
        f"Your identity is verified: you can now send prescriptions electronically "
        f"for {workspace_name}.\n\n"
        "To prescribe controlled substances, turn on two-factor authentication next.\n"
    )
    html = _page(
        f"<p>Hi {_e(first_name)},</p>"
        "<p>Your identity is verified: you can now send prescriptions electronically "
        f"for {_e(workspace_name)}.</p>"
        "<p>To prescribe controlled substances, turn on two-factor authentication next.</p>"
    )
    return subject, text, html


def verification_expired_email(first_name: str, workspace_name: str) -> Rendered:
    subject = "Your e-prescribing verification expired"
    text = (
        f"Hi {first_name},\n\n"
        f"Your identity verification for {workspace_name} was not completed in time, "
        "so it has expired.\n\n"
        "You can start it again from the e-prescribing settings.\n"
    )
    html = _page(
        f"<p>Hi {_e(first_name)},</p>"
        f"<p>Your identity verification for {_e(workspace_name)} was not completed in time, "
        "so it has expired.</p>"
        "<p>You can start it again from the e-prescribing settings.</p>"
    )
    return subject, text, html


def _e(value: str) -> str:
    return html_lib.escape(value, quote=True)


def _page(body: str) -> str:
    return f'<!doctype html><html><body style="font-family: sans-serif">{body}</body></html>'
