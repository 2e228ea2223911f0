"""Who calls whom in a simulated call, and how the simulated platform behaves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class CallOptions:
    """Who calls whom, and how the simulated platform behaves.

    Attributes:
        caller: the person on the line: ``from_phone_number`` of an inbound call, the
            number called (``to_phone_number``) of an outbound one.
        called: the AI Flow number (``phone_number``; with a :class:`~aiflow.Router` it
            picks the assistant).
        account_id: ``session.account_id``.
        direction: ``inbound``, or ``outbound``: the AI Flow calls ``caller``.
        outbound_data: for an outbound call, what ``aiflow.outbound.dial(data=...)`` would
            attach; the assistant finds it in ``call.outbound.data`` (in process only).
        flow_id: the AI Flow of an outbound call's context.
        session_id: the call id (default: a new UUID per simulator).
        transfer_fails: every transfer fails: with a ``timeout`` the caller comes back (a
            second ``session_start``), without one the call ends.
        ms_per_char: speech duration estimate for ``assistant_speak.duration_ms``.
        worker: in process, what happens to a turn that outran its budget (the caller
            hears a filler): ``inline`` runs the slow-turn worker right after the answer,
            so the filler's end delivers the real answer; ``manual`` pauses the filler's
            playback until :meth:`CallSimulator.run_worker`; ``off``: no worker, the caller
            hears the fallback.
        real_time: wait for each speech's length between ``assistant_speak`` and
            ``assistant_speech_ended``, as a phone would (for a webhook whose worker runs
            in a thread of its own, e.g. ``aiflow dev``).
        http_timeout_s: how long to wait for a remote webhook.
    """

    caller: str = "+4917612345678"
    called: str = "+4921198765400"
    account_id: str = "local-account"
    direction: Literal["inbound", "outbound"] = "inbound"
    outbound_data: Mapping[str, Any] | None = None
    flow_id: str = "local-flow"
    session_id: str | None = None
    transfer_fails: bool = False
    ms_per_char: int = 65
    worker: Literal["inline", "manual", "off"] = "inline"
    real_time: bool = False
    http_timeout_s: float = 10.0


def session_of(options: CallOptions, session_id: str, *, full: bool) -> dict[str, Any]:
    """The ``session`` object of the call's events (``full``: with direction and numbers, as
    on ``session_start``). Outbound, the AI Flow number calls ``options.caller``."""
    session: dict[str, Any] = {
        "id": session_id,
        "account_id": options.account_id,
        "phone_number": options.called,
    }
    if full:
        session["direction"] = options.direction
        if options.direction == "outbound":
            session["from_phone_number"] = options.called
            session["to_phone_number"] = options.caller
        else:
            session["from_phone_number"] = options.caller
            session["to_phone_number"] = options.called
    return session
