"""Our failures never reach the caller as silence or a 5xx: they hear the fallback sentence.

DynamoDB down or throttled (on the read or on the write), a handler that raises, a handler
slower than the turn budget, a Lambda about to time out: each is answered 200 with the
fallback ``speak`` (204 for events nobody waits on), quickly.
"""

from __future__ import annotations

import json
import random
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from aiflow.lambda_ import Settings
from aiflow.local.gateway import LocalContext
from aiflow.store.dynamodb import DynamoDBStore
from aiflow.testing import CallSimulator

from .conftest import CALLER, MAGIC_WORD, Line, elapsed


def client_error(code: str, operation: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "injected"},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        },
        operation,
    )


FAILURES: dict[str, Callable[[str], Exception]] = {
    "provisioned throughput exceeded": lambda op: client_error(
        "ProvisionedThroughputExceededException", op
    ),
    "throttling": lambda op: client_error("ThrottlingException", op),
    "request limit exceeded": lambda op: client_error("RequestLimitExceeded", op),
    "internal server error": lambda op: client_error("InternalServerError", op),
    "endpoint unreachable": lambda op: EndpointConnectionError(
        endpoint_url="https://dynamodb.eu-central-1.amazonaws.com"
    ),
}


THROTTLE_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
}


@contextmanager
def failing(client: Any, operation: str, error: Exception) -> Iterator[list[str]]:
    """Make every ``operation`` request of ``client`` raise ``error`` (after botocore's
    retries, as the store sees it); yields the list of failed attempts."""
    attempts: list[str] = []

    def fail(**_: Any) -> None:
        attempts.append(operation)
        raise error

    event = f"before-call.dynamodb.{operation}"
    client.meta.events.register_first(event, fail)
    try:
        yield attempts
    finally:
        client.meta.events.unregister(event, fail)


def started_call(line: Line, *, raise_errors: bool = True) -> CallSimulator:
    call = line.call(caller=CALLER, raise_errors=raise_errors)
    assert call.deliver("session_start").status == 200
    assert call.deliver("user_speak", text="my first question").status == 200
    return call


@pytest.mark.parametrize("make_error", FAILURES.values(), ids=FAILURES.keys())
def test_when_reading_the_call_fails_the_caller_hears_the_fallback(
    line: Line, make_error: Callable[[str], Exception]
) -> None:
    call = started_call(line)
    before = line.table.item(call.session_id)

    with failing(line.client, "GetItem", make_error("GetItem")) as attempts:
        reply = call.deliver("user_speak", text="are you there?")

    assert attempts == ["GetItem", "GetItem"]  # a read is retried once, quickly
    assert reply.status == 200
    assert reply.said == [line.assistant.fallback]
    assert reply.json["session_id"] == call.session_id
    assert ("user_speak", "are you there?") not in line.ran
    assert line.table.item(call.session_id) == before


@pytest.mark.parametrize("make_error", FAILURES.values(), ids=FAILURES.keys())
def test_when_saving_the_call_fails_the_caller_hears_the_fallback_and_nothing_half_saved(
    line: Line, make_error: Callable[[str], Exception]
) -> None:
    call = started_call(line)
    before = line.table.item(call.session_id)

    with failing(line.client, "PutItem", make_error("PutItem")) as attempts:
        reply = call.deliver("user_speak", text="book it, please")

    # Only a write that surely was not applied (refused as throttled, or never sent because
    # the endpoint could not be reached) is safe to send again.
    error = make_error("PutItem")
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    unsent = isinstance(error, EndpointConnectionError)
    assert attempts == ["PutItem"] * (2 if code in THROTTLE_CODES or unsent else 1)
    assert reply.status == 200
    assert reply.said == [line.assistant.fallback]
    assert line.table.item(call.session_id) == before
    # The next turn works again and the call goes on from the last saved state.
    assert call.deliver("user_speak", text="hello again").said == ["You said: hello again"]
    assert line.table.doc(call.session_id)["state"]["turns"] == 2


def test_a_throttled_read_stubbed_in_botocore_gets_the_fallback(line: Line) -> None:
    call = line.call(caller=CALLER)

    with Stubber(line.client) as stub:
        stub.add_client_error(
            "get_item",
            service_error_code="ProvisionedThroughputExceededException",
            service_message="The level of configured provisioned throughput was exceeded",
            http_status_code=400,
        )
        reply = call.deliver("session_start")
        stub.assert_no_pending_responses()

    assert reply.status == 200
    assert reply.said == [line.assistant.fallback]
    assert line.ran == []


def test_a_throttled_write_stubbed_in_botocore_gets_the_fallback(line: Line) -> None:
    call = line.call(caller=CALLER)

    with Stubber(line.client) as stub:
        stub.add_response("get_item", {})  # no record yet: a new call
        stub.add_client_error(
            "put_item", service_error_code="ThrottlingException", http_status_code=400
        )
        reply = call.deliver("session_start")
        stub.assert_no_pending_responses()

    assert reply.status == 200
    assert reply.said == [line.assistant.fallback]
    assert line.table.items() == []


def test_session_start_and_session_end_during_an_outage_are_answered_without_5xx(
    line: Line,
) -> None:
    call = line.call(caller=CALLER)
    outage = EndpointConnectionError(endpoint_url="https://dynamodb.eu-central-1.amazonaws.com")

    with failing(line.client, "GetItem", outage):
        start = call.deliver("session_start")
        end = call.deliver("session_end")

    assert start.status == 200
    assert start.said == [line.assistant.fallback]
    assert end.status == 204


