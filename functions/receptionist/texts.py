"""Language data of the offline engine: built-in sentences and the words it listens for.

Everything here is keyed by the short language code (``de``, ``en``). Sentences can be
overridden per language in the ``texts:`` section of the YAML; the word lists are the
engine's vocabulary and are extended (never replaced) by keywords in the YAML.
"""

from __future__ import annotations

from typing import Final, Literal

TextKey = Literal[
    "greeting",
    "clarify",
    "clarify_again",
    "anything_else",
    "go_ahead",
    "you_are_welcome",
    "no_problem",
    "handoff",
    "transfer_failed",
    "closed",
    "no_transfer",
    "message_prompt",
    "message_saved",
    "message_sms",
    "reprompt",
    "silence_goodbye",
    "farewell",
    "invalid_key",
    "language_switched",
    "hours_open_now",
    "hours_closed_now",
    "hello",
]

# Placeholders a sentence may use; filled in by the engine (empty when not applicable).
PLACEHOLDERS: Final = frozenset(
    {"business", "menu", "topics", "hours", "target", "caller", "message"}
)

DEFAULT_TEXTS: Final[dict[str, dict[str, str]]] = {
    "de": {
        "greeting": "{business}, guten Tag. Wie kann ich Ihnen helfen?",
        "clarify": (
            "Entschuldigung, das habe ich nicht ganz verstanden. Ich kann Ihnen zum Beispiel "
            "etwas zu {topics} sagen. Worum geht es?"
        ),
        "clarify_again": (
            "Das kann ich leider nicht beantworten. Soll ich Sie mit einem Mitarbeiter verbinden?"
        ),
        "anything_else": "Kann ich sonst noch etwas für Sie tun?",
        "go_ahead": "Gern, worum geht es?",
        "you_are_welcome": "Gern geschehen! Kann ich sonst noch etwas für Sie tun?",
        "no_problem": "Alles klar. Kann ich sonst noch etwas für Sie tun?",
        "handoff": "Einen Moment bitte, ich verbinde Sie mit {target}.",
        "transfer_failed": (
            "Entschuldigung, bei {target} ist gerade niemand erreichbar. Möchten Sie eine "
            "Nachricht hinterlassen? Dann sprechen Sie sie einfach jetzt."
        ),
        "closed": (
            "Wir sind gerade leider nicht erreichbar. {hours} Möchten Sie eine Nachricht "
            "hinterlassen? Dann sprechen Sie sie einfach jetzt."
        ),
        "no_transfer": (
            "Ich kann Sie leider gerade nicht verbinden. Möchten Sie eine Nachricht "
            "hinterlassen? Dann sprechen Sie sie einfach jetzt."
        ),
        "message_prompt": "Bitte sprechen Sie jetzt Ihre Nachricht, gern mit Ihrem Namen.",
        "message_saved": (
            "Danke, ich habe Ihre Nachricht notiert. Wir melden uns so bald wie möglich. "
            "Kann ich sonst noch etwas für Sie tun?"
        ),
        "message_sms": "Nachricht von {caller}: {message}",
        "reprompt": "Sind Sie noch da? Wie kann ich Ihnen helfen?",
        "silence_goodbye": (
            "Ich höre Sie leider nicht. Rufen Sie gern noch einmal an. Auf Wiederhören!"
        ),
        "farewell": "Vielen Dank für Ihren Anruf bei {business}. Auf Wiederhören!",
        "invalid_key": "Diese Taste ist leider nicht belegt. {menu}",
        "language_switched": "Gern, ich spreche Deutsch mit Ihnen. Wie kann ich helfen?",
        "hours_open_now": "Im Moment haben wir geöffnet.",
        "hours_closed_now": "Im Moment haben wir geschlossen.",
        "hello": "Ja, ich bin da. Wie kann ich Ihnen helfen?",
    },
    "en": {
        "greeting": "{business}, hello. How can I help you?",
        "clarify": (
            "Sorry, I did not quite understand that. I can tell you about {topics}, "
            "for example. What is it about?"
        ),
        "clarify_again": (
            "I am afraid I cannot answer that. Shall I put you through to a member of staff?"
        ),
        "anything_else": "Is there anything else I can do for you?",
        "go_ahead": "Sure, what is it about?",
        "you_are_welcome": "You are welcome! Is there anything else I can do for you?",
        "no_problem": "All right. Is there anything else I can do for you?",
        "handoff": "One moment please, I am putting you through to {target}.",
        "transfer_failed": (
            "I am sorry, nobody at {target} is available right now. Would you like to leave "
            "a message? Then just say it now."
        ),
        "closed": (
            "I am sorry, nobody is available right now. {hours} Would you like to leave a "
            "message? Then just say it now."
        ),
        "no_transfer": (
            "I am sorry, I cannot put you through right now. Would you like to leave a "
            "message? Then just say it now."
        ),
        "message_prompt": "Please say your message now, ideally with your name.",
        "message_saved": (
            "Thank you, I have taken down your message. We will get back to you as soon as "
            "possible. Is there anything else I can do for you?"
        ),
        "message_sms": "Message from {caller}: {message}",
        "reprompt": "Are you still there? How can I help you?",
        "silence_goodbye": "I cannot hear you, I am afraid. Please call again. Goodbye!",
        "farewell": "Thank you for calling {business}. Goodbye!",
        "invalid_key": "Sorry, that key has no function. {menu}",
        "language_switched": "Of course, I will speak English with you. How can I help?",
        "hours_open_now": "We are open right now.",
        "hours_closed_now": "We are closed right now.",
        "hello": "Yes, I am here. How can I help you?",
    },
}

