"""Assistants that scenarios name (``assistant: tests.scenarios.assistants:<name>``).

The shipped receptionist transfers callers only during opening hours; a scenario about
transfers must not depend on the time it runs, so it calls this always-open twin.
"""

from aiflow import Assistant, Call
from receptionist.app import build_assistant
from receptionist.config import load_config

_config = load_config()

receptionist_always_open = build_assistant(
    _config.model_copy(
        update={"transfer": _config.transfer.model_copy(update={"only_when_open": False})}
    )
)

# An outbound call: the code that dialled it attached the appointment (aiflow.outbound.dial).
appointment_reminder = Assistant("appointment-reminder")


@appointment_reminder.on_session_start
def remind(call: Call) -> str:
    if call.outbound is None:
        return "Praxis Dr. Weber, Terminerinnerungen."
    when = call.outbound.data["when"]
    return f"Guten Tag, hier ist die Praxis Dr. Weber. Ihr Termin ist am {when}."
