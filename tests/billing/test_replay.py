"""Stored ClinicianBilling histories replay against the current workflow code."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from erx.settings import Settings
from erx.temporal import data_converter
from workflows.clinician_billing import ClinicianBillingWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def test_stored_billing_histories_replay(settings: Settings) -> None:
    paths = sorted(HISTORIES.glob("clinician_billing-*.json"))
    assert paths, "no stored ClinicianBilling history"
    replayer = Replayer(
        workflows=[ClinicianBillingWorkflow], data_converter=data_converter(settings)
    )
    for path in paths:
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        await replayer.replay_workflow(history)
