"""The ``expect`` cursor: check a turn's actions one after another.

    call.say("Tschüss").expect.speak(contains="Wiederhören").hangup().no_more_actions()

Each check consumes the next action of the turn. On a mismatch it raises an
``AssertionError`` that prints the whole turn, ``>>>`` at the failing action, and expected
versus heard; the cursor's own frames are hidden from pytest tracebacks.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from typing import Any, NoReturn, Protocol

from ..protocol.actions import (
    Action,
    AudioAction,
    BargeInAction,
    HangupAction,
    SpeakAction,
    TransferAction,
)
from ..protocol.phone import to_action_number
from .describe import describe_action, speech_settings, speech_text

SPEECH_ENDED = "(speech ended)"


class ExchangeLike(Protocol):
    """What the cursor reads of one request (see :class:`aiflow.testing.Exchange`)."""

    @property
    def by(self) -> str: ...
    @property
    def event(self) -> dict[str, Any]: ...
    @property
    def status(self) -> int: ...
    @property
    def body(self) -> str: ...
    @property
    def actions(self) -> list[Action]: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def error(self) -> str | None: ...


class TurnLike(Protocol):
    """What the cursor reads of one turn (see :class:`aiflow.testing.TurnResult`)."""

    @property
    def number(self) -> int: ...
    @property
    def label(self) -> str: ...
    @property
    def exchanges(self) -> Sequence[ExchangeLike]: ...
    @property
    def actions(self) -> list[Action]: ...
    @property
    def status(self) -> int: ...
    @property
    def latency_ms(self) -> float: ...


class Expect:
    """A cursor over the actions of one :class:`~aiflow.testing.TurnResult`.

    Every method returns the cursor, so checks chain. ``contains`` is case-insensitive,
    ``text`` must match exactly, ``regex`` is searched (``re.search``).
    """

    def __init__(self, turn: TurnLike) -> None:
        self.turn = turn
        self.actions: list[Action] = turn.actions
        self.position = 0
        # For each action: how many speech ends the platform had reported before it came.
        self._ends_before: list[int] = []
        ends = 0
        for exchange in turn.exchanges:
            if exchange.event.get("type") == "assistant_speech_ended":
                ends += 1
            self._ends_before += [ends] * len(exchange.actions)
        self._ends = ends

    # --- actions ------------------------------------------------------------------------

    def speak(
        self,
        text: str | None = None,
        *,
        contains: str | Sequence[str] | None = None,
        regex: str | None = None,
        voice: str | None = None,
        barge_in: str | None = None,
        timeout: float | None = None,
    ) -> Expect:
        """The next action is a ``speak`` matching every given condition.

        Args:
            text: the exact text (SSML with the tags stripped).
            contains: a part (or parts) of the text, case-insensitive.
            regex: a pattern found in the text.
            voice: the ``tts.voice`` (``"default"``: no ``tts``, the AI Flow's voice).
            barge_in: the ``barge_in.strategy`` (``"default"``: no policy given).
            timeout: ``user_input_timeout_seconds``.
        """
        __tracebackhide__ = True
        parts = [contains] if isinstance(contains, str) else list(contains or [])
        wanted = _want_speech(text, parts, regex, voice, barge_in, timeout)
        action = self._take(SpeakAction, wanted)
        assert isinstance(action, SpeakAction)
        heard = speech_text(action)
        if text is not None and heard != text:
            self._fail(wanted, diff=_text_diff(text, heard))
        for part in parts:
            if part.casefold() not in heard.casefold():
                self._fail(wanted, diff=_plain_diff(f"… {part} …", heard))
        if regex is not None and not re.search(regex, heard):
            self._fail(wanted, diff=_plain_diff(f"/{regex}/", heard))
        self._check_speech(action, wanted, voice=voice, barge_in=barge_in)
        if timeout is not None and action.user_input_timeout_seconds != timeout:
            found = action.user_input_timeout_seconds
            self._fail(wanted, diff=_plain_diff(f"waits {timeout:g} s", f"waits {found}"))
        self.position += 1
        return self

    def audio(self, *, barge_in: str | None = None) -> Expect:
        """The next action plays audio."""
        __tracebackhide__ = True
        wanted = "audio" + (f" with barge-in {barge_in}" if barge_in else "")
        action = self._take(AudioAction, wanted)
        assert isinstance(action, AudioAction)
        self._check_speech(action, wanted, voice=None, barge_in=barge_in)
        self.position += 1
        return self

    def hangup(self) -> Expect:
        """The next action hangs up."""
        __tracebackhide__ = True
        self._take(HangupAction, "hangup")
        self.position += 1
        return self

    def transfer(self, target: str | None = None, *, timeout: int | None = None) -> Expect:
        """The next action transfers the call (to ``target``, with ``timeout`` if given)."""
        __tracebackhide__ = True
        wanted = "transfer" + (f" to {target}" if target else "")
        wanted += f" with timeout {timeout} s" if timeout is not None else ""
        action = self._take(TransferAction, wanted)
        assert isinstance(action, TransferAction)
        if target is not None and action.target_phone_number != _number(target):
            heard = action.target_phone_number
            self._fail(wanted, diff=_plain_diff(_number(target), heard))
        if timeout is not None and action.timeout != timeout:
            self._fail(wanted, diff=_plain_diff(f"timeout {timeout}", f"timeout {action.timeout}"))
        self.position += 1
        return self

    def barge_in(self) -> Expect:
        """The next action stops the current playback (``barge_in``)."""
        __tracebackhide__ = True
        self._take(BargeInAction, "barge_in")
        self.position += 1
        return self

    def action(self, type: str, **fields: Any) -> Expect:
        """The next action has ``type`` and these wire fields (others are not checked)."""
        __tracebackhide__ = True
        shown = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in fields.items())
        wanted = f"{type}{' ' + shown if shown else ''}"
        action = self._take(None, wanted, kind=type)
        wire = action.to_wire()
        for name, value in fields.items():
            if wire.get(name) != value:
                got = json.dumps(wire.get(name), ensure_ascii=False)
                self._fail(wanted, diff=_plain_diff(f"{name}={json.dumps(value)}", f"{name}={got}"))
        self.position += 1
        return self

    def speech_ended(self) -> Expect:
        """The speech so far was played to its end before the next action came: the next
        action answers the platform's ``assistant_speech_ended`` (a held ``hangup`` or
        ``transfer``); at the end of the turn, the last speech was heard in full."""
        __tracebackhide__ = True
        before = self._ends_before[self.position - 1] if self.position > 0 else 0
        after = (
            self._ends_before[self.position] if self.position < len(self.actions) else self._ends
        )
        if after <= before:
            self._fail(SPEECH_ENDED)
        return self

    def skip(self, count: int = 1) -> Expect:
        """Pass over ``count`` actions without checking them."""
        __tracebackhide__ = True
        self.position += count
        if self.position > len(self.actions):
            self._fail(f"{count} more action(s) to skip")
        return self

    # --- the whole turn -----------------------------------------------------------------

    def no_more_actions(self) -> Expect:
        """Every action of the turn has been checked."""
        __tracebackhide__ = True
        if self.position < len(self.actions):
            self._fail("no more actions")
        return self

    def nothing(self) -> Expect:
        """The turn produced no action at all (the webhook answered 204)."""
        __tracebackhide__ = True
        if self.actions:
            self.position = 0
            self._fail("no action (204)")
        return self

    def within(self, ms: float) -> Expect:
        """The webhook answered the caller's request(s) of this turn within ``ms``."""
        __tracebackhide__ = True
        if self.turn.latency_ms > ms:
            message = (
                f"turn {self.turn.number} ({self.turn.label}): the answer took "
                f"{self.turn.latency_ms:.0f} ms; the budget is {ms:g} ms"
            )
            raise AssertionError(f"{message}\n\n{render_turn(self.turn)}")
        return self

    def status(self, code: int) -> Expect:
        """The webhook answered the caller's request with HTTP ``code``."""
        __tracebackhide__ = True
        if self.turn.status != code:
            message = (
                f"turn {self.turn.number} ({self.turn.label}): expected HTTP {code}, "
                f"got {self.turn.status}"
            )
            raise AssertionError(f"{message}\n\n{render_turn(self.turn)}")
        return self

    # --- internals ----------------------------------------------------------------------

    def _take(self, cls: type | None, wanted: str, *, kind: str | None = None) -> Action:
        __tracebackhide__ = True
        if self.position >= len(self.actions):
            self._fail(wanted)
        action = self.actions[self.position]
        if (cls is not None and not isinstance(action, cls)) or (kind and action.type != kind):
            self._fail(wanted)
        return action

    def _check_speech(
        self,
        action: SpeakAction | AudioAction,
        wanted: str,
        *,
        voice: str | None,
        barge_in: str | None,
    ) -> None:
        __tracebackhide__ = True
        if voice is not None:
            tts = action.tts if isinstance(action, SpeakAction) else None
            found = tts.voice if tts is not None else "default"
            if found != voice:
                self._fail(wanted, diff=_plain_diff(f"voice {voice}", f"voice {found}"))
        if barge_in is not None:
            found = action.barge_in.strategy if action.barge_in else "default"
            if found != barge_in:
                self._fail(wanted, diff=_plain_diff(f"barge-in {barge_in}", f"barge-in {found}"))

    def _fail(self, wanted: str, *, diff: list[str] | None = None) -> NoReturn:
        __tracebackhide__ = True
        at_end = self.position >= len(self.actions)
        heard_text = "nothing (end of the turn)" if at_end else _short(self.actions[self.position])
        turn = self.turn
        lines = [
            f"turn {turn.number} (caller {turn.label}): expected {wanted}, heard {heard_text}",
            "",
            render_turn(turn, mark=None if at_end else self.position, mark_end=at_end),
            "",
        ]
        lines += diff or [f"- expected: {wanted}", f"+ heard:    {heard_text}"]
        raise AssertionError("\n".join(lines))


