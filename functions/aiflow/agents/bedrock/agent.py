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

Where the parts live:

* :mod:`.config` — :class:`BedrockConfig`: model, prompt, limits, sentences, client timeouts;
* :mod:`.converse` — the Converse request, the calls, stream parsing, errors → AgentError;
* :mod:`aiflow.agents.call_tools` — ``transfer_call``, ``end_call``, ``send_sms`` (only with
  ``allow_sms: true``, at most one per turn), ``collect_digits`` (only when the history is
  kept in state): ordinary tools offered before your own ``@agent.tool`` functions;
* :mod:`aiflow.agents.history` — the history in ``call.state["bedrock"]`` (``state_key``),
  bounded to ``history_messages`` whole turns; with a pydantic state model declare
  ``bedrock: dict[str, Any] = {}``, else a text-only history is rebuilt from
  ``call.history`` each turn. It is written only when a turn has completed;
* :mod:`aiflow.agents.digits` — keypad input for ``collect_digits``: wire ``on_dtmf`` to
  :meth:`BedrockAgent.on_dtmf` (and optionally ``on_user_input_timeout`` to
  :meth:`BedrockAgent.finish_digits`); the digits reach the model as ``"[keypad] 1234"``.
  If the caller speaks instead, the collection is dropped.

Errors: any boto3/botocore error and an empty answer raise :class:`~aiflow.agents.AgentError`
from ``respond``; inside an Assistant handler let it propagate: the core rolls the call back
and the caller hears the assistant's fallback sentence. The client has short timeouts and at
most ``max_attempts`` (2) attempts, because a caller is waiting (see :class:`BedrockConfig`).

Streaming: :meth:`BedrockAgent.stream` uses ConverseStream and yields each sentence as soon as
it is complete (for the WebSocket transport), see its docstring.

Cost and latency: the request carries the system prompt, the bounded history and short tool
descriptions; ``max_tokens`` (default 300) bounds the answer and ``cache_prompt`` adds Bedrock
prompt-cache points after the system prompt and the tools (only for models that support it).
Each model call is logged on ``aiflow.agents`` with model id, step, stop reason, token counts
and latency; never transcript text, tool arguments or numbers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...call import Call
from ...protocol.actions import Action, speak
from ..call_tools import BUILTIN_TOOLS, call_tools
from ..digits import keypad_message, press, start, typed
from ..errors import AgentError
from ..history import CallMemory, Message, Stored
from ..sentences import split_sentences
from ..tools import Tool, Toolbox, ToolEffect, ToolRun, tool_result
from .config import BedrockConfig
from .converse import Converse

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

logger = logging.getLogger("aiflow.agents")


@dataclass
class _Outcome:
    """What the tools of one model response did."""

    results: list[dict[str, Any]] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    ending: ToolEffect | None = None  # the tool that ends the turn (transfer, hangup, keypad)
    skipped: bool = False  # a tool was not run because the step limit was reached


