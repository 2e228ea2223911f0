"""CallSimulator plays more of the platform: handler errors raised in the test, slow turns
finished by the worker in process, WebSocket calls without a socket, outbound calls, several
numbers, transfers that connect, a fake clock moved by playback, and quiet logs."""

from __future__ import annotations

import ast
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from aiflow import (
    Assistant,
    Call,
    FakeClock,
    HandlerResultError,
    InvalidActionError,
    UserSpeakEvent,
    speak,
    streaming,
    transfer,
)
from aiflow.lambda_ import Settings, websocket_handler
from aiflow.routing import Router
from aiflow.store import MemoryStore
from aiflow.testing import CallOptions, CallSimulator, SimulatorError
from tests.examples.hello import assistant as hello

AIFLOW = Path(__file__).resolve().parents[3] / "functions" / "aiflow"
QUICK = Settings(turn_budget_ms=100)  # a handler slower than this gets a filler


def weather_line(wait: Any) -> Assistant:
    """Answers the weather after ``wait()`` returns."""
    line = Assistant(f"weather-{uuid.uuid4().hex[:6]}")

    @line.on_session_start
    def greet() -> str:
        return "Weather line."

    @line.on_user_speak
    def answer(event: UserSpeakEvent) -> str:
        wait()
        return "Sunny, 25 degrees."

    return line


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Holds a handler until the test releases it (released at the end in any case)."""
    event = threading.Event()
    yield event
    event.set()


# --- loud errors ---------------------------------------------------------------------------


def test_a_handler_that_raises_fails_the_test_with_its_exception() -> None:
    broken = Assistant("broken-line")

    @broken.on_user_speak
    def answer(event: UserSpeakEvent) -> str:
        raise KeyError(f"no answer for {event.text}")

    with CallSimulator(broken) as call:
        call.start()
        with pytest.raises(KeyError, match="no answer for Hi") as raised:
            call.say("Hi")

    (note,) = raised.value.__notes__
    assert "test_simulator_platform.py" in note and "in answer" in note
    assert "turn 2" in note and "raise_errors=False" in note


def test_a_handler_returning_a_dict_is_named_by_file_and_line() -> None:
    wrong = Assistant("dict-line")

    @wrong.on_session_start
    def greet() -> dict[str, str]:
        return {"type": "speak", "text": "Hi"}

    with CallSimulator(wrong) as call, pytest.raises(HandlerResultError) as raised:
        call.start()

    assert "test_simulator_platform.py" in str(raised.value)
    assert "greet): the handler returned dict" in str(raised.value)


def test_an_invalid_action_fails_the_test_naming_the_problem() -> None:
    wrong = Assistant("voice-line")

    @wrong.on_session_start
    def greet() -> Any:
        return speak("Hi", tts={"provider": "elevenlabs", "voice": "Rachel"})

    with CallSimulator(wrong) as call, pytest.raises(InvalidActionError, match="elevenlabs"):
        call.start()


# --- slow turns and the worker ---------------------------------------------------------------


def test_a_slow_turn_is_a_filler_then_the_workers_answer(gate: threading.Event) -> None:
    runs: list[str] = []

    def first_run_is_slow() -> None:
        runs.append("run")
        if len(runs) == 1:
            gate.wait(5)  # the webhook's run outlives the budget; the worker's is quick

    with CallSimulator(weather_line(first_run_is_slow), settings=QUICK) as call:
        call.start()
        turn = call.say("How is the weather?")

    turn.expect.speak("One moment, please …").speech_ended().speak(
        "Sunny, 25 degrees."
    ).speech_ended().no_more_actions()
    assert turn.exchanges[0].reports[0].deferred
    assert len(runs) == 2


def test_the_test_says_when_the_worker_runs(gate: threading.Event) -> None:
    options = CallOptions(worker="manual")
    with CallSimulator(weather_line(lambda: gate.wait(5)), settings=QUICK, options=options) as call:
        call.start()
        call.say("How is the weather?").expect.speak("One moment, please …").no_more_actions()
        assert call.playing is not None  # the filler plays until the worker is done

        gate.set()
        call.run_worker().expect.speak("Sunny, 25 degrees.").no_more_actions()
        with pytest.raises(SimulatorError, match="no slow turn"):
            call.run_worker()


def test_without_a_worker_a_slow_turn_gets_the_fallback(gate: threading.Event) -> None:
    options = CallOptions(worker="off")
    with CallSimulator(weather_line(lambda: gate.wait(5)), settings=QUICK, options=options) as call:
        call.start()
        turn = call.say("How is the weather?")

    turn.expect.speak(contains="something went wrong")
    assert turn.exchanges[0].fallback == "turn_timeout"


# --- WebSocket -------------------------------------------------------------------------------


def storyteller() -> Assistant:
    teller = Assistant(f"storyteller-{uuid.uuid4().hex[:6]}")

    @teller.on_session_start
    def greet() -> str:
        return "Hello, listener."

    @teller.on_user_speak
    @streaming
    def tell(event: UserSpeakEvent) -> Iterator[str]:
        yield "Once upon a time."
        yield "There was a phone."
        yield "The end."

    return teller


def test_a_websocket_call_runs_in_process_frame_by_frame() -> None:
    with CallSimulator(storyteller(), transport="websocket") as call:
        call.start().expect.speak("Hello, listener.")
        turn = call.say("Tell me a story")

    assert call.target.startswith("in-process WebSocket")
    assert turn.spoken == ["Once upon a time.", "There was a phone.", "The end."]
    (report,) = turn.exchanges[0].reports
    assert report.frames >= 2  # streamed: not one answer at the end


def test_the_websocket_handler_itself_can_be_called() -> None:
    token = "websocket-token-0123"
    handler = websocket_handler(
        storyteller(), store=MemoryStore(), token=token, settings=Settings()
    )
    with CallSimulator(handler, token=token) as call:
        call.start().expect.speak("Hello, listener.")
    with CallSimulator(handler, token="not-the-token-0123") as refused:
        refused.start().expect.status(401).nothing()


# --- outbound calls and several numbers ------------------------------------------------------


def reminder() -> Assistant:
    line = Assistant("reminder")

    @line.on_session_start
    def greet(call: Call) -> str:
        if call.direction == "outbound" and call.outbound is not None:
            return f"Hello {call.outbound.data['patient']}, about {call.outbound.data['when']}."
        return "Reminder line."

    return line


def test_an_outbound_call_sees_the_data_attached_to_it() -> None:
    options = CallOptions(
        direction="outbound",
        caller="+4915790000687",
        outbound_data={"patient": "Ms Weber", "when": "Monday 9:30"},
    )
    with CallSimulator(reminder(), options=options) as call:
        turn = call.start()
        stored = call.stored

    turn.expect.speak("Hello Ms Weber, about Monday 9:30.")
    session = turn.exchanges[0].event["session"]
    assert session["direction"] == "outbound"
    assert session["phone_number"] == session["from_phone_number"] == options.called
    assert session["to_phone_number"] == "+4915790000687"
    assert stored.direction == "outbound"
    assert stored.outbound is not None and stored.outbound.to == "+4915790000687"


def test_an_inbound_call_to_the_same_assistant_has_no_outbound_data() -> None:
    with CallSimulator(reminder()) as call:
        call.start().expect.speak("Reminder line.")


def test_a_router_answers_each_number_with_its_assistant() -> None:
    day, night = Assistant("day"), Assistant("night")
    day.on_session_start(lambda: "Good day.")
    night.on_session_start(lambda: "Good night.")
    router = Router({"+49 211 98765400": day, "+49 211 98765499": night})

    for number, greeting in (("+4921198765400", "Good day."), ("+4921198765499", "Good night.")):
        with CallSimulator(router, options=CallOptions(called=number)) as call:
            call.start().expect.speak(greeting)
            assert call.stored.assistant == greeting.split()[1].rstrip(".")


# --- transfers, the clock, logs ------------------------------------------------------------


def operator() -> Assistant:
    line = Assistant("operator")
    line.on_session_start(lambda: "Operator.")

    @line.on_user_speak
    def put_through() -> list[Any]:
        put = transfer("+49 211 1234567", caller_id_name="Desk", caller_id_number="+4921100")
        return ["Connecting you.", put]

    return line


def test_a_transfer_that_connects_ends_the_call_as_a_transfer() -> None:
    with CallSimulator(operator()) as call:
        call.start()
        call.say("A person, please").expect.speak().speech_ended().transfer()
        answered = call.complete_transfer()

    answered.expect.nothing()
    assert [(e.by, e.event["type"], e.status) for e in answered.exchanges] == [
        ("platform", "session_end", 204)
    ]

    assert call.ended_by == "transferred to 492111234567"
    transcript = call.transcript()
    assert transcript["ended_by"] == "transferred to 492111234567"
    assert transcript["conversation"][-1]["text"] == "transferred to 492111234567"


def test_leaving_the_block_during_a_transfer_records_the_transfer() -> None:
    with CallSimulator(operator()) as call:
        call.start()
        call.say("A person, please")

    assert call.ended_by == "transferred to 492111234567"


def test_playback_moves_a_fake_clock_by_the_length_of_the_speech() -> None:
    clock = FakeClock(1_767_690_000_000)
    with CallSimulator(hello, clock=clock) as call:
        turn = call.start()
        started = turn.exchanges[1].event
        after = clock.now_ms()
        greeting_at = call.stored.history[0].at

    assert started["speech_started_at"] == 1_767_690_000_000
    assert after == 1_767_690_000_000 + started["duration_ms"]
    assert greeting_at == 1_767_690_000_000  # the engine reads the same clock


@pytest.mark.parametrize("transport", ["http", "websocket"])
def test_in_process_the_framework_prints_nothing_to_stdout(
    capsys: pytest.CaptureFixture[str], transport: Literal["http", "websocket"]
) -> None:
    def place(quiet: bool) -> str:
        line = Assistant(f"quiet-{uuid.uuid4().hex[:6]}")  # a new Powertools logger
        line.on_session_start(lambda: "Hi.")
        with CallSimulator(line, quiet_logs=quiet, transport=transport) as call:
            call.start()
        return capsys.readouterr().out

    assert place(quiet=True) == ""
    assert '"request answered"' in place(quiet=False)  # what Lambda would log


def imports_of(path: Path, package: str) -> set[str]:
    """Every aiflow module ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            module = ".".join([*base, node.module] if node.module else base)
            if node.level == 0:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.startswith("aiflow.")}


