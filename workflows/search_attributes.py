"""Search attributes follow a workflow's values with as few history events as they need."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate


def upsert_changed(values: Sequence[tuple[SearchAttributeKey[str], str | None]]) -> None:
    """Upsert only the attributes whose value differs from the workflow's current one
    (None: unset); nothing at all, so no history event, when none changed."""
    current = workflow.info().typed_search_attributes
    updates: list[SearchAttributeUpdate[str]] = []
    for key, value in values:
        if value is None:
            if current.get(key) is not None:
                updates.append(key.value_unset())
        elif current.get(key) != value:
            updates.append(key.value_set(value))
    if updates:
        workflow.upsert_search_attributes(updates)