# Words are written normalised (lower case, umlauts folded: see matching.normalize).
GOODBYE: Final[dict[str, tuple[str, ...]]] = {
    "de": (
        "tschuss",
        "tschus",
        "tschau",
        "ciao",
        "auf wiedersehen",
        "auf wiederhoren",
        "auf wiederschauen",
        "das war alles",
        "das wars",
        "das war s",
        "schonen tag noch",
    ),
    "en": (
        "bye",
        "goodbye",
        "good bye",
        "bye bye",
        "see you",
        "see ya",
        "that s all",
        "thats all",
        "that is all",
        "have a nice day",
    ),
}

PERSON: Final[dict[str, tuple[str, ...]]] = {
    "de": (
        "mitarbeiter",
        "mitarbeiterin",
        "mitarbeitern",
        "mitarbeiterinnen",
        "mensch",
        "menschen",
        "jemand",
        "jemandem",
        "jemanden",
        "person",
        "personlich",
        "verbinden",
        "verbinde",
        "durchstellen",
        "weiterleiten",
        "weiterverbinden",
        "sekretariat",
        "zentrale",
    ),
    "en": (
        "person",
        "human",
        "someone",
        "somebody",
        "operator",
        "representative",
        "receptionist",
        "staff",
        "agent",
        "real person",
        "connect me",
        "put me through",
        "transfer me",
    ),
}

MESSAGE: Final[dict[str, tuple[str, ...]]] = {
    "de": (
        "nachricht",
        "ruckruf",
        "zuruckrufen",
        "zuruckruft",
        "ruckrufen",
        "hinterlassen",
    ),
    "en": ("message", "call me back", "call back", "callback", "voicemail"),
}

YES: Final[dict[str, tuple[str, ...]]] = {
    "de": ("ja", "jawohl", "genau", "gerne", "gern", "klar", "bitte", "ok", "okay", "jo"),
    "en": ("yes", "yeah", "yep", "sure", "please", "ok", "okay", "alright"),
}

