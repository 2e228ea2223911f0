"""The built-in call tools: transfer, end the call, text the caller, ask for keypad digits.

They are ordinary :class:`~aiflow.agents.Tool` objects that return a
:class:`~aiflow.agents.ToolEffect` (or refuse with :class:`~aiflow.agents.ToolError`, so the
model can recover); :func:`call_tools` makes them from an agent's settings:

* ``transfer_call(target, handoff)``: ``target`` is an ``enum`` of the configured
  :class:`TransferTarget` names (matched ignoring case); the number always comes from the
  configuration, never from the model. Ends the turn: ``speak(handoff) + transfer(...)``.
* ``end_call(farewell)``: ends the turn with ``speak(farewell) + hangup()``.
* ``send_sms(message)``: a ``send_sms`` to the caller's own number (refused when it is
  withheld); the turn continues.
* ``collect_digits(prompt, max_digits)``: ends the turn with ``speak(prompt)``; the caller's
  keypad digits come next (see :mod:`aiflow.agents.digits`).

Their arguments are read leniently (a missing ``handoff`` or ``farewell`` gets the default
sentence, a bad ``max_digits`` the maximum), and the schemas the model sees are written out
here, short, because every description is sent with every model call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..call import Call
from ..errors import InvalidActionError
from ..protocol.actions import TransferAction, hangup, send_sms, transfer
from .digits import KEYPAD_PREFIX, MAX_DIGITS
from .errors import ToolError
from .tools import Tool, ToolEffect

BUILTIN_TOOLS = ("transfer_call", "end_call", "send_sms", "collect_digits")
"""The names of the call tools (reserved: a user tool cannot take them)."""

SMS_MAX_CHARS = 640


class TransferTarget(BaseModel):
    """A person or queue the model may transfer the caller to (by its name in the config).

    Also accepted in the config as a list ``[number, caller_id_name, caller_id_number,
    timeout]``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: str = Field(description="where to transfer, E.164")
    caller_id_name: str = Field(description="the name shown to the person called")
    caller_id_number: str = Field(description="the number shown to the person called")
    timeout: int | None = Field(
        None, ge=5, le=120, description="seconds; with it a failed transfer returns the caller"
    )
    description: str | None = Field(None, description="for the model: when to use this target")
    handoff: str | None = Field(
        None, description="fixed sentence before transferring (default: the model's own)"
    )

    @model_validator(mode="before")
    @classmethod
    def _from_sequence(cls, data: Any) -> Any:
        if isinstance(data, list | tuple):
            keys = ("number", "caller_id_name", "caller_id_number", "timeout")
            if not 3 <= len(data) <= 4:
                raise ValueError(
                    "a transfer target list is [number, caller_id_name, caller_id_number, timeout]"
                )
            return dict(zip(keys, data, strict=False))
        return data

    @model_validator(mode="after")
    def _valid_action(self) -> TransferTarget:
        self.action()  # a bad number fails when the config is loaded, not on a live call
        return self

    def action(self) -> TransferAction:
        """The ``transfer`` action for this target."""
        try:
            return transfer(
                self.number,
                caller_id_name=self.caller_id_name,
                caller_id_number=self.caller_id_number,
                timeout=self.timeout,
            )
        except InvalidActionError as exc:
            raise ValueError(exc.message) from None


def call_tools(
    targets: Mapping[str, TransferTarget],
    *,
    handoff_text: str,
    farewell_text: str,
    hangup: bool,
    sms: bool,
    keypad: bool,
) -> list[Tool[..., ToolEffect]]:
    """The call tools to offer, in this order: ``transfer_call`` (only with ``targets``),
    ``end_call``, ``send_sms``, ``collect_digits`` (each only when switched on).

    ``handoff_text``/``farewell_text``: said when the model gives no handoff or farewell.
    """
    tools: list[Tool[..., ToolEffect]] = []
    if targets:
        tools.append(transfer_tool(targets, handoff_text))
    if hangup:
        tools.append(end_call_tool(farewell_text))
    if sms:
        tools.append(send_sms_tool())
    if keypad:
        tools.append(collect_digits_tool())
    return tools


