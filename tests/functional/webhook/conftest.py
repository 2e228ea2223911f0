"""The serverless webhook as API Gateway and Lambda run it, on a DynamoDB table in moto.

Every test plays the AI Flow platform with :class:`aiflow.testing.CallSimulator` on the
Lambda handler: each event becomes the API Gateway HTTP API (payload 2.0) event of a POST
and is delivered with a Lambda context, exactly as API Gateway would; ``deliver`` sends one
event and nothing else, ``post`` any request at all (bad bodies, other headers, routes). The
table is created from ``template.yaml``, so the tests exercise the item layout the stack
deploys.

Nothing here needs AWS credentials or network access: ``moto.mock_aws`` answers every AWS
request in process.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from aiflow import (
    Assistant,
    Call,
    DtmfReceivedEvent,
    UserSpeakEvent,
    after_speech,
    barge_in,
    hangup,
    speak,
    transfer,
)
from aiflow.lambda_ import Settings, lambda_handler
from aiflow.local.template import create_tables
from aiflow.store.dynamodb import DynamoDBStore, item_doc
from aiflow.testing import CallOptions, CallSimulator

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "template.yaml"
EVENTS_DIR = REPO / "infra" / "events"
TOKEN = "local-dev-token-0123"
CALLER = "+4917612345678"
TRANSFER_TARGET = "+4930123456789"
MAGIC_WORD = "kaboom"
FAKE_AWS_ENV = {
    "AWS_DEFAULT_REGION": "eu-central-1",
    "AWS_REGION": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}
# Anything that could point the tests at a real account, a real endpoint or other settings.
CLEARED_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_LAMBDA_FUNCTION_NAME",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_DEV",
    "AIFLOW_TABLE_NAME",
    "AIFLOW_API_TOKEN",
    "AIFLOW_TOKEN_SECRET",
    "AIFLOW_TOKEN_CACHE_SECONDS",
    "AIFLOW_MAX_BODY_BYTES",
    "AIFLOW_CALL_TTL_SECONDS",
    "AIFLOW_TURN_BUDGET_MS",
    "AIFLOW_LOG_REDACT",
    "AIFLOW_WORKER_FUNCTION",
)
_names = itertools.count(1)


# --- the test assistant -----------------------------------------------------------------------


@dataclass
class Receptionist:
    """A tiny assistant for the tests, plus a record of every handler that ran.

    It greets, echoes, says goodbye and hangs up on "goodbye", transfers on "operator",
    reads a menu (two speaks) on "menu", defers a second sentence on "two things", raises
    on the magic word, stalls on "slow", and counts the caller's turns in its state.
    """

    assistant: Assistant
    ran: list[tuple[str, Any]] = field(default_factory=list)
    resumes: list[tuple[bool, str | None]] = field(default_factory=list)
    unblock: threading.Event = field(default_factory=threading.Event)
    slow_seconds: float = 5.0


def build_receptionist(name: str | None = None) -> Receptionist:
    # A fresh name per assistant: Powertools keeps one logger per service name, bound to the
    # stdout of the moment it was created, and capsys replaces stdout per test.
    assistant = Assistant(name or f"webhook-test-{next(_names)}-{uuid.uuid4().hex[:6]}")
    rec = Receptionist(assistant)

    @assistant.on_session_start
    def greet(call: Call):
        rec.ran.append(("session_start", None))
        rec.resumes.append((call.resumed, call.previous_status))
        if call.resumed:
            return "Welcome back. The line was busy."
        call.state["turns"] = 0
        return "Hello, this is the test line. How can I help?"

    @assistant.on_user_speak
    def answer(event: UserSpeakEvent, call: Call):
        rec.ran.append(("user_speak", event.text))
        words = event.text.lower()
        if MAGIC_WORD in words:
            raise RuntimeError(f"handler bug while {call.caller} said {event.text!r}")
        if "slow" in words:
            rec.unblock.wait(rec.slow_seconds)
            return "That took a while."
        call.state["turns"] = call.state.get("turns", 0) + 1
        if "goodbye" in words:
            return ["Goodbye!", hangup()]
        if "operator" in words:
            return [
                "Connecting you to the operator.",
                transfer(
                    TRANSFER_TARGET,
                    caller_id_name="Test line",
                    caller_id_number="4921155555555",
                    timeout=20,
                ),
            ]
        if "menu" in words:
            return ["Press 1 for sales.", "Press 2 for support."]
        if "two things" in words:
            return ["First thing.", after_speech(barge_in(), speak("Second thing."))]
        return f"You said: {event.text}"

    @assistant.on_dtmf
    def key(event: DtmfReceivedEvent):
        rec.ran.append(("dtmf_received", event.digit))
        return f"You pressed {event.digit}."

    @assistant.on_session_end
    def bye(call: Call):
        rec.ran.append(("session_end", None))
        return "Nobody hears this: session_end is always answered with 204."

    return rec


# --- the table and its requests -------------------------------------------------------------


class Table:
    """The DynamoDB table of call records, read directly (not through the store)."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name

    def clear(self) -> None:
        for item in self.items():
            self.client.delete_item(TableName=self.name, Key={"session_id": item["session_id"]})

    def items(self) -> list[dict[str, Any]]:
        return self.client.scan(TableName=self.name, ConsistentRead=True)["Items"]

    def item(self, session_id: str) -> dict[str, Any] | None:
        key = {"session_id": {"S": session_id}}
        found = self.client.get_item(TableName=self.name, Key=key, ConsistentRead=True)
        return found.get("Item")

    def doc(self, session_id: str) -> dict[str, Any]:
        item = self.item(session_id)
        assert item is not None, f"no call record for {session_id}"
        return item_doc(item)

    def pending(self, session_id: str) -> list[dict[str, Any]]:
        """The actions held back in the call record (until the awaited speech ended)."""
        return list((self.doc(session_id).get("pending") or {}).get("actions", []))

    def version(self, session_id: str) -> int:
        item = self.item(session_id)
        assert item is not None, f"no call record for {session_id}"
        return int(item["version"]["N"])


