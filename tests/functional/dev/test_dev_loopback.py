"""`aiflow dev` as it serves, on loopback: a fallback and the handler's exception on the
event's line, the slow-turn worker in a thread, a Router, many connections at once, and
requests whose body cannot be read answered with a JSON 400."""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from rich.console import Console

from aiflow.dev.run import DevOptions, dev_server
from aiflow.local.server import DevServer
from aiflow.testing import CallOptions, CallSimulator

from .assistants import slow_state

TOKEN = "dev-loopback-token-0123"
Start = Callable[..., tuple[DevServer, Callable[[], str]]]

pytestmark = pytest.mark.slow


@pytest.fixture
def dev(monkeypatch: pytest.MonkeyPatch) -> Iterator[Start]:
    """``dev(target, budget_ms=None)``: `aiflow dev TARGET` on a free port; returns the
    server and a function giving what it printed so far."""
    monkeypatch.setenv("AIFLOW_API_TOKEN", TOKEN)
    monkeypatch.delenv("AIFLOW_TABLE_NAME", raising=False)  # calls in memory
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    servers: list[DevServer] = []

    def start(target: str, budget_ms: int | None = None) -> tuple[DevServer, Callable[[], str]]:
        if budget_ms is not None:
            monkeypatch.setenv("AIFLOW_TURN_BUDGET_MS", str(budget_ms))
        printed = io.StringIO()
        console = Console(file=printed, width=400, soft_wrap=True)
        server = dev_server(target, DevOptions(target=target, port=0), console).start()
        servers.append(server)
        return server, printed.getvalue

    yield start
    slow_state.gate.set()
    for server in servers:
        server.stop()


def line_of(printed: str, event: str) -> str:
    return next(line for line in printed.splitlines() if f"  {event} " in line)


# --- loud errors ------------------------------------------------------------------------------


def test_a_handler_exception_is_printed_on_the_events_line_with_its_traceback(
    dev: Start,
) -> None:
    server, printed = dev("tests.functional.dev.assistants:broken")

    with CallSimulator(server.webhook_url, token=TOKEN) as call:
        call.start()
        call.say("Will it rain?").expect.speak(contains="something went wrong")

    line = line_of(printed(), "user_speak")
    assert " 200 " in line
    assert "✗ fallback: RuntimeError: the weather service is down" in line
    after = printed().split(line, 1)[1]
    assert "Traceback (most recent call last)" in after
    assert "assistants.py" in after and "in answer" in after


def test_a_handler_returning_a_dict_is_named_by_file_and_line(dev: Start) -> None:
    server, printed = dev("tests.functional.dev.assistants:returns_a_dict")

    with CallSimulator(server.webhook_url, token=TOKEN) as call:
        call.start()

    line = line_of(printed(), "session_start")
    assert "✗ fallback: HandlerResultError: " in line
    assert "assistants.py:" in line and "greet): the handler returned dict" in line


def test_an_invalid_action_is_named_on_the_line(dev: Start) -> None:
    server, printed = dev("tests.functional.dev.assistants:wrong_voice")

    with CallSimulator(server.webhook_url, token=TOKEN) as call:
        call.start()

    line = line_of(printed(), "session_start")
    assert "✗ fallback: InvalidActionError: speak.tts:" in line and "elevenlabs" in line


def test_a_turn_without_trouble_has_a_plain_line(dev: Start) -> None:
    server, printed = dev("tests.examples.hello:assistant")

    with CallSimulator(server.webhook_url, token=TOKEN) as call:
        call.start()
        call.say("Hi")

    assert "✗" not in printed() and "Traceback" not in printed()
    assert " 200 " in line_of(printed(), "user_speak")


# --- the worker, several numbers --------------------------------------------------------------