def transfer_tool(
    targets: Mapping[str, TransferTarget], handoff_text: str
) -> Tool[..., ToolEffect]:
    """``transfer_call``: only to one of ``targets``."""

    def transfer_call(target: Any = "", handoff: Any = "") -> ToolEffect:
        """Transfer the caller to one of the configured targets."""
        wanted = str(target).strip()
        name = next((n for n in targets if n.casefold() == wanted.casefold()), None)
        if name is None:
            raise ToolError(f"unknown target {wanted!r}; use one of: {', '.join(targets)}")
        chosen = targets[name]
        return ToolEffect(
            f"transferring to {name}",
            say=chosen.handoff or _text(handoff) or handoff_text,
            then=chosen.action(),
        )

    described = [f"{n} ({t.description})" if t.description else n for n, t in targets.items()]
    return Tool(
        transfer_call,
        description="Transfer the caller to a person. Targets: " + "; ".join(described) + ".",
        input_schema=_schema(
            {
                "target": {"type": "string", "enum": list(targets)},
                "handoff": {
                    "type": "string",
                    "description": "short sentence said before transferring",
                },
            }
        ),
    )


def end_call_tool(farewell_text: str) -> Tool[..., ToolEffect]:
    """``end_call``: a farewell, then hang up."""

    def end_call(farewell: Any = "") -> ToolEffect:
        """End the call after a farewell."""
        return ToolEffect(
            "call ends after the farewell", say=_text(farewell) or farewell_text, then=hangup()
        )

    return Tool(
        end_call,
        description="End the call when the conversation is over.",
        input_schema=_schema({"farewell": {"type": "string", "description": "last sentence said"}}),
    )


def send_sms_tool() -> Tool[..., ToolEffect]:
    """``send_sms``: a text message to the caller's own number."""

    def send_sms_to_caller(call: Call | None, message: Any = "") -> ToolEffect:
        """Text the caller."""
        text = _text(message)
        if not text or len(text) > SMS_MAX_CHARS:
            raise ToolError(f"message must be 1-{SMS_MAX_CHARS} characters")
        if call is None or not call.caller:
            raise ToolError("the caller's number is unknown (withheld)")
        try:
            action = send_sms(call.caller, text)
        except InvalidActionError:
            raise ToolError("the caller's number cannot receive text messages") from None
        return ToolEffect("text message sent", actions=(action,))

    return Tool(
        send_sms_to_caller,
        name="send_sms",
        description="Send a text message to the caller's phone.",
        input_schema=_schema({"message": {"type": "string", "maxLength": SMS_MAX_CHARS}}),
    )


def collect_digits_tool() -> Tool[..., ToolEffect]:
    """``collect_digits``: a prompt, then the caller types digits."""

    def collect_digits(prompt: Any = "", max_digits: Any = MAX_DIGITS) -> ToolEffect:
        """Ask for keypad digits."""
        text = _text(prompt)
        if not text:
            raise ToolError("prompt is required")
        try:
            most = min(max(int(max_digits), 1), MAX_DIGITS)
        except (TypeError, ValueError):
            most = MAX_DIGITS
        return ToolEffect(
            f"waiting for the caller's keypad input ({KEYPAD_PREFIX} ...)",
            say=text,
            keypad_digits=most,
        )

    return Tool(
        collect_digits,
        description="Ask the caller to type digits on the phone keypad. They arrive as the "
        f"next user message '{KEYPAD_PREFIX} <digits>'.",
        input_schema=_schema(
            {
                "prompt": {"type": "string", "description": "what to say"},
                "max_digits": {"type": "integer", "minimum": 1, "maximum": MAX_DIGITS},
            }
        ),
    )


def _schema(properties: dict[str, Any]) -> dict[str, Any]:
    """An object schema in which every property is required."""
    return {"type": "object", "properties": properties, "required": list(properties)}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
