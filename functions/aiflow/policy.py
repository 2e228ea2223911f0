"""How an assistant's turns behave beyond its handlers: waiting, limits, outages.

Passed to :class:`~aiflow.Assistant` as ``policy=TurnPolicy(...)``; every field has a
default, and the sentences default to the assistant's language::

    Assistant("praxis", language="de-DE", policy=TurnPolicy(max_fillers=2, history_limit=30))
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .plain import FrozenValue
from .protocol.actions import TransferAction

FILLERS = {
    "de": ("Einen Moment, bitte …", "Ich bin gleich so weit, einen Moment noch."),
    "en": ("One moment, please …", "I'm nearly there, just a moment."),
}
APOLOGIES = {
    "de": "Entschuldigung, das dauert leider zu lange. Können Sie Ihre Frage bitte wiederholen?",
    "en": "Sorry, that is taking too long. Could you ask me again, please?",
}
FALLBACKS = {
    "de": "Entschuldigung, da ist bei uns etwas schiefgelaufen. Bitte sagen Sie das noch einmal.",
    "en": "Sorry, something went wrong on our side. Could you say that again, please?",
}
OUTAGES = {
    "de": (
        "Entschuldigung, wir haben gerade eine technische Störung. Bitte rufen Sie später "
        "noch einmal an. Auf Wiederhören."
    ),
    "en": (
        "Sorry, we are having technical difficulties right now. Please call again later. Goodbye."
    ),
}


@dataclass(frozen=True, eq=False, repr=False)  # FrozenValue: ==, hash, repr
class OutagePolicy(FrozenValue):
    """What happens when the call store keeps failing during a call.

    After ``after_failures`` turns in a row that got the fallback because the store was
    unavailable (as far as this process can tell), the caller hears ``sentence`` and then
    the call is handed on with ``transfer`` (e.g. ``transfer("+4921198765411",
    caller_id_name="Praxis", caller_id_number="+4921198765400")``), or hung up when it is
    None.

    Attributes:
        after_failures: consecutive store failures before the call is ended (0: never).
        sentence: what the caller hears; default in the assistant's language.
        transfer: where to hand the call instead of hanging up.
    """

    after_failures: int = 3
    sentence: str | None = None
    transfer: TransferAction | None = None


@dataclass(frozen=True, eq=False, repr=False)  # FrozenValue: ==, hash, repr
class TurnPolicy(FrozenValue):
    """Limits and sentences for turns.

    Attributes:
        fillers: said while a slow answer is prepared (default: by language).
        slow_apology: said when the answer did not come after ``max_fillers`` fillers.
        max_fillers: fillers per slow turn before the apology.
        history_limit: turns kept in ``call.history``.
        history_max_bytes: bytes of history kept in the call record (oldest dropped first).
        state_max_bytes: the largest ``call.state`` (JSON) a turn may leave; a larger one
            fails the turn with an error naming the key that grew.
        dtmf_barge_in: a reply to a key press starts with ``barge_in``, so a menu being
            read out stops at once.
        outage: see :class:`OutagePolicy`.
    """

    fillers: tuple[str, ...] | None = None
    slow_apology: str | None = None
    max_fillers: int = 3
    history_limit: int = 50
    history_max_bytes: int = 48_000
    state_max_bytes: int = 160_000
    dtmf_barge_in: bool = True
    outage: OutagePolicy = field(default_factory=OutagePolicy)

    def __post_init__(self) -> None:
        if self.max_fillers < 1:
            raise ValueError("TurnPolicy.max_fillers must be at least 1")
        if self.history_limit < 1:
            raise ValueError("TurnPolicy.history_limit must be at least 1")
        if self.fillers is not None and not self.fillers:
            raise ValueError("TurnPolicy.fillers must hold at least one sentence")


def by_language(table: dict[str, str], language: str) -> str:
    """The entry of ``table`` for a BCP-47 ``language`` (English when there is none)."""
    return table.get(language[:2].lower(), table["en"])


def fillers_for(language: str) -> tuple[str, ...]:
    """The built-in filler sentences for ``language``."""
    return FILLERS.get(language[:2].lower(), FILLERS["en"])
