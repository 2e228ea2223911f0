"""Streaming answers, on any transport: sentences go out as soon as they are ready.

Two tools for handlers, importable from ``aiflow``:

* :func:`streaming` on a generator handler: each yielded sentence (``str``) or action is
  sent as soon as the next one is under way::

      @assistant.on_user_speak
      @streaming
      def answer(event: UserSpeakEvent, call: Call):
          yield from agent.stream(call, event.text)      # one speak per finished sentence

  ``async def`` generators work the same way.
* :func:`send` from any handler: ``send("One moment, please …")`` goes out now and returns
  True when the transport can send before the handler returns.

Over a WebSocket the transport gives the turn a :class:`Channel`, and frames go out as the
handler produces them. Over HTTP there is no channel: the items are collected into the one
reply (consecutive sentences become one ``speak``) and :func:`send` returns False (there the
deadline guard says the filler).

The last sentence of a streamed answer is held back for ``lookahead`` (50 ms by default):
when the generator ends within that time, the sentence goes to the core with the rest, and
so gets the assistant's ``user_input_timeout``, and a ``hangup``/``transfer`` after it is
held back until the speech has ended, exactly as for a returned list. A ``hangup`` or
``transfer`` sent after streamed speech is always held back until that speech has ended.

A streamed answer stops when the caller starts talking (the transport's ``cancelled``
check): the generator is closed, what was not sent yet is dropped.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import queue
import threading
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from contextvars import ContextVar
from typing import Any, TypeVar

from .call import Call
from .errors import AiflowError
from .protocol.actions import Action, AudioAction, BaseAction, SpeakAction, reply_body
from .replies import ENDS_SPEECH, SPEECH, AfterSpeech, Item, as_action, collect

F = TypeVar("F", bound=Callable[..., Any])
Sender = Callable[[str], None]
"""Sends one JSON text frame to the platform; raises :class:`ConnectionGone` when it left."""

Defaults = Callable[[Action], Action]
"""Applies the assistant's speech defaults (voice, barge-in) to an action."""

DEFAULT_LOOKAHEAD_S = 0.05
_END = object()


class ConnectionGone(AiflowError):
    """The WebSocket connection is closed: nothing more can be sent on it."""

    code = "connection_gone"


class SendFailed(AiflowError):
    """A frame could not be sent (throttled, or the transport failed)."""

    code = "send_failed"


_CURRENT: ContextVar[Channel | None] = ContextVar("aiflow_channel", default=None)


def current() -> Channel | None:
    """The channel of the event being handled, or None when the transport has none (HTTP)."""
    return _CURRENT.get()


@contextlib.contextmanager
def using(channel: Channel | None) -> Iterator[None]:
    """Make ``channel`` the one :func:`send` and :func:`streaming` use, inside the block."""
    token = _CURRENT.set(channel)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def send(*items: Item) -> bool:
    """Send ``items`` to the caller now, if the transport can (WebSocket).

    Strings become ``speak`` actions with the assistant's defaults (no user-input timeout:
    more is coming). Returns False when nothing was sent: over HTTP, after the caller
    started talking, or after the connection closed.
    """
    channel = _CURRENT.get()
    return channel.send(items) if channel is not None else False


def streaming(func: F) -> F:
    """Decorator for generator handlers: send each yielded item as soon as it is complete.

    Place it below the ``@assistant.on_...`` decorator. See the module docstring.
    """
    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        async def async_handler(*args: Any, **kwargs: Any) -> Any:
            items: AsyncIterator[Item] = func(*args, **kwargs)
            channel = _CURRENT.get()
            if channel is None:
                return collect([item async for item in items])
            return await channel.stream_async(items)

        return async_handler  # type: ignore[return-value]

    @functools.wraps(func)
    def handler(*args: Any, **kwargs: Any) -> Any:
        items = func(*args, **kwargs)
        if items is None or isinstance(items, str | BaseAction | AfterSpeech | Sequence):
            return items  # not a generator after all: an ordinary result
        channel = _CURRENT.get()
        if channel is None:
            return collect(items)
        return channel.stream(items)

    return handler  # type: ignore[return-value]


class _Lookahead:
    """Decides what goes out now and what is held back for the core (the tail)."""

    def __init__(self) -> None:
        self.held: list[Item] = []

    def add(self, item: Item) -> list[Item]:
        """Hold ``item``; return what is now known not to be the tail."""
        if isinstance(item, str) and not item.strip():
            return []
        if _is_speech(item) and any(_is_speech(h) for h in self.held):
            out, self.held = self.held, [item]
            return out
        self.held.append(item)
        return []

    def timeout(self) -> list[Item]:
        """The next item is slow: what is held is not the tail after all."""
        out, self.held = self.held, []
        return out


