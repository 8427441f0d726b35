"""The one way every process (API, worker, tests, replayer) builds its Temporal client."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import TypeVar

from google.protobuf.field_mask_pb2 import FieldMask
from temporalio.api.common.v1 import Priority as ProtoPriority
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflow.v1 import WorkflowExecutionOptions
from temporalio.api.workflowservice.v1 import UpdateWorkflowExecutionOptionsRequest
from temporalio.client import Client, WorkflowUpdateHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import Priority, SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.service import RPCError, RPCStatusCode

from erx.codec import EncryptionCodec
from erx.settings import Settings

T = TypeVar("T")
logger = logging.getLogger(__name__)

# Search attributes carry no PHI: workspace and member ids are our opaque ids.
SA_WORKSPACE = SearchAttributeKey.for_keyword("ErxWorkspace")
SA_MEMBER = SearchAttributeKey.for_keyword("ErxMember")
SA_STAGE = SearchAttributeKey.for_keyword("ErxStage")
SA_BLOCKED_REASON = SearchAttributeKey.for_keyword("ErxBlockedReason")
SEARCH_ATTRIBUTES = (SA_WORKSPACE, SA_MEMBER, SA_STAGE, SA_BLOCKED_REASON)


def data_converter(settings: Settings) -> DataConverter:
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(settings.codec_keys, settings.codec_active_key_id),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings) -> Client:
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
    )


async def ensure_search_attributes(client: Client) -> None:
    """Register our custom search attributes if the server does not have them yet."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )

    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    missing = {
        key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        for key in SEARCH_ATTRIBUTES
        if key.name not in existing.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )


async def update_result_within(handle: WorkflowUpdateHandle[T], seconds: float) -> T | None:
    """An accepted update's result if it arrives within ``seconds``; else None (it goes on).

    The update was accepted, so it is carried out whatever happens to this wait: a poll
    for its result that the server cuts short (overloaded, timed out) also answers None.
    """
    result = asyncio.ensure_future(handle.result())
    done, _ = await asyncio.wait({result}, timeout=seconds)
    if not done:
        result.cancel()
        with contextlib.suppress(
            asyncio.CancelledError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError
        ):
            await result
        return None
    try:
        return result.result()
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        return None
    except RPCError as err:
        if err.status in _WAIT_CUT_SHORT:
            return None
        raise


# The server's answers to a result poll that say nothing about the update itself.
_WAIT_CUT_SHORT = frozenset(
    {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}
)


# Work nobody is waiting on yet runs below Temporal's default priority (3; lower goes first):
# an invitation's enrollment starts there, so a bulk invitation's backlog of first steps and
# emails is served after the steps of clinicians who are at the keyboard.
INVITATION_PRIORITY_KEY = 4
INVITATION_PRIORITY = Priority(priority_key=INVITATION_PRIORITY_KEY)
INTERACTIVE_PRIORITY_KEY = 3


async def take_interactive_priority(client: Client, workflow_id: str) -> None:
    """Move a workflow (its pending and future tasks, and the children it starts from now)
    to the default priority, ahead of any backlog of invitations.

    Best effort: a workflow that is missing or ended is left for the call that follows to
    report, and a refusal is logged, never the request's failure.
    """
    request = UpdateWorkflowExecutionOptionsRequest(
        namespace=client.namespace,
        workflow_execution=WorkflowExecution(workflow_id=workflow_id),
        workflow_execution_options=WorkflowExecutionOptions(
            priority=ProtoPriority(priority_key=INTERACTIVE_PRIORITY_KEY)
        ),
        update_mask=FieldMask(paths=["priority"]),
        identity=client.identity,
    )
    try:
        await client.workflow_service.update_workflow_execution_options(request)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            logger.warning("workflow %s keeps its priority: %s", workflow_id, err.status.name)
