"""A scripted call against an assistant, printed as a transcript (``make run`` until the
dev server exists)."""

from __future__ import annotations

import importlib
import sys
import uuid

from ..assistant import Assistant
from ..call import Call
from ..protocol.actions import SpeakAction
from ..protocol.events import parse_event

SCRIPT = ["Hello there", "What can you do?", "Bye"]


def run(assistant: Assistant, lines: list[str]) -> list[str]:
    """Play ``lines`` as caller turns and return the transcript lines."""
    session = {"id": str(uuid.uuid4()), "from_phone_number": "+4917612345678"}
    call: Call | None = None
    transcript: list[str] = []

    def send(body: dict[str, object]) -> None:
        nonlocal call
        event = parse_event({**body, "session": session})
        call = call or Call.from_session(event.session)
        for action in assistant.handle(event, call).actions:
            if isinstance(action, SpeakAction):
                transcript.append(f"assistant: {action.text or action.ssml}")
            else:
                transcript.append(f"assistant [{action.type}]")

    send({"type": "session_start"})
    for line in lines:
        transcript.append(f"caller:    {line}")
        send({"type": "user_speak", "text": line})
        send({"type": "assistant_speech_ended"})
    send({"type": "session_end"})
    return transcript


def main(argv: list[str] | None = None) -> int:
    """Run the scripted call against ``module:attribute`` (default: the README example)."""
    target = (argv or sys.argv[1:] or ["tests.examples.hello:assistant"])[0]
    module, _, attr = target.partition(":")
    assistant = getattr(importlib.import_module(module), attr or "assistant")
    print("\n".join(run(assistant, SCRIPT)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