def test_a_slow_handler_is_bridged_by_a_filler_and_answered_after_it(dev: Start) -> None:
    slow_state.gate.clear()
    slow_state.runs = 0
    server, printed = dev("tests.functional.dev.assistants:slow", budget_ms=200)
    # The platform plays each speech for as long as it lasts; meanwhile the worker runs.
    options = CallOptions(real_time=True)

    with CallSimulator(server.webhook_url, token=TOKEN, options=options) as call:
        call.start()
        turn = call.say("How is the weather?")

    heard = turn.spoken
    assert heard[0] == "One moment, please …"
    assert heard[-1] == "Sunny, 25 degrees."
    assert all("moment" in filler for filler in heard[:-1])
    assert "slow: the worker finishes the turn" in line_of(printed(), "user_speak")
    assert "user_speak (worker)" in printed() and "delivered" in printed()


def test_dev_serves_a_router_and_aiflow_call_picks_the_number(dev: Start) -> None:
    server, _ = dev("tests.functional.dev.assistants:numbers")

    for number, greeting in (("+4921198765400", "Good day."), ("+4921198765499", "Good night.")):
        options = CallOptions(called=number)
        with CallSimulator(server.webhook_url, token=TOKEN, options=options) as call:
            call.start().expect.speak(greeting)


# --- the HTTP server --------------------------------------------------------------------------


def session_start() -> bytes:
    event = {"type": "session_start", "session": {"id": str(uuid.uuid4()), "phone_number": "+49"}}
    return json.dumps(event).encode()


def test_fifty_connections_at_once_are_all_answered(dev: Start) -> None:
    server, _ = dev("tests.examples.hello:assistant")
    count = 50
    together = threading.Barrier(count)
    statuses: list[int | str] = []

    def place() -> None:
        connection = http.client.HTTPConnection(server.host, server.port, timeout=20)
        try:
            together.wait(10)
            connection.request(
                "POST",
                "/webhook",
                body=session_start(),
                headers={"Content-Type": "application/json", "X-API-TOKEN": TOKEN},
            )
            statuses.append(connection.getresponse().status)
        except OSError as exc:  # a reset connection, a refused one, a timeout
            statuses.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=place) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert statuses == [200] * count  # with the old backlog of 5: ConnectionResetError
    assert server.httpd.request_queue_size >= 128


def raw(server: DevServer, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send bytes exactly as given; the server closes the connection after its answer."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    top, _, content = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = top.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, content


def post_head(*headers: str) -> str:
    lines = ["POST /webhook HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("headers", "body", "code"),
    [
        (["Content-Length: abc"], b"{}", "bad_content_length"),
        (["Content-Length: -5"], b"{}", "bad_content_length"),
        ([], b"", "length_required"),
    ],
    ids=["content-length not a number", "negative content-length", "no content-length"],
)
def test_a_body_of_unknown_length_gets_a_json_400(
    dev: Start, headers: list[str], body: bytes, code: str
) -> None:
    server, _ = dev("tests.examples.hello:assistant")

    status, found, content = raw(
        server,
        post_head("Content-Type: application/json", f"X-API-TOKEN: {TOKEN}", *headers),
        body,
    )

    assert status == 400
    assert found["content-type"] == "application/json"
    assert json.loads(content)["code"] == code


def test_a_body_that_is_not_utf8_gets_the_webhooks_json_400(dev: Start) -> None:
    server, _ = dev("tests.examples.hello:assistant")
    body = b'{"type": "user_speak", "text": "caf\xe9 \xff", "session": {"id": "abc"}}'

    status, found, content = raw(
        server,
        post_head(
            "Content-Type: application/json",
            f"X-API-TOKEN: {TOKEN}",
            f"Content-Length: {len(body)}",
        ),
        body,
    )

    assert status == 400
    assert found["content-type"] == "application/json"
    assert json.loads(content)["code"] == "not_json"


def test_a_chunked_body_is_read(dev: Start) -> None:
    server, _ = dev("tests.examples.hello:assistant")
    body = session_start()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)

    status, _, content = raw(
        server,
        post_head(
            "Content-Type: application/json",
            f"X-API-TOKEN: {TOKEN}",
            "Transfer-Encoding: chunked",
        ),
        chunked,
    )

    assert status == 200
    assert json.loads(content)["text"] == "Hello! Say something."
