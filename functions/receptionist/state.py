"""The receptionist's per-call state (``call.state``), persisted between events."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aiflow import Call

Question = Literal["anything_else", "person", "message"]
# Messages kept per call, and the longest message text kept: the call record stays bounded.
MAX_MESSAGES = 20
MAX_MESSAGE_CHARS = 2000


class Message(BaseModel):
    """A message a caller left."""

    text: str
    at: int = Field(description="Unix ms")
    caller: str | None = None
    language: str
    after_transfer_to: str | None = Field(None, description="the target that did not answer")


class ReceptionistState(BaseModel):
    """``call.state`` of the receptionist (persisted between events)."""

    # Records written by an older version may have keys we dropped since.
    model_config = ConfigDict(extra="ignore")

    language: str | None = None
    silences: int = Field(0, description="consecutive user_input_timeouts")
    misses: int = Field(0, description="consecutive turns we did not understand")
    asked: Question | None = Field(None, description="the yes/no question we just asked")
    # Plain defaults, not default_factory: pydantic copies them for every instance, and a
    # builtin factory makes it parse the factory's text signature (tokenize's regex, ~1.5 ms
    # of a cold start) when the validator is built.
    messages: list[Message] = []
    transfer_target: str | None = None
    bedrock: dict[str, Any] = Field(
        {}, description="the LLM engine's conversation (receptionist.llm)"
    )


def state_of(call: Call) -> ReceptionistState:
    """``call.state`` as :class:`ReceptionistState`, converting a plain dict if a transport
    did not apply the assistant's state model."""
    if not isinstance(call.state, ReceptionistState):
        call.state = ReceptionistState.model_validate(call.state or {})
    return call.state
