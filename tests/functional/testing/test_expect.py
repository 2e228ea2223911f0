"""The expect cursor: a failing expectation shows the whole turn, where it failed, and
expected versus heard."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiflow import Assistant, azure, speak, transfer
from aiflow.testing import CallSimulator, TurnResult
from tests.examples.hello import assistant as hello


@pytest.fixture
def goodbye() -> Iterator[TurnResult]:
    """The hello assistant's answer to "bye": speak "Goodbye!", then hangup."""
    with CallSimulator(hello) as call:
        call.start()
        yield call.say("bye")


def failure_of(check: object) -> str:
    """Run ``check`` (a zero-argument callable) and return its AssertionError message."""
    with pytest.raises(AssertionError) as failure:
        check()  # type: ignore[operator]
    return str(failure.value)


def test_a_wrong_text_shows_the_turn_and_a_diff_of_expected_versus_heard(
    goodbye: TurnResult,
) -> None:
    message = failure_of(lambda: goodbye.expect.speak("Goodbye?"))

    assert message.splitlines()[0].startswith(
        'turn 2 (caller says \'bye\'): expected speak "Goodbye?", heard speak "Goodbye!"'
    )
    assert '    caller   user_speak text="bye"' in message
    assert '>>>       1. speak "Goodbye!"' in message
    assert "          2. hangup" in message
    assert message.splitlines()[-4:] == [
        "- expected: Goodbye?",
        "?                  ^",
        "+ heard:    Goodbye!",
        "?                  ^",
    ]


def test_contains_ignores_case_and_shows_the_missing_part(goodbye: TurnResult) -> None:
    goodbye.expect.speak(contains="GOODBYE")

    message = failure_of(lambda: goodbye.expect.speak(contains="Auf Wiederhören"))

    assert 'expected speak containing "Auf Wiederhören"' in message
    assert message.splitlines()[-2:] == ["- expected: … Auf Wiederhören …", "+ heard:    Goodbye!"]


def test_a_regex_must_be_found_in_the_text(goodbye: TurnResult) -> None:
    goodbye.expect.speak(regex=r"^Good\w+!$")

    message = failure_of(lambda: goodbye.expect.speak(regex=r"\d+"))

    assert "expected speak matching /\\d+/" in message


def test_an_action_of_another_type_is_marked(goodbye: TurnResult) -> None:
    message = failure_of(lambda: goodbye.expect.speak().speak())

    assert "expected speak, heard hangup" in message
    assert ">>>       2. hangup" in message


def test_a_missing_action_points_at_the_end_of_the_turn(goodbye: TurnResult) -> None:
    message = failure_of(lambda: goodbye.expect.speak().hangup().transfer())

    assert "expected transfer, heard nothing (end of the turn)" in message
    assert ">>>       (end of the turn: no more actions)" in message


def test_an_extra_action_fails_no_more_actions_and_is_marked(goodbye: TurnResult) -> None:
    message = failure_of(lambda: goodbye.expect.speak().no_more_actions())

    assert "expected no more actions, heard hangup" in message
    assert ">>>       2. hangup" in message


def test_nothing_means_the_turn_had_no_action_at_all(goodbye: TurnResult) -> None:
    message = failure_of(lambda: goodbye.expect.nothing())

    assert "expected no action (204)" in message


def test_voice_barge_in_and_timeout_are_checked() -> None:
    desk = Assistant("desk", voice=azure("de-DE-KatjaNeural", "de-DE"), user_input_timeout=7)

    @desk.on_session_start
    def greet() -> object:
        return speak("Hallo", barge_in=barge_in_policy())

    with CallSimulator(desk) as call:
        turn = call.start()

    turn.expect.speak("Hallo", voice="de-DE-KatjaNeural", barge_in="immediate", timeout=7)
    message = failure_of(lambda: turn.expect.speak(voice="de-DE-ConradNeural"))
    assert message.splitlines()[-2:] == [
        "- expected: voice de-DE-ConradNeural",
        "+ heard:    voice de-DE-KatjaNeural",
    ]
    assert "[azure:de-DE-KatjaNeural de-DE · barge-in immediate · waits 7 s]" in message
    message = failure_of(lambda: turn.expect.speak(barge_in="none"))
    assert message.splitlines()[-2:] == [
        "- expected: barge-in none",
        "+ heard:    barge-in immediate",
    ]


def barge_in_policy() -> object:
    from aiflow import BargeInPolicy

    return BargeInPolicy(strategy="immediate")


def test_a_wrong_transfer_target_shows_both_numbers() -> None:
    desk = Assistant("desk")

    @desk.on_session_start
    def put_through() -> object:
        return transfer("+49 211 111", caller_id_name="Desk", caller_id_number="+49211100")

    with CallSimulator(desk) as call:
        turn = call.start()

    turn.expect.transfer("0049 211 111")
    message = failure_of(lambda: turn.expect.transfer("+49 211 222"))
    assert message.splitlines()[-2:] == ["- expected: 49211222", "+ heard:    49211111"]


def test_a_generic_action_compares_wire_fields(goodbye: TurnResult) -> None:
    goodbye.expect.skip().action("hangup")

    message = failure_of(lambda: goodbye.expect.action("speak", text="Bye"))

    assert message.splitlines()[-2:] == ['- expected: text="Bye"', '+ heard:    text="Goodbye!"']


def test_a_turn_over_its_latency_budget_fails_with_the_time(goodbye: TurnResult) -> None:
    goodbye.expect.within(5000)

    message = failure_of(lambda: goodbye.expect.within(0.0001))

    assert "turn 2 (says 'bye'): the answer took" in message
    assert "the budget is 0.0001 ms" in message


def test_the_framework_frames_are_hidden_from_the_traceback(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_call="""
        from aiflow import Assistant
        from aiflow.testing import CallSimulator

        assistant = Assistant("hi")

        @assistant.on_session_start
        def greet():
            return "Hallo!"

        def test_greeting():
            with CallSimulator(assistant) as call:
                call.start().expect.speak(contains="Servus")
        """
    )

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")

    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert '>>>       1. speak "Hallo!"' in output
    assert "- expected: … Servus …" in output
    assert "aiflow/testing/expect.py" not in output
    assert "aiflow/testing/simulator.py" not in output
