"""The EPCS audit trail: append-only, one row per idempotency key."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import EpcsAuditEntry, utcnow
from workflows.models import EpcsAuditInput


async def append_audit(session: AsyncSession, entry: EpcsAuditInput) -> None:
    """Insert the audit row unless one with its idempotency key exists (never an update:
    the table is append-only). Written in the caller's transaction."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # A concurrent append with the same key waits for the first to commit, then does nothing.
    await session.execute(
        insert(EpcsAuditEntry)
        .values(
            workspace_id=entry.workspace_id,
            subject_member_id=entry.subject_member_id,
            actor_member_id=entry.actor_member_id,
            action=entry.action,
            outcome=entry.outcome,
            reason=entry.reason,
            idempotency_key=entry.idempotency_key,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
