"""``BedrockAgent``: let an LLM on Amazon Bedrock (Converse API) run the conversation.

    from aiflow import Assistant, Call, DtmfReceivedEvent, UserSpeakEvent
    from aiflow.agents import BedrockAgent, tool

    agent = BedrockAgent({
        "model_id": "eu.anthropic.claude-3-5-haiku-20241022-v1:0",
        "system_prompt": "You are the phone assistant of Praxis Weber. Answer in one or two "
                         "short sentences, in German.",
        "transfer_targets": {
            "reception": {"number": "+4921198765411", "caller_id_name": "Praxis Weber",
                          "caller_id_number": "+4921198765400", "timeout": 25,
                          "description": "the front desk, for anything you cannot answer"},
        },
        "allow_sms": True,
    })

    @agent.tool
    def opening_hours(day: str) -> str:
        \"\"\"Opening hours on a weekday.\"\"\"
        return "8-18"

    assistant = Assistant("praxis", language="de-DE")

    @assistant.on_user_speak
    def answer(event: UserSpeakEvent, call: Call):
        return agent.respond(call, event.text)      # AgentError → the core's fallback speech

    @assistant.on_dtmf
    def keys(event: DtmfReceivedEvent, call: Call):
        return agent.on_dtmf(call, event.digit)     # [] until '#' or max_digits

One :meth:`BedrockAgent.respond` is one caller turn: the caller's text is appended to the
conversation, the model is called, tools it asks for are run and their results fed back
(at most ``max_tool_steps`` model calls per turn), and the answer comes back as actions:
``[speak(all text the model said), send_sms..., transfer | hangup]``. A ``hangup`` or
``transfer`` after speech is held back by the :class:`~aiflow.Assistant` core until the
speech has ended.

Built-in tools (offered to the model next to your own ``@agent.tool`` functions):

* ``transfer_call(target, handoff)``: only when ``transfer_targets`` are configured. ``target``
  is an ``enum`` of the configured names; the number always comes from the config, never from
  the model. An unknown target is refused with an error result (the model can recover) and no
  transfer happens. Result: ``speak(handoff) + transfer(...)``.
* ``end_call(farewell)`` → ``speak(farewell) + hangup()`` (``allow_hangup``, default on).
* ``send_sms(message)`` → ``send_sms`` to the caller's number; offered only with
  ``allow_sms: true``; at most one per turn; refused when the caller's number is withheld.
* ``collect_digits(prompt, max_digits)`` → ``speak(prompt)`` and the agent collects keypad
  digits: wire ``on_dtmf`` to :meth:`BedrockAgent.on_dtmf` (and optionally
  ``on_user_input_timeout`` to :meth:`BedrockAgent.finish_digits`). ``#`` or ``max_digits``
  digits finish the input, ``*`` starts it over; the digits then reach the model as the next
  user message ``"[keypad] 1234"`` and ``on_dtmf`` returns the model's answer. If the caller
  speaks instead, the collection is dropped. Offered only when history is kept in state.

Conversation history: the Bedrock messages (text, tool calls and tool results) are kept in
``call.state["bedrock"]["messages"]`` (the key is ``state_key`` in the config), so tool context
survives between turns. It is bounded to ``history_messages`` messages: the oldest whole turns
are dropped, so the history always starts with a caller message and a tool call is never
separated from its result. With a pydantic state model, declare the field
``bedrock: dict[str, Any] = {}``; a state model without it makes the agent rebuild a text-only
history from ``call.history`` each turn (tool context is then lost between turns, and
``collect_digits`` is not offered). The state is only written when a turn has completed: a
failed turn leaves no half turn behind.

Errors: any boto3/botocore error (throttling, access denied, validation, connection, timeout)
and an empty answer raise :class:`~aiflow.agents.AgentError` from ``respond``. Inside an
Assistant handler let it propagate: the core rolls the call back and the caller hears the
assistant's fallback sentence. The client is created lazily with short timeouts
(``connect_timeout_s``, ``read_timeout_s``) and ``max_attempts`` (default 2) in total,
because a caller is waiting.

Streaming: :meth:`BedrockAgent.stream` uses ConverseStream and yields each sentence as soon as
it is complete (for the WebSocket transport), see its docstring.

Cost and latency: the request carries the system prompt, the bounded history and short tool
descriptions; ``max_tokens`` (default 300) bounds the answer and ``cache_prompt`` adds Bedrock
prompt-cache points after the system prompt and the tools (only for models that support it).
Each model call is logged on ``aiflow.agents`` with model id, step, stop reason, token counts
and latency; never transcript text or tool arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, overload

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..call import Call, Turn
from ..errors import InvalidActionError
from ..protocol.actions import Action, TransferAction, hangup, send_sms, speak, transfer
from .errors import AgentError
from .sentences import SentenceSplitter, split_sentences
from .tools import Tool, Toolbox, tool_result

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

logger = logging.getLogger("aiflow.agents")

P = ParamSpec("P")
R = TypeVar("R")

BUILTIN_TOOLS = ("transfer_call", "end_call", "send_sms", "collect_digits")
KEYPAD_PREFIX = "[keypad]"
"""How collected keypad digits appear to the model: ``"[keypad] 1234"``."""

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "handoff": "One moment, please, I am connecting you.",
        "farewell": "Goodbye!",
        "limit": "Sorry, I could not finish that. Could you please say it again?",
    },
    "de": {
        "handoff": "Einen Moment bitte, ich verbinde Sie.",
        "farewell": "Auf Wiederhören!",
        "limit": "Entschuldigung, das hat nicht geklappt. Können Sie das bitte noch einmal sagen?",
    },
}
_RETRYABLE = {
    "ThrottlingException",
    "ServiceUnavailableException",
    "InternalServerException",
    "ModelNotReadyException",
    "ModelTimeoutException",
    "ModelStreamErrorException",
    "TooManyRequestsException",
}
_SMS_MAX_CHARS = 640
_TRUNCATED = ("max_tokens", "model_context_window_exceeded")


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


class BedrockConfig(BaseModel):
    """Configuration of a :class:`BedrockAgent` (also accepted as a plain dict, e.g. YAML).

    Attributes:
        model_id: Bedrock model or inference-profile id.
        system_prompt: the instructions for the model.
        region: AWS region of the client (default: ``AWS_REGION`` of the Lambda).
        transfer_targets: name → :class:`TransferTarget` for the ``transfer_call`` tool.
        allow_sms: offer the ``send_sms`` tool (SMS must be enabled for the AI Flow).
        allow_hangup: offer the ``end_call`` tool.
        allow_digits: offer the ``collect_digits`` tool.
        max_tool_steps: at most this many model calls per caller turn.
        max_tokens: answer length limit per model call.
        temperature: sampling temperature (omitted: the model's default).
        history_messages: how many Bedrock messages are kept between turns.
        max_tool_result_chars: tool results longer than this are cut.
        turn_budget_s: do not start another model call once the turn took this long.
        language: ``"en"`` or ``"de"``: the built-in sentences below.
        handoff_text, farewell_text: said when the model gives an empty handoff/farewell.
        limit_text: said when the tool steps or the time budget ran out.
        state_key: the key in ``call.state`` for the history.
        cache_prompt: add prompt-cache points after the system prompt and the tools.
        tool_error_status: send ``status: "error"`` in failed tool results (turn off for
            models that reject the field).
        connect_timeout_s, read_timeout_s, max_attempts: botocore client settings.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_id: str = Field(min_length=1)
    system_prompt: str = Field(min_length=1)
    region: str | None = None
    transfer_targets: dict[str, TransferTarget] = Field(default_factory=dict)
    allow_sms: bool = False
    allow_hangup: bool = True
    allow_digits: bool = True
    max_tool_steps: int = Field(4, ge=1, le=16)
    max_tokens: int = Field(300, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=1.0)
    history_messages: int = Field(20, ge=2)
    max_tool_result_chars: int = Field(2000, ge=100)
    turn_budget_s: float | None = Field(None, gt=0)
    language: str = "en"
    handoff_text: str | None = None
    farewell_text: str | None = None
    limit_text: str | None = None
    state_key: str = Field("bedrock", min_length=1)
    cache_prompt: bool = False
    tool_error_status: bool = True
    connect_timeout_s: float = Field(2.0, gt=0)
    read_timeout_s: float = Field(15.0, gt=0)
    max_attempts: int = Field(2, ge=1, le=5)

    @field_validator("transfer_targets")
    @classmethod
    def _target_names(cls, value: dict[str, TransferTarget]) -> dict[str, TransferTarget]:
        for name in value:
            if not name.strip() or len(name) > 64:
                raise ValueError(f"transfer target name {name!r} must be 1-64 characters")
        return value

    def text(self, kind: Literal["handoff", "farewell", "limit"]) -> str:
        """The configured or built-in sentence of ``kind`` in ``language``."""
        configured = {
            "handoff": self.handoff_text,
            "farewell": self.farewell_text,
            "limit": self.limit_text,
        }[kind]
        return configured or _TEXTS.get(self.language[:2].lower(), _TEXTS["en"])[kind]


@dataclass
class _Reply:
    """One model response."""

    content: list[dict[str, Any]]
    stop_reason: str


@dataclass
class _Store:
    """Where the history lives for one call."""

    messages: list[dict[str, Any]]
    digits: dict[str, Any] | None
    persistent: bool  # False: rebuilt from call.history, nothing is written back


@dataclass
class _Outcome:
    """What the built-in and user tools of one model response did."""

    results: list[dict[str, Any]] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    say: str | None = None  # terminal: the last sentence (handoff/farewell/prompt)
    final: Action | None = None  # terminal: transfer or hangup
    terminal: bool = False
    digits: dict[str, Any] | None = None
    skipped: bool = False  # a tool was not run because the step limit was reached


class BedrockAgent:
    """An LLM conversation engine on Bedrock's Converse API. See the module docstring.

    Args:
        config: a :class:`BedrockConfig` or a dict of its fields.
        tools: your tools (:class:`~aiflow.agents.Tool`, plain functions or a
            :class:`~aiflow.agents.Toolbox`); more can be added with :meth:`tool`.
        client: a ``bedrock-runtime`` client to use (tests: with botocore's Stubber);
            default: created with ``boto3.client("bedrock-runtime")`` on first use.
        clock: monotonic seconds, for latency logs and ``turn_budget_s`` (tests).
    """

    def __init__(
        self,
        config: BedrockConfig | Mapping[str, Any],
        *,
        tools: Toolbox | Iterable[Tool[..., Any] | Callable[..., Any]] = (),
        client: BedrockRuntimeClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = (
            config if isinstance(config, BedrockConfig) else BedrockConfig.model_validate(config)
        )
        self.toolbox = Toolbox(tools, reserved=BUILTIN_TOOLS)
        self._client = client
        self._clock = clock

    # --- tools --------------------------------------------------------------------------

    @overload
    def tool(self, func: Callable[P, R], /) -> Tool[P, R]: ...

    @overload
    def tool(
        self, /, *, name: str | None = None, description: str | None = None
    ) -> Callable[[Callable[P, R]], Tool[P, R]]: ...

    def tool(
        self,
        func: Callable[P, R] | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
        """Decorator: register a user tool (see :func:`aiflow.agents.tool`)."""
        if func is not None:
            return self.toolbox.add(Tool(func, name=name, description=description))
        return self.toolbox.tool(name=name, description=description)

    def tool_specs(self, call: Call | None = None) -> list[dict[str, Any]]:
        """The ``toolConfig.tools`` list: built-in tools first, then the user tools."""
        persistent = call is None or self._has_state(call)
        return self._builtin_specs(digits=persistent) + self.toolbox.specs()

    # --- the conversation ---------------------------------------------------------------

    def respond(self, call: Call, text: str) -> list[Action]:
        """Answer the caller's ``text``: the actions to return from ``on_user_speak``.

        Returns ``[speak(...)]`` optionally followed by ``send_sms`` and a final ``transfer``
        or ``hangup``; ``[]`` for an empty ``text`` (no model call).

        Raises:
            AgentError: Bedrock failed or gave no answer; ``call.state`` is unchanged.
        """
        texts: list[str] = []
        actions: list[Action] = []
        for item in self._turn(call, text, streaming=False):
            if isinstance(item, str):
                texts.append(item)
            else:
                actions.append(item)
        return ([speak(" ".join(texts))] if texts else []) + actions

    async def respond_async(self, call: Call, text: str) -> list[Action]:
        """:meth:`respond` in a worker thread, for async handlers."""
        return await asyncio.to_thread(self.respond, call, text)

    def stream(self, call: Call, text: str) -> Iterator[str | Action]:
        """Answer like :meth:`respond`, yielding each sentence as soon as it is complete.

        Uses ConverseStream for every model call of the turn. Items are either a ``str``, one
        sentence to speak now, or an action (``send_sms``, and a final ``transfer`` or
        ``hangup``), which must be sent after the speech yielded before it (give it to the
        core with :func:`aiflow.after_speech`). Text the model says before a tool call
        ("Let me check.") is yielded before the tool runs; the tool loop then continues with
        further streamed model calls, up to ``max_tool_steps``.

        The complete turn is written to the history when the iteration finishes. If the
        caller's consumer stops iterating early (barge-in) or a Bedrock error occurs midway,
        nothing of this turn is kept: :class:`AgentError` is raised from the iterator and the
        caller may already have heard the first sentences.
        """
        return self._turn(call, text, streaming=True)

    # --- keypad input -------------------------------------------------------------------

    def collecting_digits(self, call: Call) -> bool:
        """Whether the model asked for keypad digits that are not complete yet."""
        return self._load(call).digits is not None

    def on_dtmf(self, call: Call, digit: str) -> list[Action]:
        """Feed one key press; returns the model's answer once the input is complete.

        Returns ``[]`` while collecting, or when the model did not ask for digits.

        Raises:
            AgentError: as :meth:`respond`, when the input is complete.
        """
        store = self._load(call)
        digits = store.digits
        if digits is None:
            return []
        buffer = str(digits.get("buffer", ""))
        if digit == "*":
            self._write_digits(call, {**digits, "buffer": ""})
            return []
        if digit != "#":
            buffer += digit
        if digit == "#" or len(buffer) >= int(digits.get("max", 20)):
            return self._submit_digits(call, buffer)
        self._write_digits(call, {**digits, "buffer": buffer})
        return []

    def finish_digits(self, call: Call) -> list[Action]:
        """Submit the digits typed so far (e.g. on ``user_input_timeout``); ``[]`` if the
        model did not ask for digits."""
        store = self._load(call)
        if store.digits is None:
            return []
        return self._submit_digits(call, str(store.digits.get("buffer", "")))

    def _submit_digits(self, call: Call, buffer: str) -> list[Action]:
        return self.respond(call, f"{KEYPAD_PREFIX} {buffer or '(none)'}")

    # --- one turn -----------------------------------------------------------------------

    def _turn(
        self, call: Call, text: str, *, streaming: bool
    ) -> Generator[str | Action, None, None]:
        text = text.strip()
        if not text:
            return
        store = self._load(call, current=text)
        messages = [*store.messages, {"role": "user", "content": [{"text": text}]}]
        offered = self._builtin_specs(digits=store.persistent)
        tools = offered + self.toolbox.specs()
        builtins = {spec["toolSpec"]["name"] for spec in offered}
        started = self._clock()
        limit = self.config.max_tool_steps
        sms_sent = False
        for step in range(1, limit + 1):
            if step > 1 and self._over_budget(started):
                yield from self._give_up(call, store, messages, streaming=streaming)
                return
            request = self._request(list(messages), tools)
            if streaming:
                reply = yield from self._stream_call(request, step)
            else:
                reply = self._call(request, step)
                for block in reply.content:
                    if "text" in block:
                        yield block["text"]
            if not reply.content:
                if step == 1:
                    raise AgentError("the model gave an empty answer", code="empty_answer")
                # Nothing to add after the tool results (it happens): close the turn silently.
                reply.content = [{"text": "…"}]
            uses = [block["toolUse"] for block in reply.content if "toolUse" in block]
            messages.append({"role": "assistant", "content": reply.content})
            if not uses:
                self._commit(call, store, messages, None)
                self._log_turn(started, step, reply.stop_reason)
                return
            outcome = self._run_tools(
                call, uses, builtins, last_step=step == limit, sms_sent=sms_sent
            )
            sms_sent = sms_sent or any(a.type == "send_sms" for a in outcome.actions)
            yield from outcome.actions
            messages.append({"role": "user", "content": outcome.results})
            if outcome.terminal:
                say = outcome.say or self.config.text("farewell")
                messages.append({"role": "assistant", "content": [{"text": say}]})
                self._commit(call, store, messages, outcome.digits)
                self._log_turn(started, step, reply.stop_reason)
                yield from split_sentences(say) if streaming else [say]
                if outcome.final is not None:
                    yield outcome.final
                return
            if outcome.skipped:
                yield from self._give_up(call, store, messages, streaming=streaming)
                return
        raise AssertionError("unreachable: the last step always ends the turn")  # pragma: no cover

    def _give_up(
        self, call: Call, store: _Store, messages: list[dict[str, Any]], *, streaming: bool
    ) -> Iterator[str]:
        """Out of tool steps or time: say the limit sentence and close the turn.

        ``messages`` ends with the tool results (the tools not run have error results), so
        the history stays valid and tells the model what happened.
        """
        limit_text = self.config.text("limit")
        messages.append({"role": "assistant", "content": [{"text": limit_text}]})
        self._commit(call, store, messages, None)
        logger.info("bedrock turn gave up: tool steps or time budget exhausted")
        yield from split_sentences(limit_text) if streaming else [limit_text]

    def _over_budget(self, started: float) -> bool:
        budget = self.config.turn_budget_s
        return budget is not None and self._clock() - started >= budget

    # --- tools --------------------------------------------------------------------------

    def _builtin_specs(self, *, digits: bool) -> list[dict[str, Any]]:
        cfg = self.config
        specs: list[dict[str, Any]] = []
        if cfg.transfer_targets:
            names = list(cfg.transfer_targets)
            described = [
                f"{name} ({t.description})" if t.description else name
                for name, t in cfg.transfer_targets.items()
            ]
            specs.append(
                _spec(
                    "transfer_call",
                    "Transfer the caller to a person. Targets: " + "; ".join(described) + ".",
                    {
                        "target": {"type": "string", "enum": names},
                        "handoff": {
                            "type": "string",
                            "description": "short sentence said before transferring",
                        },
                    },
                    ["target", "handoff"],
                )
            )
        if cfg.allow_hangup:
            specs.append(
                _spec(
                    "end_call",
                    "End the call when the conversation is over.",
                    {"farewell": {"type": "string", "description": "last sentence said"}},
                    ["farewell"],
                )
            )
        if cfg.allow_sms:
            specs.append(
                _spec(
                    "send_sms",
                    "Send a text message to the caller's phone.",
                    {"message": {"type": "string", "maxLength": _SMS_MAX_CHARS}},
                    ["message"],
                )
            )
        if cfg.allow_digits and digits:
            specs.append(
                _spec(
                    "collect_digits",
                    "Ask the caller to type digits on the phone keypad. They arrive as the "
                    f"next user message '{KEYPAD_PREFIX} <digits>'.",
                    {
                        "prompt": {"type": "string", "description": "what to say"},
                        "max_digits": {"type": "integer", "minimum": 1, "maximum": 20},
                    },
                    ["prompt", "max_digits"],
                )
            )
        return specs

    def _run_tools(
        self,
        call: Call,
        uses: list[dict[str, Any]],
        builtins: set[str],
        *,
        last_step: bool,
        sms_sent: bool,
    ) -> _Outcome:
        outcome = _Outcome()
        for use in uses:
            name = str(use.get("name", ""))
            use_id = str(use.get("toolUseId", ""))
            args = use.get("input")
            args = args if isinstance(args, dict) else {}
            started = self._clock()
            if outcome.terminal:
                result = self._error(use_id, "not done: the call is already being handed off")
            elif name in builtins:
                result = self._builtin(name, call, use_id, args, outcome, sms_sent=sms_sent)
                sms_sent = sms_sent or any(a.type == "send_sms" for a in outcome.actions)
            elif name in self.toolbox and not last_step:
                result = self.toolbox.invoke(
                    name,
                    args,
                    tool_use_id=use_id,
                    call=call,
                    max_chars=self.config.max_tool_result_chars,
                )
            elif name in self.toolbox:
                outcome.skipped = True
                result = self._error(use_id, "not run: tool step limit reached")
            else:
                result = self._error(use_id, f"unknown tool {name!r}")
            if not self.config.tool_error_status:
                result["toolResult"].pop("status", None)
            status = result["toolResult"].get("status", "success")
            shown = name if name in builtins or name in self.toolbox else "(unknown)"
            logger.info(
                "tool %s: %s (%.0f ms)",
                shown,
                status,
                (self._clock() - started) * 1000,
                extra={"tool": shown, "status": status},
            )
            outcome.results.append(result)
        return outcome

    def _builtin(
        self,
        name: str,
        call: Call,
        use_id: str,
        args: dict[str, Any],
        outcome: _Outcome,
        *,
        sms_sent: bool,
    ) -> dict[str, Any]:
        cfg = self.config
        if name == "transfer_call":
            wanted = str(args.get("target", "")).strip()
            target_name = next(
                (n for n in cfg.transfer_targets if n.casefold() == wanted.casefold()), None
            )
            if target_name is None:
                known = ", ".join(cfg.transfer_targets)
                return self._error(use_id, f"unknown target {wanted!r}; use one of: {known}")
            target = cfg.transfer_targets[target_name]
            outcome.terminal = True
            outcome.say = target.handoff or _text_arg(args, "handoff") or cfg.text("handoff")
            outcome.final = target.action()
            return tool_result(use_id, f"transferring to {target_name}")
        if name == "end_call":
            outcome.terminal = True
            outcome.say = _text_arg(args, "farewell") or cfg.text("farewell")
            outcome.final = hangup()
            return tool_result(use_id, "call ends after the farewell")
        if name == "send_sms":
            message = _text_arg(args, "message")
            if sms_sent:
                return self._error(use_id, "only one text message per turn")
            if not message or len(message) > _SMS_MAX_CHARS:
                return self._error(use_id, f"message must be 1-{_SMS_MAX_CHARS} characters")
            if not call.caller:
                return self._error(use_id, "the caller's number is unknown (withheld)")
            try:
                action = send_sms(call.caller, message)
            except InvalidActionError:
                return self._error(use_id, "the caller's number cannot receive text messages")
            outcome.actions.append(action)
            return tool_result(use_id, "text message sent")
        # collect_digits
        prompt = _text_arg(args, "prompt")
        if not prompt:
            return self._error(use_id, "prompt is required")
        try:
            max_digits = min(max(int(args.get("max_digits", 20)), 1), 20)
        except (TypeError, ValueError):
            max_digits = 20
        outcome.terminal = True
        outcome.say = prompt
        outcome.digits = {"max": max_digits, "buffer": ""}
        return tool_result(use_id, f"waiting for the caller's keypad input ({KEYPAD_PREFIX} ...)")

    def _error(self, use_id: str, message: str) -> dict[str, Any]:
        return tool_result(use_id, message, error=True)

    # --- Bedrock ------------------------------------------------------------------------

    @property
    def client(self) -> BedrockRuntimeClient:
        """The ``bedrock-runtime`` client (created on first use: boto3 is imported lazily)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            cfg = self.config
            self._client = boto3.client(
                "bedrock-runtime",
                region_name=cfg.region,
                config=Config(
                    connect_timeout=cfg.connect_timeout_s,
                    read_timeout=cfg.read_timeout_s,
                    retries={"mode": "standard", "total_max_attempts": cfg.max_attempts},
                ),
            )
        return self._client

    def _request(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> dict[str, Any]:
        cfg = self.config
        system: list[dict[str, Any]] = [{"text": cfg.system_prompt}]
        inference: dict[str, Any] = {"maxTokens": cfg.max_tokens}
        if cfg.temperature is not None:
            inference["temperature"] = cfg.temperature
        request: dict[str, Any] = {
            "modelId": cfg.model_id,
            "messages": messages,
            "system": system,
            "inferenceConfig": inference,
        }
        if tools:
            request["toolConfig"] = {"tools": list(tools)}
        if cfg.cache_prompt:
            system.append({"cachePoint": {"type": "default"}})
            if tools:
                request["toolConfig"]["tools"].append({"cachePoint": {"type": "default"}})
        return request

    def _call(self, request: dict[str, Any], step: int) -> _Reply:
        started = self._clock()
        try:
            response: Mapping[str, Any] = self.client.converse(**request)
        except Exception as exc:
            error = _agent_error(exc)
            if error is None:
                raise
            raise error from exc
        message = response.get("output", {}).get("message", {})
        stop = str(response.get("stopReason", ""))
        content = _clean_content(message.get("content", []), stop)
        self._log_call(step, stop, response.get("usage", {}), started, streaming=False)
        return _Reply(content, stop)

    def _stream_call(self, request: dict[str, Any], step: int) -> Generator[str, None, _Reply]:
        started = self._clock()
        splitter = SentenceSplitter()
        blocks: dict[int, dict[str, Any]] = {}
        stop = ""
        usage: Mapping[str, Any] = {}
        said: list[str] = []
        events: Any = None
        try:
            response: Mapping[str, Any] = self.client.converse_stream(**request)
            events = response["stream"]
            for event in events:
                if "contentBlockStart" in event:
                    start = event["contentBlockStart"]
                    use = start.get("start", {}).get("toolUse")
                    if use is not None:
                        # Speak what came before the tool call, then collect its input.
                        for sentence in splitter.flush():
                            said.append(sentence)
                            yield sentence
                        blocks[start.get("contentBlockIndex", len(blocks))] = {
                            "toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]},
                            "json": "",
                        }
                elif "contentBlockDelta" in event:
                    body = event["contentBlockDelta"]
                    index = body.get("contentBlockIndex", 0)
                    delta = body.get("delta", {})
                    if "text" in delta:
                        blocks.setdefault(index, {"text": ""})["text"] += delta["text"]
                        for sentence in splitter.feed(delta["text"]):
                            said.append(sentence)
                            yield sentence
                    elif "toolUse" in delta and index in blocks and "json" in blocks[index]:
                        blocks[index]["json"] += delta["toolUse"].get("input", "")
                elif "messageStop" in event:
                    stop = str(event["messageStop"].get("stopReason", ""))
                elif "metadata" in event:
                    usage = event["metadata"].get("usage", {})
        except Exception as exc:
            error = _agent_error(exc)
            if error is None:
                raise
            raise error from exc
        finally:
            # Also when the consumer stopped early: release the HTTP connection.
            close = getattr(events, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
        tail = splitter.flush()
        if stop in _TRUNCATED and said:
            tail = []  # an unfinished sentence is not spoken
        for sentence in tail:
            said.append(sentence)
            yield sentence
        content: list[dict[str, Any]] = []
        text_done = False
        for index in sorted(blocks):
            block = blocks[index]
            if "text" in block and not text_done:
                # Keep exactly what was spoken (the stream's text blocks, as sentences).
                if said:
                    content.append({"text": " ".join(said)})
                text_done = True
            elif "toolUse" in block and stop not in _TRUNCATED:
                content.append({"toolUse": {**block["toolUse"], "input": _json(block["json"])}})
        self._log_call(step, stop, usage, started, streaming=True)
        return _Reply(content, stop)

    def _log_call(
        self,
        step: int,
        stop: str,
        usage: Mapping[str, Any],
        started: float,
        *,
        streaming: bool,
    ) -> None:
        latency = (self._clock() - started) * 1000
        tokens_in = int(usage.get("inputTokens", 0))
        tokens_out = int(usage.get("outputTokens", 0))
        logger.info(
            "bedrock %s step=%d stop=%s in=%d out=%d %.0fms",
            self.config.model_id,
            step,
            stop,
            tokens_in,
            tokens_out,
            latency,
            extra={
                "model_id": self.config.model_id,
                "step": step,
                "stop_reason": stop,
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "cache_read_tokens": int(usage.get("cacheReadInputTokens", 0)),
                "latency_ms": round(latency),
                "streaming": streaming,
            },
        )

    def _log_turn(self, started: float, steps: int, stop: str) -> None:
        latency = (self._clock() - started) * 1000
        logger.info(
            "bedrock turn done: %d model call(s), %.0fms",
            steps,
            latency,
            extra={"model_calls": steps, "stop_reason": stop, "turn_ms": round(latency)},
        )

    # --- history in call.state ----------------------------------------------------------

    def _has_state(self, call: Call) -> bool:
        state = call.state
        if isinstance(state, BaseModel):
            return self.config.state_key in type(state).model_fields
        return isinstance(state, dict)

    def _raw_store(self, call: Call) -> Any:
        state = call.state
        if isinstance(state, BaseModel):
            return getattr(state, self.config.state_key, None)
        return state.get(self.config.state_key) if isinstance(state, dict) else None

    def _load(self, call: Call, *, current: str | None = None) -> _Store:
        if not self._has_state(call):
            return _Store(self._from_history(call.history, current), None, persistent=False)
        raw = self._raw_store(call)
        raw = raw if isinstance(raw, dict) else {}
        messages = raw.get("messages")
        messages = _repair(messages) if isinstance(messages, list) else []
        messages = trim_history(messages, self.config.history_messages)
        digits = raw.get("digits")
        return _Store(messages, digits if isinstance(digits, dict) else None, persistent=True)

    def _from_history(self, history: Sequence[Turn], current: str | None) -> list[dict[str, Any]]:
        turns = list(history)
        if turns and current is not None and turns[-1].role == "caller":
            if turns[-1].text.strip() == current:
                turns.pop()  # the core already remembered the text this turn answers
        messages: list[dict[str, Any]] = []
        for turn in turns:
            role = "user" if turn.role == "caller" else "assistant"
            if not turn.text.strip():
                continue
            if messages and messages[-1]["role"] == role:
                messages[-1]["content"][0]["text"] += " " + turn.text.strip()
            else:
                messages.append({"role": role, "content": [{"text": turn.text.strip()}]})
        return trim_history(_repair(messages), self.config.history_messages)

    def _commit(
        self,
        call: Call,
        store: _Store,
        messages: list[dict[str, Any]],
        digits: dict[str, Any] | None,
    ) -> None:
        if not store.persistent:
            return
        doc: dict[str, Any] = {"messages": trim_history(messages, self.config.history_messages)}
        if digits is not None:
            doc["digits"] = digits
        self._write(call, doc)

    def _write_digits(self, call: Call, digits: dict[str, Any]) -> None:
        raw = self._raw_store(call)
        doc = dict(raw) if isinstance(raw, dict) else {}
        doc["digits"] = digits
        self._write(call, doc)

    def _write(self, call: Call, doc: dict[str, Any]) -> None:
        if isinstance(call.state, BaseModel):
            setattr(call.state, self.config.state_key, doc)
        else:
            call.state[self.config.state_key] = doc


# --- helpers ------------------------------------------------------------------------------


def trim_history(messages: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Keep at most ``limit`` messages by dropping the oldest whole turns.

    A turn starts with a user message holding text and no tool result, so the kept history
    starts with a user message and never separates a tool call from its result. A single turn
    longer than ``limit`` is kept whole.
    """
    if len(messages) <= limit:
        return messages
    starts = [i for i, m in enumerate(messages) if _starts_turn(m)]
    for start in starts:
        if len(messages) - start <= limit:
            return messages[start:]
    return messages[starts[-1] :] if starts else []


def _starts_turn(message: Mapping[str, Any]) -> bool:
    content = message.get("content") or []
    return (
        message.get("role") == "user"
        and any("text" in b for b in content)
        and not any("toolResult" in b for b in content)
    )


def _repair(messages: list[Any]) -> list[dict[str, Any]]:
    """Cut a stored history to whole turns (it may come from an older version or by hand)."""
    valid = [
        m
        for m in messages
        if isinstance(m, dict)
        and m.get("role") in ("user", "assistant")
        and isinstance(m.get("content"), list)
        and m["content"]
    ]
    first = next((i for i, m in enumerate(valid) if _starts_turn(m)), len(valid))
    valid = valid[first:]
    # A complete turn ends with an assistant message without tool calls.
    last = max(
        (
            i
            for i, m in enumerate(valid)
            if m["role"] == "assistant" and not any("toolUse" in b for b in m["content"])
        ),
        default=-1,
    )
    return valid[: last + 1]


def _clean_content(content: Any, stop: str) -> list[dict[str, Any]]:
    """Keep text and tool calls of a response; cut an answer truncated by ``max_tokens``."""
    out: list[dict[str, Any]] = []
    truncated = stop in _TRUNCATED
    for block in content if isinstance(content, list) else []:
        if "text" in block and str(block["text"]).strip():
            text = str(block["text"]).strip()
            if truncated:
                sentences = split_sentences(text)
                if len(sentences) > 1 and sentences[-1][-1:] not in ".!?…":
                    text = " ".join(sentences[:-1])
            out.append({"text": text})
        elif "toolUse" in block and not truncated:
            use = block["toolUse"]
            out.append(
                {
                    "toolUse": {
                        "toolUseId": use["toolUseId"],
                        "name": use["name"],
                        "input": use.get("input") if isinstance(use.get("input"), dict) else {},
                    }
                }
            )
    return out


def _spec(
    name: str, description: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "toolSpec": {
            "name": name,
            "description": description,
            "inputSchema": {
                "json": {"type": "object", "properties": properties, "required": required}
            },
        }
    }


def _text_arg(args: Mapping[str, Any], key: str) -> str:
    value = args.get(key)
    return value.strip() if isinstance(value, str) else ""


def _json(raw: str) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _agent_error(exc: Exception) -> AgentError | None:
    """An :class:`AgentError` for a boto3/botocore error; ``None`` for anything else."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "")) or type(exc).__name__
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        # Errors inside a ConverseStream arrive with lower-case codes ("throttlingException").
        retryable = code[:1].upper() + code[1:] in _RETRYABLE or status >= 500 or status == 429
    elif isinstance(exc, BotoCoreError):
        code = type(exc).__name__
        retryable = "Timeout" in code or "Connection" in code or "Endpoint" in code
    else:
        return None
    logger.warning("bedrock call failed: %s", code, extra={"aws_code": code})
    return AgentError(
        f"the Bedrock call failed ({code})",
        code="bedrock_error",
        aws_code=code,
        retryable=retryable,
    )