NO: Final[dict[str, tuple[str, ...]]] = {
    "de": ("nein", "ne", "nee", "nicht", "nichts", "kein", "keine", "danke", "nope"),
    "en": ("no", "nope", "not", "nothing", "thanks", "thank", "you"),
}
# A "no" needs one of these; the rest of NO only may accompany it ("nein danke").
NO_CORE: Final = frozenset({"nein", "ne", "nee", "nichts", "no", "nope", "nothing"})

HELLO: Final[dict[str, tuple[str, ...]]] = {
    "de": (
        "hallo",
        "halloo",
        "guten",
        "tag",
        "morgen",
        "abend",
        "hey",
        "hi",
        "ist",
        "da",
        "jemand",
        "sind",
        "sie",
        "noch",
        "dran",
    ),
    "en": (
        "hello",
        "hi",
        "hey",
        "good",
        "morning",
        "afternoon",
        "evening",
        "is",
        "are",
        "you",
        "still",
        "there",
        "anybody",
        "anyone",
        "someone",
        "somebody",
    ),
}
# "Hallo?", "Ist da jemand?", "Hello, are you there?": one of these makes it a hello.
HELLO_CORE: Final = frozenset(
    {
        "hallo",
        "halloo",
        "guten",
        "hey",
        "hi",
        "jemand",
        "dran",
        "hello",
        "good",
        "anybody",
        "anyone",
        "someone",
        "somebody",
        "there",
    }
)

THANKS: Final[dict[str, tuple[str, ...]]] = {
    "de": ("danke", "dankeschon", "vielen", "dank", "schon", "sehr", "herzlichen"),
    "en": ("thanks", "thank", "you", "very", "much", "cheers", "great"),
}
THANKS_CORE: Final = frozenset({"danke", "dankeschon", "dank", "thanks", "thank", "cheers"})

# "Do you speak English?" / "Sprechen Sie Deutsch?": the caller asks for a language.
LANGUAGE_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "de": ("deutsch", "german"),
    "en": ("englisch", "english"),
}

# Frequent words that tell the languages apart (ambiguous ones like "in", "was", "will",
# "so", "an" are left out on purpose). Also the filler ignored when comparing questions.
FUNCTION_WORDS: Final[dict[str, frozenset[str]]] = {
    "de": frozenset(
        "der die das den dem des und oder ist sind bin ich sie wir ihr ihre ihnen mein meine "
        "meinen mir mich ein eine einen einem einer nicht kein keine mit wann wie was wo "
        "welche welcher haben habe hat habt mochte mochten bitte danke ja nein guten tag "
        "hallo kann konnen konnte zu zum zur auf bei fur von vom heute morgen noch auch "
        "aber wenn dann gibt es wieso warum weshalb sprechen sagen uber einmal mal gerne "
        "gern schon sehr viel vielen doch denn hier da dort".split()
    ),
    "en": frozenset(
        "the a and or is are am i you we your my me it this that not no with when what where "
        "which how have has had do does did want would like please thanks thank yes hello "
        "hi can could to for at of from today tomorrow there here about some any is be "
        "was were will shall should may might speak talk tell say get much very then "
        "alright just".split()
    ),
}

WEEKDAY_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}

# Built-in words that ask for the opening hours (the YAML may add more).
HOURS_KEYWORDS: Final[dict[str, tuple[str, ...]]] = {
    "de": (
        "offnungszeiten",
        "offnungszeit",
        "geoffnet",
        "offen",
        "sprechzeiten",
        "sprechstunde",
        "sprechstunden",
        "geschlossen",
        "aufhaben",
        "erreichbar",
        "besetzt",
    ),
    "en": (
        "opening hours",
        "open",
        "opening times",
        "hours",
        "closed",
        "office hours",
        "reach you",
    ),
}
HOURS_TITLE: Final[dict[str, str]] = {"de": "unseren Öffnungszeiten", "en": "our opening hours"}
OR_WORD: Final[dict[str, str]] = {"de": "oder", "en": "or"}
AND_WORD: Final[dict[str, str]] = {"de": "und", "en": "and"}
