"""Call records: what was said and done in a call, kept for a while, opt-in.

Switched on per assistant (``Assistant(record_calls=True)`` or a :class:`RecordPolicy`) or per
deployment (``AIFLOW_RECORD_CALLS=true``, template parameter ``EnableCallRecords``; an
assistant with ``record_calls=False`` stays unrecorded). A record holds personal data: what
the caller said, the keys they pressed, and their number (masked by default).

Data layout and cost:

* **While the call runs**, the record grows in the call document, ``call.extras["record"]``
  (:mod:`aiflow.records.document`), and is saved with the call item by the turn's own save:
  no request of its own. It is bounded (``RecordPolicy.max_bytes``, 32 KB of JSON by default;
  the oldest turns after the first are cut and the record says what was cut), and the call
  document is zlib-compressed, so it adds write units, not requests, to a long call.
* **When the call ends** (``session_end``), the finished record is written as an item of its
  own in the records table (:mod:`aiflow.records.store`): one ``PutItem`` per call, with a
  TTL of the retention period (``CallRecordRetentionDays``, 30 by default). The table
  (``CallRecordsTable``) exists only with ``EnableCallRecords=true``: on-demand, encrypted
  with KMS (the AWS managed key ``alias/aws/dynamodb``), partition key the UTC day the call
  started, sort key ``<start time>#<session id>``, and a keys-only index ``SessionIndex`` on
  the session id: listing by time queries day partitions, one call is an index query and a
  ``GetItem``; nothing scans.
* **Deleting** a call's record (:meth:`RecordStore.delete`, ``aiflow calls delete ID``)
  removes the item and, given the call table, the ended call's item that still carries it.

Reading records (the dev console, ``aiflow calls``)::

    store = DynamoDBRecordStore("my-stack-CallRecordsTable-...")
    for row in store.list(since=datetime.now(UTC) - timedelta(hours=2)):
        print(row.session_id, row.outcome)
    record = store.get(row.session_id)            # the document, JSON-ready
    for line in transcript_lines(record): ...     # who said what, when, how fast
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .policy import RecordOption, RecordPolicy, RecordPolicyError, policy_for

if TYPE_CHECKING:
    from .document import RECORD_KEY, outcome
    from .recorder import CallRecorder, recorder_of
    from .store import (
        DynamoDBRecordStore,
        MemoryRecordStore,
        RecordStore,
        RecordStoreError,
        RecordSummary,
        item_record,
        outcome_text,
    )
    from .transcript import TranscriptLine, header, transcript_lines

__all__ = [
    "RECORD_KEY",
    "CallRecorder",
    "DynamoDBRecordStore",
    "MemoryRecordStore",
    "RecordOption",
    "RecordPolicy",
    "RecordPolicyError",
    "RecordStore",
    "RecordStoreError",
    "RecordSummary",
    "TranscriptLine",
    "header",
    "item_record",
    "outcome",
    "outcome_text",
    "policy_for",
    "recorder_of",
    "transcript_lines",
]

# The policy is all an Assistant needs; the rest loads when records are used, so a
# deployment without records pays nothing for them at cold start.
_LAZY = {
    "RECORD_KEY": "document",
    "outcome": "document",
    "CallRecorder": "recorder",
    "recorder_of": "recorder",
    "DynamoDBRecordStore": "store",
    "MemoryRecordStore": "store",
    "RecordStore": "store",
    "RecordStoreError": "store",
    "RecordSummary": "store",
    "item_record": "store",
    "outcome_text": "store",
    "TranscriptLine": "transcript",
    "header": "transcript",
    "transcript_lines": "transcript",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