def render_turn(turn: TurnLike, *, mark: int | None = None, mark_end: bool = False) -> str:
    """The turn as indented lines: each request, the actions it got; ``>>>`` at ``mark``."""
    lines: list[str] = []
    index = 0
    for exchange in turn.exchanges:
        lines.append(f"    {_exchange_line(exchange)}")
        for action in exchange.actions:
            prefix = ">>> " if index == mark else "    "
            lines.append(f"{prefix}      {index + 1}. {_short(action)}")
            index += 1
    if mark_end:
        lines.append(">>>       (end of the turn: no more actions)")
    return "\n".join(lines)


def _exchange_line(exchange: ExchangeLike) -> str:
    event = exchange.event
    kind = str(event.get("type", "?"))
    shown = []
    for key, value in event.items():
        if key in ("type", "session", "speech_started_at"):
            continue
        shown.append(f"{key}={json.dumps(value, ensure_ascii=False)}")
    detail = f"{kind} {' '.join(shown)}".strip()
    answer = f"-> {exchange.status} in {exchange.latency_ms:.0f} ms"
    if exchange.error:
        answer += f": {exchange.error}"
    elif exchange.status >= 400:
        answer += f": {exchange.body[:200]}"
    return f"{exchange.by:<9}{_clip(detail, 70):<70} {answer}"