class BedrockAgent:
    """An LLM conversation engine on Bedrock's Converse API. See the module docstring.

    Args:
        config: a :class:`BedrockConfig` or a dict of its fields.
        tools: your tools (:class:`~aiflow.agents.Tool`, plain functions or a
            :class:`~aiflow.agents.Toolbox`); more can be added with ``@agent.tool``
            (:meth:`Toolbox.tool <aiflow.agents.Toolbox.tool>` of ``agent.toolbox``).
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
        self.config = cfg = (
            config if isinstance(config, BedrockConfig) else BedrockConfig.model_validate(config)
        )
        self.toolbox = Toolbox(tools, reserved=BUILTIN_TOOLS)
        self.tool = self.toolbox.tool  # the decorator: @agent.tool or @agent.tool(name=...)
        self._converse = Converse(cfg, client, clock)
        self._memory = CallMemory(cfg.state_key, cfg.history_messages)
        self._clock = clock

        def offered(keypad: bool) -> Toolbox:
            return Toolbox(
                call_tools(
                    cfg.transfer_targets,
                    handoff_text=cfg.text("handoff"),
                    farewell_text=cfg.text("farewell"),
                    hangup=cfg.allow_hangup,
                    sms=cfg.allow_sms,
                    keypad=keypad,
                )
            )

        # Keypad input needs the history in the call state: without it no collect_digits.
        self._call_tools = {True: offered(cfg.allow_digits), False: offered(False)}

    @property
    def client(self) -> BedrockRuntimeClient:
        """The ``bedrock-runtime`` client (created on first use: boto3 is imported lazily)."""
        return self._converse.client

    def tool_specs(self, call: Call | None = None) -> list[dict[str, Any]]:
        """The ``toolConfig.tools`` list: built-in tools first, then the user tools."""
        persistent = call is None or self._memory.keeps_state(call)
        return self._call_tools[persistent].specs() + self.toolbox.specs()

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
        return self._memory.load(call).digits is not None

    def on_dtmf(self, call: Call, digit: str) -> list[Action]:
        """Feed one key press; returns the model's answer once the input is complete.

        Returns ``[]`` while collecting, or when the model did not ask for digits.

        Raises:
            AgentError: as :meth:`respond`, when the input is complete.
        """
        pending = self._memory.load(call).digits
        if pending is None:
            return []
        pressed = press(pending, digit)
        if pressed.pending is not None:
            self._memory.write_digits(call, pressed.pending)
            return []
        return self.respond(call, keypad_message(pressed.complete or ""))

    def finish_digits(self, call: Call) -> list[Action]:
        """Submit the digits typed so far (e.g. on ``user_input_timeout``); ``[]`` if the
        model did not ask for digits."""
        pending = self._memory.load(call).digits
        if pending is None:
            return []
        return self.respond(call, keypad_message(typed(pending)))

    # --- one turn -----------------------------------------------------------------------

    def _turn(
        self, call: Call, text: str, *, streaming: bool
    ) -> Generator[str | Action, None, None]:
        text = text.strip()
        if not text:
            return
        stored = self._memory.load(call, current=text)
        messages = [*stored.messages, {"role": "user", "content": [{"text": text}]}]
        builtins = self._call_tools[stored.persistent]
        tools = builtins.specs() + self.toolbox.specs()
        started = self._clock()
        limit = self.config.max_tool_steps
        sms_sent = False
        for step in range(1, limit + 1):
            if step > 1 and self._over_budget(started):
                yield from self._give_up(call, stored, messages, streaming=streaming)
                return
            request = self._converse.request(list(messages), tools)
            if streaming:
                reply = yield from self._converse.stream(request, step)
            else:
                reply = self._converse.call(request, step)
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
                self._memory.commit(call, stored, messages, None)
                self._log_turn(started, step, reply.stop_reason)
                return
            outcome = self._run_tools(
                call, builtins, uses, last_step=step == limit, sms_sent=sms_sent
            )
            sms_sent = sms_sent or _has_sms(outcome.actions)
            yield from outcome.actions
            messages.append({"role": "user", "content": outcome.results})
            if outcome.ending is not None:
                ending = outcome.ending
                say = ending.say or self.config.text("farewell")
                messages.append({"role": "assistant", "content": [{"text": say}]})
                keypad = ending.keypad_digits
                self._memory.commit(
                    call, stored, messages, None if keypad is None else start(keypad)
                )
                self._log_turn(started, step, reply.stop_reason)
                yield from split_sentences(say) if streaming else [say]
                if ending.then is not None:
                    yield ending.then
                return
            if outcome.skipped:
                yield from self._give_up(call, stored, messages, streaming=streaming)
                return
        raise AssertionError("unreachable: the last step always ends the turn")  # pragma: no cover

    def _give_up(
        self, call: Call, stored: Stored, messages: list[Message], *, streaming: bool
    ) -> Iterator[str]:
        """Out of tool steps or time: say the limit sentence and close the turn.

        ``messages`` ends with the tool results (the tools not run have error results), so
        the history stays valid and tells the model what happened.
        """
        limit_text = self.config.text("limit")
        messages.append({"role": "assistant", "content": [{"text": limit_text}]})
        self._memory.commit(call, stored, messages, None)
        logger.info("bedrock turn gave up: tool steps or time budget exhausted")
        yield from split_sentences(limit_text) if streaming else [limit_text]

    def _over_budget(self, started: float) -> bool:
        budget = self.config.turn_budget_s
        return budget is not None and self._clock() - started >= budget

    def _run_tools(
        self,
        call: Call,
        builtins: Toolbox,
        uses: list[dict[str, Any]],
        *,
        last_step: bool,
        sms_sent: bool,
    ) -> _Outcome:
        """Run the tools of one model response.

        Call tools only make actions, so they run even in the last step; a user tool there
        is not run (its result could not reach the model any more). After a tool that ends
        the turn, no further tool runs, and a turn sends at most one text message.
        """
        outcome = _Outcome()
        max_chars = self.config.max_tool_result_chars
        for use in uses:
            name = str(use.get("name", ""))
            use_id = str(use.get("toolUseId", ""))
            args = use.get("input")
            args = args if isinstance(args, dict) else {}
            started = self._clock()
            found = builtins.get(name) or self.toolbox.get(name)
            if outcome.ending is not None:
                result = _error(use_id, "not done: the call is already being handed off")
            elif found is None:
                result = _error(use_id, f"unknown tool {name!r}")
            elif name in builtins or not last_step:
                run = found.run(args, tool_use_id=use_id, call=call, max_chars=max_chars)
                result = self._apply(run, outcome, use_id, sms_sent=sms_sent)
            else:
                outcome.skipped = True
                result = _error(use_id, "not run: tool step limit reached")
            if not self.config.tool_error_status:
                result["toolResult"].pop("status", None)
            status = result["toolResult"].get("status", "success")
            shown = name if found is not None else "(unknown)"
            logger.info(
                "tool %s: %s (%.0f ms)",
                shown,
                status,
                (self._clock() - started) * 1000,
                extra={"tool": shown, "status": status},
            )
            outcome.results.append(result)
        return outcome

    def _apply(
        self, run: ToolRun, outcome: _Outcome, use_id: str, *, sms_sent: bool
    ) -> dict[str, Any]:
        """Take the effect of a tool into ``outcome``; its result for the model."""
        effect = run.effect
        if effect is None:
            return run.result
        if _has_sms(effect.actions) and (sms_sent or _has_sms(outcome.actions)):
            return _error(use_id, "only one text message per turn")
        outcome.actions.extend(effect.actions)
        if effect.ends_turn:
            outcome.ending = effect
        return run.result

    def _log_turn(self, started: float, steps: int, stop: str) -> None:
        latency = (self._clock() - started) * 1000
        logger.info(
            "bedrock turn done: %d model call(s), %.0fms",
            steps,
            latency,
            extra={"model_calls": steps, "stop_reason": stop, "turn_ms": round(latency)},
        )


def _has_sms(actions: Iterable[Action]) -> bool:
    return any(action.type == "send_sms" for action in actions)


def _error(use_id: str, message: str) -> dict[str, Any]:
    return tool_result(use_id, message, error=True)
