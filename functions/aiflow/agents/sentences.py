"""Split text into sentences while it streams in, so speech can start after the first one.

    splitter = SentenceSplitter()
    for delta in deltas:
        for sentence in splitter.feed(delta):
            say(sentence)
    for sentence in splitter.flush():
        say(sentence)

A sentence ends at ``.``, ``!``, ``?``, ``…`` or ``...`` (closing quotes and brackets
included) followed by whitespace, or at a line break. Because the decision needs the next
character, a sentence is released when the first character after it has arrived.

Not a sentence end (a wrong split sounds worse than a late one):

* a single letter before the dot: initials and ``z. B.``, ``d. h.``, ``e.g.``;
* a known abbreviation: ``Dr.``, ``Nr.``, ``ca.``, ``bzw.``, ``Mr.``, … (:data:`ABBREVIATIONS`);
* a number of one or two digits followed by a month or another word from
  :data:`ORDINAL_NOUNS`: German ordinals such as ``am 3. Mai``, ``im 2. Stock`` (but
  ``von 8 bis 12. Danach`` is two sentences);
* a dot or ellipsis followed by a lower-case letter (the sentence goes on).
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset(
    {
        # German
        "abs", "bspw", "bzw", "ca", "dr", "evtl", "fr", "ggf", "hr", "inkl", "mio", "mrd",
        "nr", "prof", "sog", "str", "tel", "vgl", "zzgl", "max", "min", "gem", "lt", "ff",
        # English
        "mr", "mrs", "ms", "jr", "sr", "st", "vs", "no", "approx", "dept",
    }
)  # fmt: skip
"""Words (lower case, without the dot) after which a dot does not end a sentence."""

ORDINAL_NOUNS = frozenset(
    {
        "januar", "jan", "februar", "feb", "märz", "mär", "april", "apr", "mai", "juni", "jun",
        "juli", "jul", "august", "aug", "september", "sep", "sept", "oktober", "okt",
        "november", "nov", "dezember", "dez", "jänner", "stock", "etage", "obergeschoss",
        "og", "quartal", "klasse", "platz", "advent", "jahrhundert", "jh", "kw", "woche",
        "geburtstag", "mahnung", "stufe",
    }
)  # fmt: skip
"""Words after which ``<1-2 digits>.`` is an ordinal (lower case): ``am 3. Mai``."""

_CANDIDATE = re.compile(r"(?:\.\.\.|…|[.!?])+[\"'”“»«)\]]*(?=\s)|\n")
_LAST_WORD = re.compile(r"(\S+)$")
_SHORT_NUMBER = re.compile(r"^\(?\d{1,2}$")
_NEXT_WORD = re.compile(r"^[^\s.,;:!?]+")


class SentenceSplitter:
    """Incremental sentence splitter: :meth:`feed` text pieces, then :meth:`flush` the rest."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, text: str) -> list[str]:
        """Add ``text``; return the sentences that are now complete (stripped, non-empty)."""
        self._buffer += text
        return self._take(final=False)

    def flush(self) -> list[str]:
        """The end of the text: return everything not yet returned, split into sentences."""
        sentences = self._take(final=True)
        rest = self._buffer.strip()
        self._buffer = ""
        return [*sentences, rest] if rest else sentences

    @property
    def pending(self) -> str:
        """Text received but not yet returned as a sentence."""
        return self._buffer

    def _take(self, *, final: bool) -> list[str]:
        out: list[str] = []
        start = 0
        for match in _CANDIDATE.finditer(self._buffer):
            end = match.end()
            after = self._buffer[end:].lstrip()
            if not after and not final:
                break  # the next character decides; wait for it
            if match.group() != "\n":
                boundary = _is_boundary(self._buffer[start:end], match, after, final=final)
                if boundary is None:
                    break  # the whole next word decides; wait for it
                if not boundary:
                    continue
            sentence = self._buffer[start:end].strip()
            if sentence:
                out.append(sentence)
            start = end
        self._buffer = self._buffer[start:]
        if start:
            self._buffer = self._buffer.lstrip()
        return out


def _is_boundary(sentence: str, match: re.Match[str], after: str, *, final: bool) -> bool | None:
    """Whether ``match`` ends a sentence; ``None``: cannot tell before more text arrives."""
    mark = match.group().rstrip("\"'”“»«)]")
    if "!" in mark or "?" in mark:
        return True
    if after[:1].islower():
        return False  # "…" or "." followed by a lower-case word: the sentence continues
    if mark != ".":
        return True  # an ellipsis before an upper-case word
    head = sentence[: len(sentence) - (match.end() - match.start())]
    word_match = _LAST_WORD.search(head)
    if word_match is None:
        return True
    word = word_match.group(1).lstrip("(\"'„“»«")
    last = word.split(".")[-1]
    if len(last) == 1 and last.isalpha():
        return False  # initials, z. B., e.g.
    if last.lower() in ABBREVIATIONS:
        return False
    if _SHORT_NUMBER.match(word):
        following = _NEXT_WORD.match(after)
        if following is None:
            return True
        if following.end() == len(after) and not final:
            return None
        return following.group().lower() not in ORDINAL_NOUNS
    return True


def split_sentences(text: str) -> list[str]:
    """All sentences of a finished ``text`` (see the module docstring for the rules)."""
    splitter = SentenceSplitter()
    return splitter.feed(text) + splitter.flush()
