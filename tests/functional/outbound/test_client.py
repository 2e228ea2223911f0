"""SipgateClient against the fake sipgate: the documented request, each answer, retries, time."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from aiflow.outbound import (
    DialNotConfigured,
    FlowHasNoNumber,
    FlowNotFound,
    InvalidDial,
    RateLimited,
    RetryPolicy,
    SipgateClient,
    SipgateUnavailable,
    Unauthorized,
    UnexpectedAnswer,
)
from aiflow.testing.fake_sipgate import Answer, FakeSipgate

from .conftest import (
    CALLEE,
    DEVICE,
    FAST_RETRY,
    FLOW_ID,
    FLOW_WITHOUT_NUMBER,
    UNKNOWN_FLOW,
)


def test_the_request_is_exactly_the_documented_one(
    client: SipgateClient, sipgate: FakeSipgate
) -> None:
    result = client.call(FLOW_ID, CALLEE)

    (request,) = sipgate.requests
    assert request.method == "POST"
    assert request.path == f"/v3/ai-flows/{FLOW_ID}/call"
    assert request.headers["authorization"] == f"Bearer {sipgate.token}"
    assert request.headers["content-type"] == "application/json"
    assert request.json == {"billingDevice": "e2", "toPhoneNumber": "4915790000687"}
    assert (result.status, result.attempts, result.to, result.device) == (201, 1, CALLEE, "e2")
    assert result.call_id is None, "the 201 body is undocumented and empty in the fake"


@pytest.mark.parametrize(
    "written",
    ["+4915790000687", "4915790000687", "0049 157 9000-0687", "+49 (157) 90000687"],
)
def test_numbers_are_accepted_with_or_without_plus_and_sent_as_digits(
    client: SipgateClient, sipgate: FakeSipgate, written: str
) -> None:
    assert client.call(FLOW_ID, written).to == CALLEE
    assert sipgate.requests[-1].json["toPhoneNumber"] == "4915790000687"


def test_a_national_number_is_refused_before_anything_is_sent(
    client: SipgateClient, sipgate: FakeSipgate
) -> None:
    with pytest.raises(InvalidDial, match="national number.*country code") as caught:
        client.call(FLOW_ID, "0157 90000687")
    assert "90000687" not in str(caught.value), "the number is masked in the message"
    assert sipgate.requests == []


def test_the_device_comes_from_the_call_or_the_client(
    client: SipgateClient, sipgate: FakeSipgate
) -> None:
    client.call(FLOW_ID, CALLEE, device="e7")
    assert sipgate.requests[-1].json["billingDevice"] == "e7"
    bare = SipgateClient(sipgate.token, base_url=sipgate.url)
    with pytest.raises(DialNotConfigured, match="AIFLOW_SIPGATE_DEVICE"):
        bare.call(FLOW_ID, CALLEE)
    assert len(sipgate.requests) == 1


def test_an_id_in_the_201_body_is_passed_on(sipgate: FakeSipgate) -> None:
    sipgate.created_body = {"sessionId": "550e8400-e29b-41d4-a716-446655440000"}
    client = SipgateClient(sipgate.token, base_url=sipgate.url, device=DEVICE)
    assert client.call(FLOW_ID, CALLEE).call_id == "550e8400-e29b-41d4-a716-446655440000"


# --- each answer becomes its own error -----------------------------------------------------------


def test_an_unknown_flow_is_flow_not_found(client: SipgateClient, sipgate: FakeSipgate) -> None:
    with pytest.raises(FlowNotFound) as caught:
        client.call(UNKNOWN_FLOW, CALLEE)
    error = caught.value
    assert (error.status, error.retryable, error.code) == (404, False, "flow_not_found")
    assert "sipgate answered 404 Not Found" in error.message
    assert f"AI flow {UNKNOWN_FLOW} not found" in error.message, "excerpt of sipgate's body"
    assert "check the flow id" in error.message
    assert len(sipgate.requests) == 1, "a 404 is not retried"


def test_a_flow_without_number_is_flow_has_no_number(
    client: SipgateClient, sipgate: FakeSipgate
) -> None:
    with pytest.raises(FlowHasNoNumber) as caught:
        client.call(FLOW_WITHOUT_NUMBER, CALLEE)
    assert caught.value.status == 400
    assert "no phone_number configured" in caught.value.message
    assert "needs a phone number" in caught.value.message
    assert len(sipgate.requests) == 1


def test_a_wrong_token_is_unauthorized(sipgate: FakeSipgate) -> None:
    client = SipgateClient("not-the-token", base_url=sipgate.url, device=DEVICE, retry=FAST_RETRY)
    with pytest.raises(Unauthorized, match="401 Unauthorized.*Check the token") as caught:
        client.call(FLOW_ID, CALLEE)
    assert caught.value.retryable is False
    assert len(sipgate.requests) == 1


def test_a_forbidden_answer_is_unauthorized_too(
    client: SipgateClient, sipgate: FakeSipgate
) -> None:
    sipgate.answer(Answer(403, {"message": "outbound calls not enabled"}))
    with pytest.raises(Unauthorized, match="403 Forbidden.*outbound calls not enabled"):
        client.call(FLOW_ID, CALLEE)


def test_another_4xx_is_an_unexpected_answer(client: SipgateClient, sipgate: FakeSipgate) -> None:
    sipgate.answer(Answer(422, "Unprocessable"))
    with pytest.raises(UnexpectedAnswer, match="422 Unprocessable Entity: Unprocessable"):
        client.call(FLOW_ID, CALLEE)
    assert len(sipgate.requests) == 1


def test_the_dialled_number_never_appears_in_an_error(
    client: SipgateClient, sipgate: FakeSipgate
) -> None:
    sipgate.answer(Answer(400, {"message": "invalid toPhoneNumber 4915790000687"}))
    with pytest.raises(FlowHasNoNumber) as caught:
        client.call(FLOW_ID, CALLEE)
    assert "4915790000687" not in caught.value.message
    assert "+49*********87" in caught.value.message


def test_a_long_body_is_cut_to_a_short_excerpt(client: SipgateClient, sipgate: FakeSipgate) -> None:
    sipgate.answer(Answer(404, "x" * 5000))
    with pytest.raises(FlowNotFound) as caught:
        client.call(FLOW_ID, CALLEE)
    assert "x" * 159 + "…" in caught.value.message
    assert "x" * 161 not in caught.value.message


# --- retries: only 429 and 5xx, bounded, backing off ----------------------------------------------


def test_server_errors_are_retried_with_growing_pauses(sipgate: FakeSipgate) -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.2, max_delay=1.0, max_wait=5.0)
    client = SipgateClient(sipgate.token, base_url=sipgate.url, device=DEVICE, retry=policy)
    sipgate.answer(500, 502)

    result = client.call(FLOW_ID, CALLEE)

    assert (result.status, result.attempts) == (201, 3)
    first, second, third = (request.at for request in sipgate.requests)
    # Exponential with equal jitter: 0.1-0.2 s, then 0.2-0.4 s.
    assert 0.1 <= second - first < 0.35
    assert 0.2 <= third - second < 0.55


def test_server_errors_give_up_after_the_last_attempt(
    client: SipgateClient, sipgate: FakeSipgate
) -> None:
    sipgate.answer(500, Answer(503, "maintenance"), 500, 500)
    with pytest.raises(SipgateUnavailable, match="500 Internal Server Error") as caught:
        client.call(FLOW_ID, CALLEE)
    assert "gave up after 3 attempts" in caught.value.message
    assert caught.value.retryable is True, "a queue may try again later"
    assert caught.value.outcome_unknown is False
    assert len(sipgate.requests) == 3


def test_retry_after_is_respected(sipgate: FakeSipgate) -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.01, max_wait=3.0)
    client = SipgateClient(sipgate.token, base_url=sipgate.url, device=DEVICE, retry=policy)
    sipgate.answer(Answer(429, headers={"Retry-After": "1"}))

    assert client.call(FLOW_ID, CALLEE).attempts == 2

    first, second = (request.at for request in sipgate.requests)
    assert 1.0 <= second - first < 1.5


def test_a_retry_after_beyond_the_bound_ends_the_dial_at_once(
    client: SipgateClient, sipgate: FakeSipgate
) -> None:
    sipgate.answer(Answer(429, {"message": "slow down"}, headers={"Retry-After": "30"}))
    started = time.monotonic()
    with pytest.raises(RateLimited, match="429 Too Many Requests.*slow down") as caught:
        client.call(FLOW_ID, CALLEE)
    assert time.monotonic() - started < 0.5
    assert (caught.value.retry_after, caught.value.retryable) == (30.0, True)
    assert len(sipgate.requests) == 1


def test_rate_limits_are_retried_within_the_bound_then_reported(
    client: SipgateClient, sipgate: FakeSipgate
) -> None:
    sipgate.answer(429, 429, 429, 429)
    started = time.monotonic()
    with pytest.raises(RateLimited, match="gave up after 3 attempts"):
        client.call(FLOW_ID, CALLEE)
    assert len(sipgate.requests) == FAST_RETRY.attempts
    assert time.monotonic() - started < FAST_RETRY.max_wait + 0.5


# --- timeouts and unreachable servers -------------------------------------------------------------


def test_a_stalled_answer_times_out_and_is_not_repeated(sipgate: FakeSipgate) -> None:
    client = SipgateClient(
        sipgate.token, base_url=sipgate.url, device=DEVICE, timeout=0.5, retry=FAST_RETRY
    )
    sipgate.answer(Answer(201, delay=5))
    started = time.monotonic()

    with pytest.raises(SipgateUnavailable, match="may or may not have been placed") as caught:
        client.call(FLOW_ID, CALLEE)

    assert 0.5 <= time.monotonic() - started < 1.5
    assert caught.value.outcome_unknown is True
    assert caught.value.retryable is False, "repeating could ring the person twice"
    assert len(sipgate.requests) == 1


def test_an_unreachable_server_is_retried_because_nothing_was_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = SipgateClient(
        "t", base_url=f"http://127.0.0.1:{port}", device=DEVICE, retry=FAST_RETRY
    )
    with pytest.raises(SipgateUnavailable, match="could not reach sipgate") as caught:
        client.call(FLOW_ID, CALLEE)
    assert "gave up after 3 attempts" in caught.value.message
    assert caught.value.retryable is True


# --- configuration --------------------------------------------------------------------------------


def test_from_env_reads_url_token_and_device(
    sipgate: FakeSipgate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIFLOW_SIPGATE_API_URL", sipgate.url)
    monkeypatch.setenv("AIFLOW_SIPGATE_TOKEN", sipgate.token)
    monkeypatch.setenv("AIFLOW_SIPGATE_DEVICE", "e5")
    SipgateClient.from_env().call(FLOW_ID, CALLEE)
    assert sipgate.requests[0].json["billingDevice"] == "e5"


def test_without_a_token_nothing_is_sent(
    sipgate: FakeSipgate, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIFLOW_SIPGATE_API_URL", sipgate.url)
    with pytest.raises(DialNotConfigured, match="AIFLOW_SIPGATE_TOKEN"):
        SipgateClient.from_env().call(FLOW_ID, CALLEE, device=DEVICE)
    assert sipgate.requests == []


def test_the_token_is_only_sent_over_https_except_to_loopback() -> None:
    with pytest.raises(DialNotConfigured, match="must use https"):
        SipgateClient("t", base_url="http://api.sipgate.com")
    with pytest.raises(DialNotConfigured, match="http"):
        SipgateClient("t", base_url="ftp://127.0.0.1")
    assert SipgateClient("t").base_url == "https://api.sipgate.com"


def test_logs_carry_the_masked_number_only(
    client: SipgateClient, sipgate: FakeSipgate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiflow")
    sipgate.answer(500)
    client.call(FLOW_ID, CALLEE)
    records = [r for r in caplog.records if r.name == "aiflow.outbound"]
    assert [r.getMessage() for r in records] == ["sipgate asked to retry", "outbound call started"]
    for record in records:
        assert record.to == "+49*********87"  # type: ignore[attr-defined]
        assert "90000687" not in str(record.__dict__)
