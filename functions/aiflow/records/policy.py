"""What a call record keeps, and whether an assistant's calls are recorded at all.

Call records hold personal data (what the caller said, their number), so they are opt-in:
``Assistant(record_calls=True)`` or ``RecordPolicy(...)`` in code, or the deployment's
``AIFLOW_RECORD_CALLS=true`` (template parameter ``EnableCallRecords``) for every assistant
that does not say ``record_calls=False``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AiflowError
from ..plain import FrozenValue

DEFAULT_MAX_BYTES = 32_000
DEFAULT_MAX_TEXT_CHARS = 1_000


class RecordPolicyError(AiflowError, ValueError):
    """A :class:`RecordPolicy` (or ``record_calls`` option) that cannot work."""

    code = "bad_record_policy"


@dataclass(frozen=True, eq=False, repr=False)  # FrozenValue: ==, hash, repr
class RecordPolicy(FrozenValue):
    """How an assistant's calls are recorded (``Assistant(record_calls=RecordPolicy(...))``).

    Attributes:
        mask_numbers: the other party's number (the caller of an inbound call, the called
            number of an outbound one) is kept masked (:func:`aiflow.redact.mask_number`);
            False keeps it whole.
        record_keys: the keys pressed are kept; False keeps only that a key was pressed
            (for assistants that ask for PINs).
        max_bytes: the record's size limit as JSON; beyond it the oldest turns (after the
            first) are cut and the record says what was cut. It travels with every save of
            the call item, so it bounds the write units a long call costs.
        max_text_chars: one text (what the caller or the assistant said) is cut beyond this.
        retention_days: days a finished record is kept; None: the deployment's
            (``AIFLOW_RECORD_RETENTION_DAYS``, template parameter ``CallRecordRetentionDays``).
    """

    mask_numbers: bool = True
    record_keys: bool = True
    max_bytes: int = DEFAULT_MAX_BYTES
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    retention_days: int | None = None

    def __post_init__(self) -> None:
        if self.max_bytes < 2_000:
            raise RecordPolicyError(f"RecordPolicy.max_bytes must be >= 2000, got {self.max_bytes}")
        if self.max_text_chars < 20:
            raise RecordPolicyError(
                f"RecordPolicy.max_text_chars must be >= 20, got {self.max_text_chars}"
            )
        if self.retention_days is not None and not 1 <= self.retention_days <= 3650:
            raise RecordPolicyError(
                f"RecordPolicy.retention_days must be 1..3650, got {self.retention_days}"
            )


RecordOption = bool | RecordPolicy | None
"""``Assistant(record_calls=...)``: None follows the deployment, False never records, True
or a policy records."""


def check_option(option: object) -> RecordOption:
    """``option`` if it is a valid ``record_calls`` value (raises :class:`RecordPolicyError`)."""
    if option is None or isinstance(option, bool | RecordPolicy):
        return option
    raise RecordPolicyError(
        f"record_calls must be True, False, None or a RecordPolicy, not {type(option).__name__}"
    )


def policy_for(option: RecordOption, *, deployment: bool) -> RecordPolicy | None:
    """The policy an assistant's calls are recorded with, or None (not recorded).

    Args:
        option: the assistant's ``record_calls``.
        deployment: ``AIFLOW_RECORD_CALLS`` (the template's ``EnableCallRecords``).
    """
    if option is False:
        return None
    if isinstance(option, RecordPolicy):
        return option
    if option is True or deployment:
        return RecordPolicy()
    return None