def _short(action: Action) -> str:
    if isinstance(action, SpeakAction):
        extras = speech_settings(action)
        text = json.dumps(speech_text(action), ensure_ascii=False)
        return f"speak {text}" + (f"  [{extras}]" if extras else "")
    details = describe_action(action)
    if details.startswith(f"({action.type}") and details.endswith(")"):
        return details[1:-1]  # "(hangup)" -> "hangup", "(barge_in)" -> "barge_in"
    return f"{action.type} {details}"


def _want_speech(
    text: str | None,
    parts: list[str],
    regex: str | None,
    voice: str | None,
    barge_in: str | None,
    timeout: float | None,
) -> str:
    conditions = []
    if text is not None:
        conditions.append(json.dumps(text, ensure_ascii=False))
    conditions += [f"containing {json.dumps(p, ensure_ascii=False)}" for p in parts]
    if regex is not None:
        conditions.append(f"matching /{regex}/")
    if voice is not None:
        conditions.append(f"in voice {voice}")
    if barge_in is not None:
        conditions.append(f"with barge-in {barge_in}")
    if timeout is not None:
        conditions.append(f"waiting {timeout:g} s")
    return " ".join(["speak", *conditions])


def _text_diff(expected: str, heard: str) -> list[str]:
    lines = list(difflib.ndiff([expected], [heard]))
    out = []
    for line in lines:
        tag, rest = line[:2], line[2:].rstrip("\n")
        if tag == "- ":
            out.append(f"- expected: {rest}")
        elif tag == "+ ":
            out.append(f"+ heard:    {rest}")
        elif tag == "? ":
            out.append(f"?           {rest}")
    return out


def _plain_diff(expected: str, heard: str) -> list[str]:
    return [f"- expected: {expected}", f"+ heard:    {heard}"]


def _number(value: str) -> str:
    try:
        return to_action_number(value)
    except ValueError:
        return value


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
