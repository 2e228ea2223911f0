"""Several phone numbers, several assistants, one deployment.

A :class:`Router` picks the assistant of a call from the AI Flow number it concerns (the
number dialled for an inbound call, the number calling out for an outbound one); each
assistant keeps its own handlers, state model and defaults::

    router = Router(
        {"+4921198765400": practice, "+4921198765499": after_hours},
        default=practice,                 # any other number
    )
    handler = lambda_handler(router)      # every entry point takes a router like an assistant

Numbers match with or without ``+``, with ``00`` for ``+`` and with separators
(:func:`aiflow.protocol.phone.to_e164`). A number nobody configured gets the ``default``
assistant, or, without one, a polite goodbye (``unknown_number``) and a hangup. The choice
is stored with the call, so every later event of it, on any instance, reaches the same
assistant. :meth:`Router.from_file` reads the routes from YAML or JSON::

    routes:
      "+49 211 98765400": practice.app:assistant
      "+49 211 98765499": practice.night:assistant
    default: practice.app:assistant
    unknown_number: "Diese Rufnummer ist nicht vergeben. Auf Wiederhören."
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .assistant import Assistant
from .errors import AiflowError
from .protocol.actions import BargeInPolicy, hangup, speak
from .protocol.events import Session
from .protocol.phone import to_e164

UNKNOWN_NUMBER = "Sorry, this number is not in service. Goodbye."
_UNROUTED = "unrouted"


class RoutingError(AiflowError, ValueError):
    """A route names no assistant, or a number twice (the message says which)."""

    code = "bad_route"


class Router:
    """Picks the assistant for each call (see the module docstring).

    Args:
        routes: AI Flow number -> the assistant answering it.
        default: the assistant of every other number (None: ``unknown_number`` is said).
        unknown_number: said before hanging up on a number without a route or default.
        name: the service name in logs and metrics.
    """

    def __init__(
        self,
        routes: Mapping[str, Assistant] | None = None,
        *,
        default: Assistant | None = None,
        unknown_number: str = UNKNOWN_NUMBER,
        name: str = "router",
    ) -> None:
        self.name = name
        self.default = default
        self._routes: dict[str, Assistant] = {}
        self._by_name: dict[str, Assistant] = {}
        self._unrouted = _goodbye(unknown_number)
        for number, assistant in (routes or {}).items():
            self.route(number, assistant)
        if default is not None:
            self._remember(default)

    def route(self, numbers: str | Iterable[str], assistant: Assistant) -> None:
        """Let ``assistant`` answer the calls of ``numbers``."""
        for number in [numbers] if isinstance(numbers, str) else numbers:
            key = number_key(number)
            if key in self._routes and self._routes[key] is not assistant:
                raise RoutingError(f"{number!r} is routed to two assistants")
            self._routes[key] = assistant
        self._remember(assistant)

    @property
    def assistants(self) -> list[Assistant]:
        """Every assistant this router can pick (the goodbye for unknown numbers last)."""
        return [*self._by_name.values(), self._unrouted]

    def for_session(self, session: Session) -> Assistant:
        """The assistant of a new call with this ``session`` object: by the AI Flow number
        (``phone_number``; the called number of an inbound call, the calling number of an
        outbound one)."""
        if session.direction == "outbound":
            numbers = (session.from_phone_number, session.phone_number)
        else:
            numbers = (session.phone_number, session.to_phone_number)
        for number in numbers:
            if number:
                chosen = self._routes.get(number_key(number))
                if chosen is not None:
                    return chosen
        return self.default if self.default is not None else self._unrouted

    def by_name(self, name: str | None) -> Assistant | None:
        """The assistant a stored call was routed to (by its name)."""
        if name == _UNROUTED:
            return self._unrouted
        return self._by_name.get(name or "")

    @classmethod
    def from_file(cls, path: str | Path) -> Router:
        """A router from a YAML or JSON file (see the module docstring)."""
        source = Path(path)
        text = source.read_text(encoding="utf-8")
        if source.suffix == ".json":
            raw: Any = json.loads(text)
        else:
            import yaml

            raw = yaml.safe_load(text)
        if not isinstance(raw, dict) or not isinstance(raw.get("routes", {}), dict):
            raise RoutingError(f"{source}: expected a mapping with `routes:` (number: module:obj)")
        routes = {str(k): _load(v, f"{source}: routes.{k}") for k, v in raw["routes"].items()}
        default = _load(raw["default"], f"{source}: default") if raw.get("default") else None
        return cls(
            routes, default=default, unknown_number=str(raw.get("unknown_number", UNKNOWN_NUMBER))
        )

    def _remember(self, assistant: Assistant) -> None:
        known = self._by_name.get(assistant.name)
        if known is not None and known is not assistant:
            raise RoutingError(
                f"two assistants are named {assistant.name!r}; a stored call names its "
                "assistant, so names must differ"
            )
        self._by_name[assistant.name] = assistant


def number_key(number: str) -> str:
    """How numbers are compared: E.164 where it can be told, else digits as written."""
    normalised = to_e164(number) or number
    return "".join(ch for ch in normalised if ch.isdigit() or ch == "+")


def as_router(target: Assistant | Router) -> Router:
    """``target`` as a router (one assistant answers every number)."""
    return target if isinstance(target, Router) else Router(default=target)


def _goodbye(sentence: str) -> Assistant:
    unrouted = Assistant(_UNROUTED)
    farewell = speak(sentence, barge_in=BargeInPolicy(strategy="none"))

    @unrouted.on_session_start
    def goodbye() -> list[Any]:
        return [farewell, hangup()]

    return unrouted


def _load(spec: Any, where: str) -> Assistant:
    module_name, _, attribute = str(spec).partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in (attribute or "assistant").split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise RoutingError(f"{where}: cannot load {spec!r}: {exc}") from None
    if not isinstance(obj, Assistant):
        raise RoutingError(f"{where}: {spec!r} is a {type(obj).__name__}, not an Assistant")
    return obj
