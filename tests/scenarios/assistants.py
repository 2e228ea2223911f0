"""Assistants that scenarios name (``assistant: tests.scenarios.assistants:<name>``).

The shipped receptionist transfers callers only during opening hours; a scenario about
transfers must not depend on the time it runs, so it calls this always-open twin.
"""

from aiflow import Assistant, Call
from aiflow.routing import Router
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


# Two numbers, two assistants, one deployment: the practice line and its pizza-loving twin.
pizza_line = Assistant("pizza-line")


@pizza_line.on_session_start
def pizza_greeting() -> str:
    return "Pizza Roma, what would you like?"


@pizza_line.on_user_speak
def pizza_order(call: Call) -> str:
    call.state["pizzas"] = call.state.get("pizzas", 0) + 1
    return f"{call.state['pizzas']} pizza(s) so far."


two_lines = Router(
    {"+4921198765400": receptionist_always_open, "+4921198765499": pizza_line},
    name="two-lines",
)