def test_events_nobody_waits_on_get_no_fallback_speech_in_an_outage(line: Line) -> None:
    call = line.call(caller=CALLER)
    outage = EndpointConnectionError(endpoint_url="https://dynamodb.eu-central-1.amazonaws.com")

    with failing(line.client, "GetItem", outage) as attempts:
        replies = [call.deliver("assistant_speak"), call.deliver("user_speech_started")]

    # The framework reads the call for them (playback, interruptions), but a failure to is
    # nothing the caller should hear about.
    assert [r.status for r in replies] == [204, 204]
    assert set(attempts) == {"GetItem"}


def test_a_handler_bug_gets_the_fallback_and_the_call_goes_on(line: Line) -> None:
    call = started_call(line, raise_errors=False)
    version = line.table.version(call.session_id)

    reply = call.deliver("user_speak", text=f"please {MAGIC_WORD} now")

    assert reply.status == 200
    assert reply.said == [line.assistant.fallback]
    doc = line.table.doc(call.session_id)
    assert doc["state"]["turns"] == 1  # the failed turn changed no state
    assert doc["history"][-1] == {**doc["history"][-1], "role": "assistant"}
    assert doc["history"][-1]["text"] == line.assistant.fallback
    assert line.table.version(call.session_id) == version + 1
    assert call.deliver("user_speak", text="sorry").said == ["You said: sorry"]


def test_a_handler_slower_than_the_turn_budget_gets_the_fallback_well_within_a_second(
    line: Line,
) -> None:
    line.rebuild(settings=Settings(turn_budget_ms=100))
    call = started_call(line)

    reply, seconds = elapsed(lambda: call.deliver("user_speak", text="something slow please"))

    assert reply.status == 200
    assert reply.said == [line.assistant.fallback]
    assert seconds < 0.5
    line.receptionist.unblock.set()
    assert call.deliver("user_speak", text="and now?").said == ["You said: and now?"]


def test_a_lambda_close_to_its_timeout_shortens_the_turn_budget(line: Line) -> None:
    line.rebuild(settings=Settings(turn_budget_ms=2500))
    call = started_call(line)
    almost_out_of_time = LocalContext(timeout_ms=450)  # 300 ms are kept for answering

    reply, seconds = elapsed(
        lambda: call.deliver("user_speak", text="slow again", context=almost_out_of_time)
    )

    assert reply.status == 200
    assert reply.said == [line.assistant.fallback]
    assert seconds < 0.5


def test_a_lambda_with_no_time_left_answers_the_fallback_at_once(line: Line) -> None:
    # Less than the 300 ms kept for answering: a budget of 0, not the default 2.5 s.
    line.rebuild(settings=Settings(turn_budget_ms=2500))
    call = started_call(line)

    reply, seconds = elapsed(
        lambda: call.deliver("user_speak", text="slow again", context=LocalContext(timeout_ms=250))
    )

    line.receptionist.unblock.set()
    assert reply.status == 200
    assert reply.said == [line.assistant.fallback]
    assert seconds < 0.5


# --- what botocore does on a real throttle or a dead endpoint ---------------------------------


def throttled_response(request: Any, **_: Any) -> AWSResponse:
    """A DynamoDB throttling answer at the HTTP level, so botocore's retries do apply."""
    body = json.dumps(
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "message": "The level of configured provisioned throughput was exceeded",
        }
    ).encode()

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    response = AWSResponse(request.url, 400, {"content-type": "application/x-amz-json-1.0"}, Raw())
    response._content = body
    return response


@pytest.mark.slow  # botocore's retries take a few seconds
def test_a_throttled_table_still_answers_the_caller_within_the_turn_budget(line: Line) -> None:
    store = DynamoDBStore(line.table.name)  # the store's own client, as in Lambda
    line.rebuild(settings=Settings(turn_budget_ms=500), store=store)
    call = line.call(caller=CALLER)
    store.client.meta.events.register_first("before-send.dynamodb.GetItem", throttled_response)
    saved = random.getstate()
    random.seed(22)  # botocore's backoff jitter comes from the random module
    try:
        reply, seconds = elapsed(lambda: call.deliver("session_start"))
    finally:
        random.setstate(saved)

    assert reply.status == 200
    assert reply.said == [line.assistant.fallback]
    assert seconds < 1.0


class UnresponsiveEndpoint:
    """A TCP port on loopback that accepts connections and never answers."""

    def __init__(self) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self._server.settimeout(0.05)
        self._accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                self._accepted.append(self._server.accept()[0])
            except OSError:
                continue

    def close(self) -> None:
        """Drop every connection and stop listening: waiting clients fail at once."""
        self._stop.set()
        self._thread.join()
        for conn in self._accepted:
            conn.close()
        self._server.close()


@pytest.mark.slow
def test_an_unresponsive_dynamodb_endpoint_still_gets_the_caller_an_answer(
    line: Line, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = UnresponsiveEndpoint()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint.url)
    store = DynamoDBStore(line.table.name)  # the store's own client, as in Lambda
    assert store.client.meta.endpoint_url == endpoint.url
    line.rebuild(settings=Settings(turn_budget_ms=500), store=store)
    call = line.call(caller=CALLER)
    replies: list[Any] = []
    worker = threading.Thread(target=lambda: replies.append(call.deliver("session_start")))
    worker.daemon = True

    worker.start()
    try:
        worker.join(timeout=3.0)
        answered = list(replies)
    finally:
        endpoint.close()  # lets the stuck request fail, so no thread outlives the test
        worker.join(timeout=10)

    assert answered, "no answer within 3 s (the platform would give up on the call)"
    assert answered[0].status == 200
    assert answered[0].said == [line.assistant.fallback]
