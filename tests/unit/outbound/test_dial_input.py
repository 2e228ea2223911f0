"""What a dial accepts and how sipgate's answers are named: no I/O."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aiflow.outbound import (
    DialRequest,
    FlowHasNoNumber,
    FlowNotFound,
    InvalidDial,
    OutboundContext,
    RateLimited,
    RetryPolicy,
    SipgateClient,
    SipgateUnavailable,
    Unauthorized,
    UnexpectedAnswer,
    dial,
    dial_number,
)
from aiflow.outbound.client import answer_error, check_flow_id, excerpt, token_from_secret
from aiflow.outbound.errors import DialNotConfigured

FLOW_ID = "e3670012-96a3-4ae5-ac42-87abe22015c3"
# No request ever leaves these tests: every case fails before the client would connect.
OFFLINE = SipgateClient("token", base_url="https://sipgate.invalid", device="e2")


@pytest.mark.parametrize(
    ("written", "e164"),
    [
        ("+4915790000687", "+4915790000687"),
        ("4915790000687", "+4915790000687"),
        ("0049 157 90000687", "+4915790000687"),
        (" +49 (157) 9000-0687 ", "+4915790000687"),
        ("+1 415 555 0100", "+14155550100"),
    ],
)
def test_numbers_with_country_code_become_e164(written: str, e164: str) -> None:
    assert dial_number(written) == e164


@pytest.mark.parametrize(
    ("written", "complaint"),
    [
        ("015790000687", "national number"),
        ("", "got nothing"),
        ("anonymous", "country code"),
        ("+49 157 9000 0687 1234 5678", "country code"),
    ],
)
def test_other_numbers_are_refused_without_echoing_them(written: str, complaint: str) -> None:
    with pytest.raises(InvalidDial, match=complaint) as caught:
        dial_number(written)
    assert caught.value.message.startswith("to: ")
    assert "90000687" not in caught.value.message


def test_flow_ids_are_checked_before_they_go_into_the_path() -> None:
    assert check_flow_id(f" {FLOW_ID} ") == FLOW_ID
    for bad in ("", "a/b", "../call", "x" * 200, "with space"):
        with pytest.raises(InvalidDial, match="flow: must be the id of an AI Flow"):
            check_flow_id(bad)


def test_a_device_must_look_like_a_device() -> None:
    assert OFFLINE.resolve_device("e7") == "e7"
    assert OFFLINE.resolve_device(None) == "e2"
    with pytest.raises(InvalidDial, match="device"):
        OFFLINE.resolve_device("e2; drop")


@pytest.mark.parametrize("retry", [1, 2, 3, 4, 5, 6])
def test_backoff_grows_exponentially_with_jitter_up_to_the_cap(retry: int) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    ceiling = min(4.0, 0.5 * 2 ** (retry - 1))
    waits = [policy.backoff(retry) for _ in range(200)]
    assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
    assert len(set(waits)) > 1, "jittered"


def test_worst_case_time_of_a_call_is_bounded() -> None:
    client = SipgateClient("t", timeout=5.0, retry=RetryPolicy(attempts=3, max_wait=8.0))
    assert client.worst_case_seconds() == 3 * 2 * 5.0 + 8.0


@pytest.mark.parametrize(
    ("status", "error", "retryable"),
    [
        (400, FlowHasNoNumber, False),
        (401, Unauthorized, False),
        (403, Unauthorized, False),
        (404, FlowNotFound, False),
        (409, UnexpectedAnswer, False),
        (429, RateLimited, True),
        (500, SipgateUnavailable, True),
        (503, SipgateUnavailable, True),
    ],
)
def test_each_answer_has_its_error(status: int, error: type, retryable: bool) -> None:
    raised = answer_error(status, "Reason", b"{}", flow_id=FLOW_ID, device="e2", number="+49151")
    assert type(raised) is error
    assert (raised.status, raised.retryable) == (status, retryable)
    assert raised.message.startswith(f"sipgate answered {status} Reason: {{}}.")


def test_an_excerpt_masks_numbers_but_keeps_ids() -> None:
    text = excerpt(
        f'{{"flow": "{FLOW_ID}", "to": "4915790000687", "from": "+49 211 5566 0"}}'.encode(),
        "+4915790000687",
    )
    assert FLOW_ID in text
    assert "4915790000687" not in text and "211 5566" not in text
    assert excerpt(b"") == "(empty body)"
    assert excerpt(b"a\n  b") == "a b"


def test_a_secret_holds_the_raw_token_or_json_with_a_token() -> None:
    assert token_from_secret("raw-token", "s") == "raw-token"
    assert token_from_secret('{"token": "t1"}', "s") == "t1"
    assert token_from_secret("{not json", "s") == "{not json"
    with pytest.raises(DialNotConfigured, match="placeholder"):
        token_from_secret('{"placeholder": "x", "unset": "y"}', "s")


def test_a_dial_request_message_names_what_is_wrong() -> None:
    request = DialRequest.from_message(f'{{"flow_id": "{FLOW_ID}", "to": "0049157 90000687"}}')
    assert (request.to, request.device, request.data) == ("+4915790000687", None, None)
    assert request.to_message() == f'{{"flow_id":"{FLOW_ID}","to":"+4915790000687"}}'
    with pytest.raises(InvalidDial, match=r"to: .*national number"):
        DialRequest.from_message(f'{{"flow_id": "{FLOW_ID}", "to": "0157 90000687"}}')
    with pytest.raises(InvalidDial, match="flow_id: Field required"):
        DialRequest.from_message('{"to": "+4915790000687"}')
    with pytest.raises(InvalidDial, match="colour: Extra inputs"):
        DialRequest.from_message(f'{{"flow_id": "{FLOW_ID}", "to": "+491", "colour": 1}}')
    with pytest.raises(InvalidDial, match="body: Invalid JSON"):
        DialRequest.from_message("not json")


def test_data_must_be_a_small_json_object() -> None:
    with pytest.raises(InvalidDial, match="data: must be JSON"):
        dial(FLOW_ID, "+4915790000687", data={"when": {1, 2}}, client=OFFLINE)
    with pytest.raises(InvalidDial, match="at most 32768 bytes"):
        dial(FLOW_ID, "+4915790000687", data={"x": "y" * 40_000}, client=OFFLINE)
    with pytest.raises(InvalidDial, match="must be a JSON object"):
        dial(FLOW_ID, "+4915790000687", data=[1, 2], client=OFFLINE)  # type: ignore[arg-type]


def test_a_context_holds_an_e164_number() -> None:
    with pytest.raises(ValidationError):
        OutboundContext(
            request_id="r", flow_id=FLOW_ID, to="015790000687", device="e2", created_at=0
        )
