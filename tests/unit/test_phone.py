"""Phone numbers: E.164 with + inside the framework, digits without + in actions."""

from __future__ import annotations

import pytest

from aiflow.protocol import to_action_number, to_e164


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+4917612345678", "+4917612345678"),
        ("4917612345678", "+4917612345678"),
        ("004917612345678", "+4917612345678"),
        ("+49 176 1234-5678", "+4917612345678"),
        ("0049 (176) 123.456/78", "+4917612345678"),
        ("  +4921198765400  ", "+4921198765400"),
        ("anonymous", "anonymous"),
        ("Anonymous", "Anonymous"),
        ("", ""),
        (None, None),
        ("017612345678", "017612345678"),  # national: the country is unknown, kept as is
        ("0211 98765400", "0211 98765400"),
        ("+1234567890123456", "+1234567890123456"),  # 16 digits: not E.164, kept as is
        ("+", "+"),
    ],
)
def test_to_e164_normalises_numbers_and_keeps_anything_else(
    raw: str | None, e164: str | None
) -> None:
    assert to_e164(raw) == e164


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("+4921198765411", "4921198765411"),
        ("4921198765411", "4921198765411"),
        ("004921198765411", "4921198765411"),
        ("+49 211 987654-11", "4921198765411"),
        ("(0211) 98765411", "021198765411"),  # national numbers pass through as digits
        ("110", "110"),
    ],
)
def test_to_action_number_gives_e164_digits_without_plus(raw: str, digits: str) -> None:
    assert to_action_number(raw) == digits


@pytest.mark.parametrize(
    "raw", ["anonymous", "", "+", "0800-CALL-NOW", "1", "+1234567890123456", "49 211 x"]
)
def test_to_action_number_rejects_what_is_not_a_phone_number(raw: str) -> None:
    with pytest.raises(ValueError, match="must be a phone number"):
        to_action_number(raw)


def test_both_forms_of_the_same_number_agree() -> None:
    for raw in ("+4917612345678", "004917612345678", "4917612345678"):
        assert to_e164(raw) == "+" + to_action_number(raw)
