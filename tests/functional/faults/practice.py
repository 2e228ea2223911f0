"""The practice's line used by the fault tests: a greeting, a farewell with a hangup, a
handoff to the reception with a transfer, and Bedrock (behind its proxy) for the rest."""

from __future__ import annotations

import uuid
from typing import Any

from aiflow import Assistant, Call, UserSpeakEvent, hangup, transfer
from aiflow.agents import BedrockAgent

from .cloud import MODEL_ID

GREETING = "Praxis Dr. Weber, guten Tag. Wie kann ich Ihnen helfen?"
FAREWELL = "Vielen Dank für Ihren Anruf. Auf Wiederhören!"
HANDOFF = "Einen Moment, ich verbinde Sie mit dem Empfang."
RECEPTION = "+4921198765411"
LINE = "+4921198765400"
QUESTION = "Haben Sie heute Nachmittag geöffnet?"
MODEL_ANSWER = f"Zu Ihrer Frage: {QUESTION}"
# A model call that has not answered after this long fails (one attempt).
MODEL_READ_TIMEOUT_S = 4.0


def praxis(name: str | None = None) -> Assistant:
    """The practice's line (see the module docstring)."""
    agent = BedrockAgent(
        {
            "model_id": MODEL_ID,
            "system_prompt": "Sie sind die Telefonassistenz der Praxis Dr. Weber.",
            "language": "de",
            "read_timeout_s": MODEL_READ_TIMEOUT_S,
            "max_attempts": 1,
        }
    )
    # A fresh name per assistant: Powertools keeps one logger per service name, bound to the
    # stdout of the moment it was created.
    assistant = Assistant(name or f"praxis-{uuid.uuid4().hex[:8]}", language="de-DE")

    @assistant.on_session_start
    def greet() -> str:
        return GREETING

    @assistant.on_user_speak
    def answer(event: UserSpeakEvent, call: Call) -> Any:
        words = event.text.lower()
        if "tschüss" in words:
            return [FAREWELL, hangup()]
        if "empfang" in words:
            handoff = transfer(
                RECEPTION, caller_id_name="Praxis Weber", caller_id_number=LINE, timeout=20
            )
            return [HANDOFF, handoff]
        return agent.respond(call, event.text)

    return assistant