class Requests:
    """Counts the DynamoDB requests the webhook's boto3 client makes (and their parameters)."""

    def __init__(self, client: Any) -> None:
        self.operations: list[str] = []
        self.params: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        client.meta.events.register("before-parameter-build.dynamodb.*", self._params)
        client.meta.events.register("before-call.dynamodb.*", self._count)

    def _params(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.params.append((event_name.rsplit(".", 1)[-1], dict(params)))

    def _count(self, event_name: str, **_: Any) -> None:
        with self._lock:
            self.operations.append(event_name.rsplit(".", 1)[-1])

    def during(self, action: Callable[[], Any]) -> list[str]:
        """The operations made while ``action`` runs."""
        start = len(self.operations)
        action()
        return self.operations[start:]


# --- fixtures ---------------------------------------------------------------------------------


@dataclass
class Line:
    """Everything one test needs: the table, the store's client, the assistant, the handler."""

    client: Any
    table: Table
    store: DynamoDBStore
    receptionist: Receptionist
    handler: Any
    requests: Requests
    _handlers: list[Any] = field(default_factory=list)

    @property
    def assistant(self) -> Assistant:
        return self.receptionist.assistant

    @property
    def ran(self) -> list[tuple[str, Any]]:
        return self.receptionist.ran

    def call(
        self,
        *,
        caller: str = CALLER,
        token: str | None = TOKEN,
        session_id: str | None = None,
        raise_errors: bool = True,
        quiet_logs: bool = True,
    ) -> CallSimulator:
        """A new call to the current handler (``token=None``: no token header at all;
        ``raise_errors=False`` for a test of the fallback a handler bug gets)."""
        options = CallOptions(caller=caller, session_id=session_id)
        return CallSimulator(
            self.handler,
            token=token,
            options=options,
            raise_errors=raise_errors,
            quiet_logs=quiet_logs,
        )

    def rebuild(
        self,
        *,
        settings: Settings | None = None,
        token: Any = TOKEN,
        store: Any = None,
        receptionist: Receptionist | None = None,
    ) -> Any:
        """Replace the handler (another token, other settings, another store)."""
        if receptionist is not None:
            self.receptionist.unblock.set()
            self.receptionist = receptionist
        kwargs: dict[str, Any] = {"store": store or self.store}
        if settings is not None:
            kwargs["settings"] = settings  # else Settings.from_env(), the Lambda default
        if token is not None:
            kwargs["token"] = token
        self.handler = lambda_handler(self.assistant, **kwargs)
        self._handlers.append(self.handler)
        return self.handler


@dataclass
class World:
    """The AWS account of this test package: moto, with the tables of ``template.yaml``."""

    reader: Any
    tables: dict[str, str]


@pytest.fixture(scope="package")
def world() -> Iterator[World]:
    """Dummy credentials, a fixed region and every AWS request answered by moto.

    One mock for the whole package: starting moto resets boto3's default session, and
    building clients on a fresh session costs more than the tests themselves. Each test
    still starts from an empty table (see ``line``).
    """
    with pytest.MonkeyPatch.context() as env:
        for name in CLEARED_ENV:
            env.delenv(name, raising=False)
        for name, value in FAKE_AWS_ENV.items():
            env.setenv(name, value)
        with mock_aws():
            reader = boto3.client("dynamodb")
            yield World(reader=reader, tables=create_tables(reader, TEMPLATE))


@pytest.fixture
def line(world: World) -> Iterator[Line]:
    """An empty call table, a DynamoDB store on it and the Lambda handler of a new assistant."""
    parameters.clear_caches()  # the Secrets Manager token cache lives in the module
    table = Table(world.reader, world.tables["CallsTable"])
    table.clear()
    # The webhook gets a client of its own, so counting its requests counts only its own and
    # hooks a test adds to it (failures, stubs) end with the test.
    client = boto3.client("dynamodb")
    store = DynamoDBStore(table.name, client=client)
    aiflow_logger = logging.getLogger("aiflow")
    saved_logger = (list(aiflow_logger.handlers), aiflow_logger.propagate, aiflow_logger.level)
    line = Line(
        client=client,
        table=table,
        store=store,
        receptionist=build_receptionist(),
        handler=None,
        requests=Requests(client),
    )
    line.rebuild()
    try:
        yield line
    finally:
        line.receptionist.unblock.set()
        for handler in line._handlers:
            engine = getattr(handler, "engine", None)
            if engine is not None:
                engine.close()
        parameters.clear_caches()
        # The Lambda transport configures process-wide logging; leave it as we found it.
        aiflow_logger.handlers[:] = saved_logger[0]
        aiflow_logger.propagate = saved_logger[1]
        aiflow_logger.setLevel(saved_logger[2])


@pytest.fixture
def call(line: Line) -> CallSimulator:
    """A call to the test assistant."""
    return line.call()


def elapsed(action: Callable[[], Any]) -> tuple[Any, float]:
    """``action()`` and how long it took, in seconds."""
    started = time.perf_counter()
    result = action()
    return result, time.perf_counter() - started
