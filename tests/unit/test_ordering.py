"""Hangup and transfer wait for the speech before them: given these events, the caller hears
the whole farewell before the line goes dead."""

from aiflow import Assistant, BargeInPolicy, Call, hangup, parse_event, speak

SESSION = {"id": "0b6a1f5e-1111-4c2d-9e3f-000000000001"}


def send(assistant: Assistant, call: Call, kind: str, **fields: object) -> list[dict]:
    reply = assistant.handle(parse_event({"type": kind, "session": SESSION, **fields}), call)
    call.is_new = False
    return [a.to_wire() for a in reply.actions]


def make(result: object) -> tuple[Assistant, Call]:
    assistant = Assistant("ordering")

    @assistant.on_user_speak
    def answer() -> object:
        return result

    return assistant, Call(SESSION["id"])


def test_a_hangup_after_two_sentences_waits_for_the_end_of_the_second() -> None:
    assistant, call = make(["Thanks for calling.", "Goodbye!", hangup()])
    heard = send(assistant, call, "user_speak", text="bye")
    assert [a["text"] for a in heard] == ["Thanks for calling.", "Goodbye!"]
    assert send(assistant, call, "assistant_speech_ended") == []  # the first sentence ended
    assert send(assistant, call, "assistant_speech_ended") == [
        {"type": "hangup", "session_id": SESSION["id"]}
    ]
    assert call.pending == [] and call.pending.awaiting == []


def test_a_silence_releases_the_pending_hangup_at_once() -> None:
    assistant, call = make(["One.", "Two.", hangup()])
    send(assistant, call, "user_speak", text="bye")
    assert send(assistant, call, "user_input_timeout") == [
        {"type": "hangup", "session_id": SESSION["id"]}
    ]


def test_a_farewell_before_a_hangup_cannot_be_interrupted_unless_the_handler_says_so() -> None:
    assistant, call = make(["Goodbye!", hangup()])
    assert send(assistant, call, "user_speak", text="bye")[0]["barge_in"] == {"strategy": "none"}

    explicit = speak("Bye!", barge_in=BargeInPolicy(strategy="immediate"))
    assistant, call = make([explicit, hangup()])
    assert send(assistant, call, "user_speak", text="bye")[0]["barge_in"] == {
        "strategy": "immediate"
    }


def test_speech_without_a_following_hangup_keeps_the_assistant_default() -> None:
    assistant, call = make("Sure.")
    assert "barge_in" not in send(assistant, call, "user_speak", text="hi")[0]


def test_the_awaited_speeches_survive_a_save_and_load() -> None:
    assistant, call = make(["One.", "Two.", hangup()])
    send(assistant, call, "user_speak", text="bye")
    restored = Call.from_doc(call.to_doc())
    assert restored.pending.awaiting == ["one.", "two."]
    assert [a.type for a in restored.pending] == ["hangup"]