def test_the_testing_modules_import_each_other_without_a_cycle() -> None:
    folders = ("testing", "local", "dev")
    modules = {
        f"aiflow.{folder}.{path.stem}": path
        for folder in folders
        for path in (AIFLOW / folder).glob("*.py")
        if path.stem != "__init__"
    }
    graph = {
        name: {m for m in imports_of(path, name.rsplit(".", 1)[0]) if m in modules}
        for name, path in modules.items()
    }

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start]:
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(name for name in graph if reaches(name, name, {name}))
    assert cycles == []
    assert "aiflow.testing.simulator" not in graph["aiflow.testing.expect"]


# --- over loopback ----------------------------------------------------------------------------


def test_an_assistant_can_be_called_over_real_http_on_loopback() -> None:
    broken = Assistant("loopback-line")
    broken.on_session_start(lambda: "Loopback line.")

    @broken.on_user_speak
    def answer(event: UserSpeakEvent) -> str:
        raise RuntimeError("down")

    with CallSimulator(broken, transport="loopback") as call:
        assert call.target.startswith("http://127.0.0.1:")
        call.start().expect.speak("Loopback line.").status(200)
        assert call.turns[0].exchanges[0].headers["content-type"] == "application/json"
        with pytest.raises(RuntimeError, match="down"):
            call.say("Hello?")
        assert call.stored.history[-1].text == broken.fallback
