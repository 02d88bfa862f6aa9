"""Statuses are Literal types over the stored strings: the names code uses are the ones stored."""

from __future__ import annotations

from typing import get_args

from core.bus import bus
from core.models.billing import ExportStatus
from core.models.ops import MessageStatus
from core.models.sync import ImportStatus, SyncTaskStatus
from core.workflows import exports


def test_the_bus_constants_are_the_message_statuses() -> None:
    assert {bus.QUEUED, bus.RUNNING, bus.DONE, bus.FAILED, bus.DISCARDED} == set(get_args(MessageStatus))


def test_the_export_constants_are_the_export_statuses() -> None:
    assert {exports.PENDING, exports.RUNNING, exports.COMPLETED, exports.FAILED} == set(get_args(ExportStatus))


def test_stored_values_are_unchanged() -> None:
    assert get_args(SyncTaskStatus) == ("pending", "processing", "completed", "completed_with_warnings", "failed")
    assert get_args(ImportStatus) == ("pending", "running", "completed", "failed")
