"""The reference call: a long, realistic conversation with the deployed receptionist.

A caller of the (fictitious) family practice in ``functions/receptionist/receptionist.yaml``
asks one question per turn, 80-200 characters each, about appointments, prescriptions, sick
notes, opening hours, the address and parking; the receptionist answers from its FAQ and
opening hours (answers of similar length). Each turn is what the platform sends:
``user_speak`` (the question), ``assistant_speak`` (the answer's speech started) and
``assistant_speech_ended``. The questions avoid the words that end the call, ask for a
person or leave a message, so the call can go on for 100 turns and more.

Used by bench/capacity.py (DynamoDB units per event at turns 1, 10 and 100).
"""

from __future__ import annotations

import time
from typing import Any

QUESTIONS = (
    "Guten Tag, ich wollte fragen, wie ich am besten einen Termin bei Frau Doktor Weber"
    " bekomme, gerne schon nächste Woche.",
    "Ich müsste meinen Termin am Donnerstag leider verschieben, weil ich beruflich verreisen"
    " muss. Geht das so kurzfristig noch?",
    "Kann ich bei Ihnen ein Folgerezept für mein Blutdruckmedikament bestellen, das ich jeden"
    " Morgen nehme? Die Packung ist fast leer.",
    "Wann haben Sie denn diese Woche geöffnet? Ich würde gern nach der Arbeit vorbeikommen,"
    " so gegen fünf Uhr nachmittags.",
    "Wo genau ist die Praxis eigentlich? Ich komme mit dem Auto aus Neuss und weiß nicht,"
    " wo ich dort parken kann.",
    "Ich bin seit gestern ziemlich erkältet und brauche für meinen Arbeitgeber eine"
    " Krankschreibung. Wie läuft das bei Ihnen ab?",
    "Meine Tochter hat seit heute Morgen hohes Fieber und Bauchschmerzen, und der Kinderarzt"
    " ist im Urlaub. Ist das ein Notfall, oder reicht es, wenn wir morgen früh in die"
    " offene Sprechstunde kommen?",
    "Brauche ich für die offene Sprechstunde am Morgen eigentlich einen Termin, oder kann"
    " ich einfach so vorbeikommen?",
    "Ich habe schon eine Überweisung zum Orthopäden bekommen, brauche aber noch eine zweite"
    " für die Physiotherapie. Geht das online?",
    "Haben Sie am Mittwochnachmittag eigentlich auch Sprechzeiten, oder ist dann geschlossen?",
    "Gibt es bei Ihnen in der Nähe einen Parkplatz oder ein Parkhaus? Ich bin leider nicht"
    " mehr so gut zu Fuß unterwegs.",
    "Ich möchte meinen Termin nächste Woche lieber absagen, mir geht es inzwischen wieder"
    " deutlich besser, vielen Dank.",
)

# Speech rate for the assistant_speak events: about 15 characters per second.
MS_PER_CHARACTER = 65


def question(turn: int) -> str:
    """The caller's sentence of ``turn`` (1-based); the questions repeat in order."""
    return QUESTIONS[(turn - 1) % len(QUESTIONS)]


def session(session_id: str) -> dict[str, Any]:
    return {
        "id": session_id,
        "account_id": "acc-7731",
        "phone_number": "+4921198765400",
        "direction": "inbound",
        "from_phone_number": "+4917612345678",
        "to_phone_number": "+4921198765400",
    }


def spoken_text(reply: Any) -> str:
    """The text of the ``speak`` action(s) in a webhook answer (a body parsed from JSON)."""
    actions = reply if isinstance(reply, list) else [reply] if reply else []
    return " ".join(a.get("text", "") for a in actions if a.get("type") == "speak")


def user_speak(turn: int, session_id: str) -> dict[str, Any]:
    """The caller's question of ``turn``."""
    return {"type": "user_speak", "text": question(turn), "session": session(session_id)}


def assistant_speak(answer: str, session_id: str) -> dict[str, Any]:
    """The platform's report that the answer's speech started."""
    return {
        "type": "assistant_speak",
        "text": answer,
        "duration_ms": len(answer) * MS_PER_CHARACTER,
        "speech_started_at": int(time.time() * 1000),
        "session": session(session_id),
    }


def assistant_speech_ended(session_id: str) -> dict[str, Any]:
    return {"type": "assistant_speech_ended", "session": session(session_id)}


def other_events(session_id: str) -> dict[str, dict[str, Any]]:
    """Events a turn may bring besides the three above (probed at the measured turns)."""
    sess = session(session_id)
    return {
        "dtmf_received": {"type": "dtmf_received", "digit": "1", "session": sess},
        "user_input_timeout": {"type": "user_input_timeout", "session": sess},
        "session_end": {"type": "session_end", "reason": "caller_hangup", "session": sess},
    }