class Channel:
    """Sends actions of one event's handling to the platform, while the handler runs.

    Created by the turn engine for each event on a transport that can send at any time
    (WebSocket); handlers reach it through :func:`send` and :func:`streaming`. What goes out
    is noted in the call as it is sent (history, status); what must wait for the speech is
    collected in :attr:`later` and held by the core when the turn ends. Thread-safe.

    Args:
        call: the call being handled.
        sender: sends one JSON text frame.
        defaults: applies the assistant's speech defaults to an action.
        cancelled: whether the caller started talking (checked before each send).
        lookahead: seconds a streamed item is held back to see whether it is the last.
    """

    def __init__(
        self,
        call: Call,
        sender: Sender,
        *,
        defaults: Defaults = lambda action: action,
        cancelled: Callable[[], bool] = lambda: False,
        lookahead: float = DEFAULT_LOOKAHEAD_S,
    ) -> None:
        self.call = call
        self.defaults = defaults
        self.sender = sender
        self.cancelled = cancelled
        self.lookahead = lookahead
        self.close_timeout = 2.0
        self.sent: list[Action] = []
        self.later: list[Action] = []
        self.speeches = 0
        self.frames = 0
        self.closed: str | None = None  # why nothing more goes out
        self.last_sent = time.monotonic()
        self._lock = threading.RLock()

    # --- sending ------------------------------------------------------------------------

    def send(self, items: Iterable[Item], *, record: bool = True) -> bool:
        """Send ``items`` now (one frame); hangup/transfer after speech are held back."""
        with self._lock:
            if self.closed is not None:
                return False
            if self._check_cancelled():
                return False
            now: list[Action] = []
            for item, deferred in _flatten(items):
                action = self._with_defaults(as_action(item))
                spoke = self.speeches > 0 or any(isinstance(a, SPEECH) for a in now)
                if deferred or self.later or (spoke and isinstance(action, ENDS_SPEECH)):
                    self.later.append(action)
                else:
                    now.append(action)
            if not now:
                return bool(self.later)
            body = reply_body(now)
            assert body is not None
            try:
                self.sender(body)
            except ConnectionGone:
                self.close("gone")
                return False
            except SendFailed:
                self.close("send_failed")
                return False
            self.frames += 1
            self.last_sent = time.monotonic()
            self.sent.extend(now)
            self.speeches += sum(isinstance(a, SPEECH) for a in now)
            if record:
                self._record(now)
            return True

    def close(self, reason: str) -> None:
        """Send nothing more for this event (interrupted, gone, or the turn was given up)."""
        with self._lock:
            if self.closed is None:
                self.closed = reason

    def idle_seconds(self) -> float:
        """Seconds since the last frame (or since the channel was created)."""
        return time.monotonic() - self.last_sent

    # --- streaming ----------------------------------------------------------------------

    def stream(self, items: Iterable[Item]) -> list[Item]:
        """Send ``items`` as they come; return the tail for the core (see module docstring)."""
        source: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()
        iterator = iter(items)

        def produce() -> None:
            try:
                for item in iterator:
                    source.put(("item", item))
                    if stop.is_set():
                        break
                source.put(("end", None))
            except BaseException as exc:  # handed to the consumer, which raises it
                source.put(("error", exc))
            finally:
                close = getattr(iterator, "close", None)
                if stop.is_set() and callable(close):
                    with contextlib.suppress(Exception):
                        close()

        producer = threading.Thread(target=produce, name="aiflow-stream", daemon=True)
        producer.start()
        picker = _Lookahead()
        try:
            while True:
                try:
                    kind, value = source.get(timeout=self.lookahead if picker.held else None)
                except queue.Empty:
                    if not self._send_items(picker.timeout()):
                        return []
                    continue
                if kind == "end":
                    return self._tail(picker.held)
                if kind == "error":
                    raise value
                if not self._send_items(picker.add(value)):
                    return []
        finally:
            stop.set()
            # Stopped early: let the generator close before the call is saved, so that what
            # it does on the way out (nothing is committed on close) cannot race the save.
            producer.join(self.close_timeout)

    async def stream_async(self, items: AsyncIterable[Item]) -> list[Item]:
        """:meth:`stream` for async generators."""
        import asyncio  # only async streaming handlers pay for importing asyncio

        iterator = aiter(items)
        picker = _Lookahead()
        pending: asyncio.Future[Any] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(_next(iterator))
                try:
                    if picker.held:
                        value = await asyncio.wait_for(asyncio.shield(pending), self.lookahead)
                    else:
                        value = await pending
                except TimeoutError:
                    if not await asyncio.to_thread(self._send_items, picker.timeout()):
                        return []
                    continue
                pending = None
                if value is _END:
                    return self._tail(picker.held)
                if not await asyncio.to_thread(self._send_items, picker.add(value)):
                    return []
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            close = getattr(iterator, "aclose", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    await close()

    def _send_items(self, items: list[Item]) -> bool:
        """Send ``items`` unless empty; False when the channel is closed (stop streaming)."""
        if items:
            self.send(items)
        return self.closed is None

    def _tail(self, held: list[Item]) -> list[Item]:
        """What the core gets when the stream ended: nothing if the caller cut us off."""
        if self.closed is not None or (held and self._check_cancelled()):
            return []
        return held

    # --- helpers ------------------------------------------------------------------------

    def _check_cancelled(self) -> bool:
        try:
            cancelled = self.cancelled()
        except Exception:
            cancelled = False  # the check failed: better finish the answer than go silent
        if cancelled:
            self.close("interrupted")
        return cancelled

    def _with_defaults(self, action: Action) -> Action:
        # The user-input timeout is decided later, when the last sentence is known.
        return self.defaults(action).for_session(self.call.session_id)

    def _record(self, actions: list[Action]) -> None:
        self.call.said(actions)


def _is_speech(item: Item) -> bool:
    return isinstance(item, str | SpeakAction | AudioAction)


def _flatten(items: Iterable[Item]) -> Iterator[tuple[str | BaseAction, bool]]:
    for item in items:
        if isinstance(item, AfterSpeech):
            for inner in item.actions:
                yield inner, True
        elif isinstance(item, str) and not item.strip():
            continue
        elif isinstance(item, str | BaseAction):
            yield item, False
        else:
            raise TypeError(f"a streaming handler yielded {type(item).__name__}")


async def _next(iterator: AsyncIterator[Item]) -> Any:
    try:
        return await anext(iterator)
    except StopAsyncIteration:
        return _END
