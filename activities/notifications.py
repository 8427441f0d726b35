"""Email to team members. Workflows pass ids only; names and addresses are read here,
so no contact details enter workflow history."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from db.models import Member, Workspace
from erx.mail import (
    Mailer,
    MailRejected,
    MailUnavailable,
    Rendered,
    invitation_email,
    verification_expired_email,
    verified_email,
)
from erx.settings import Settings
from workflows.failures import MailRejected as MailRejectedFailure
from workflows.failures import MemberNotFound

EmailTemplate = Literal["invitation", "verified", "verification_expired"]


class MemberEmail(BaseModel):
    workspace_id: str
    member_id: str
    template: EmailTemplate


class EmailSent(BaseModel):
    message_id: str


def enrollment_url(settings: Settings, workspace_id: str, member_id: str) -> str:
    base = settings.api_public_url.rstrip("/")
    return f"{base}/v1/workspaces/{workspace_id}/erx/clinicians/{member_id}/enrollment"


class NotificationActivities:
    def __init__(
        self,
        mailer: Mailer,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        self._mailer = mailer
        self._sessionmaker = sessionmaker
        self._settings = settings

    @activity.defn(name="send_member_email")
    async def send_member_email(self, input: MemberEmail) -> EmailSent:
        """Send one of the member emails to the member's current address.

        Errors: ``MemberNotFound`` and ``MailRejected`` (non-retryable), ``MailUnavailable``
        (retryable: the mail server is down or asked us to try later).
        """
        async with self._sessionmaker() as session:
            member = await session.get(Member, (input.workspace_id, input.member_id))
            workspace = await session.get(Workspace, input.workspace_id)
        if member is None or workspace is None:
            raise MemberNotFound("the member does not exist")
        subject, text, html = self._render(input, member, workspace)
        # Exceptions are raised from None: smtplib's can name the address, and a cause
        # would carry it into the workflow's history.
        try:
            message_id = await self._mailer.send(member.email, subject, text, html)
        except MailUnavailable as err:
            raise ApplicationError(str(err), type="MailUnavailable") from None
        except MailRejected as err:
            raise MailRejectedFailure(str(err)) from None
        activity.logger.info(
            "sent %s email to member %s in workspace %s",
            input.template,
            input.member_id,
            input.workspace_id,
        )
        return EmailSent(message_id=message_id)

    def _render(self, input: MemberEmail, member: Member, workspace: Workspace) -> Rendered:
        if input.template == "invitation":
            url = enrollment_url(self._settings, input.workspace_id, input.member_id)
            return invitation_email(member.first_name, workspace.name, url)
        if input.template == "verified":
            return verified_email(member.first_name, workspace.name)
        return verification_expired_email(member.first_name, workspace.name)
