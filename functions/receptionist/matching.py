"""Understanding a transcript without a model: normalising, phrase spotting, fuzzy FAQ
matching and telling German from English.

Transcripts come from speech recognition, so the words are real words but not always the
expected ones: inflections ("Termine"), compounds ("Terminvereinbarung"), and the odd
misrecognition or typo ("geöfnet"). Matching therefore works on normalised tokens and
accepts prefixes and close spellings for longer words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from aiflow.plain import Plain

from .texts import FUNCTION_WORDS

_NON_WORD = re.compile(r"[^a-z0-9]+")
_GERMAN_LETTERS = re.compile(r"[äöüß]", re.IGNORECASE)

KEYWORD_THRESHOLD = 0.8
QUESTION_THRESHOLD = 0.6
_FUZZY_MIN_LENGTH = 5
_PREFIX_MIN_LENGTH = 4


def normalize(text: str) -> str:
    """Lower case, umlauts folded to their base letter, punctuation turned into spaces."""
    folded = unicodedata.normalize("NFKD", text.lower().replace("ß", "ss"))
    ascii_only = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(_NON_WORD.sub(" ", ascii_only).split())


def tokenize(text: str) -> list[str]:
    """The normalised words of ``text``."""
    return normalize(text).split()


def phrase_tokens(phrases: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    """Normalise a list of words or multi-word phrases for :func:`has_phrase`."""
    return tuple(t for t in (tuple(tokenize(p)) for p in phrases) if t)


def has_phrase(tokens: Sequence[str], phrases: Iterable[tuple[str, ...]]) -> bool:
    """Whether one of ``phrases`` occurs in ``tokens`` as consecutive whole words."""
    return any(_find(tokens, phrase) for phrase in phrases)


def _find(tokens: Sequence[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(tokens[i : i + n]) == phrase for i in range(len(tokens) - n + 1))


def only_words(tokens: Sequence[str], allowed: Iterable[str], core: Iterable[str]) -> bool:
    """Whether the utterance is nothing but ``allowed`` words and has at least one ``core``
    word: "nein danke" is a no; "nein, ich brauche einen Termin" is not."""
    allowed_set = set(allowed)
    return bool(tokens) and all(t in allowed_set for t in tokens) and bool(set(core) & set(tokens))


@lru_cache(maxsize=8192)
def word_similarity(keyword: str, token: str) -> float:
    """How well ``token`` matches ``keyword``: 1 for equal, 0.9 for a compound or inflection
    (one is a prefix of the other), the spelling similarity for long words, else 0."""
    if keyword == token:
        return 1.0
    if min(len(keyword), len(token)) >= _PREFIX_MIN_LENGTH and (
        token.startswith(keyword) or keyword.startswith(token)
    ):
        return 0.9
    if min(len(keyword), len(token)) < _FUZZY_MIN_LENGTH:
        return 0.0
    import difflib  # the first question's, not every cold start's (the greeting needs none)

    matcher = difflib.SequenceMatcher(None, keyword, token)
    # The quick upper bounds rule out most pairs before the full comparison.
    if matcher.real_quick_ratio() < KEYWORD_THRESHOLD or matcher.quick_ratio() < KEYWORD_THRESHOLD:
        return 0.0
    ratio = matcher.ratio()
    return ratio if ratio >= KEYWORD_THRESHOLD else 0.0


def content_words(tokens: Sequence[str]) -> list[str]:
    """``tokens`` without the function words of any language."""
    return [t for t in tokens if not any(t in words for words in FUNCTION_WORDS.values())]


class Topic(Plain):
    """One answerable topic, its keywords and example questions (all normalised)."""

    __slots__ = ("id", "keywords", "questions")

    def __init__(
        self, id: str, keywords: tuple[tuple[str, ...], ...], questions: tuple[tuple[str, ...], ...]
    ) -> None:
        self.id = id
        self.keywords = keywords
        self.questions = questions


class Match(Plain):
    """The best topic for an utterance and how sure we are (0..1)."""

    __slots__ = ("topic", "score")

    def __init__(self, topic: str, score: float) -> None:
        self.topic = topic
        self.score = score


class FaqIndex:
    """Finds the topic a caller asks about by keyword and by similarity to example questions.

    Keywords of every language are used whatever the caller's language: a German caller may
    say "Hotline", an English one "Praxis".
    """

    def __init__(self, topics: Sequence[Topic]) -> None:
        self.topics = list(topics)

    @classmethod
    def build(
        cls,
        entries: Iterable[tuple[str, Iterable[str], Iterable[str]]],
    ) -> FaqIndex:
        """Build from ``(topic, keywords, example questions)`` in plain text."""
        topics = [
            Topic(
                id=topic,
                keywords=phrase_tokens(keywords),
                questions=tuple(
                    q for q in (tuple(content_words(tokenize(x))) for x in questions) if q
                ),
            )
            for topic, keywords, questions in entries
        ]
        return cls(topics)

    def match(self, text: str) -> Match | None:
        """The best topic for ``text``, or None if nothing matches well enough."""
        tokens = tokenize(text)
        if not tokens:
            return None
        content = content_words(tokens)
        best: Match | None = None
        for topic in self.topics:
            score = max(_keyword_score(topic, tokens), _question_score(topic, content))
            if score > 0 and (best is None or score > best.score):
                best = Match(topic.id, score)
        return best


def _keyword_score(topic: Topic, tokens: Sequence[str]) -> float:
    best = 0.0
    for keyword in topic.keywords:
        if len(keyword) > 1:
            score = 1.0 if _find(tokens, keyword) else 0.0
        else:
            score = max((word_similarity(keyword[0], t) for t in tokens), default=0.0)
        best = max(best, score)
    return best if best >= KEYWORD_THRESHOLD else 0.0


def _question_score(topic: Topic, content: Sequence[str]) -> float:
    # Only content words count: "Wie ist das Wetter?" must not match "Wie ist die Adresse?".
    if not content:
        return 0.0
    best = 0.0
    for question in topic.questions:
        hit_q = sum(1 for q in question if any(word_similarity(q, t) for t in content))
        hit_t = sum(1 for t in content if any(word_similarity(q, t) for q in question))
        if not hit_q:
            continue
        recall, precision = hit_q / len(question), hit_t / len(content)
        best = max(best, 2 * recall * precision / (recall + precision))
    return best if best >= QUESTION_THRESHOLD else 0.0


def detect_language(text: str, languages: Sequence[str]) -> str | None:
    """The language ``text`` is most likely in, among ``languages``; None when unsure.

    Counts frequent function words of each language; umlauts and ß count for German. A
    language wins with a lead of two, or of one when the other has no evidence at all and
    the utterance is more than a single word ("yes please", but not "okay").
    """
    tokens = tokenize(text)
    scores: dict[str, int] = {}
    for lang in languages:
        words = FUNCTION_WORDS.get(lang, frozenset())
        scores[lang] = sum(1 for t in tokens if t in words)
    if "de" in scores and _GERMAN_LETTERS.search(text):
        scores["de"] += 1
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    if not ranked or ranked[0][1] == 0:
        return None
    top, score = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    if score - runner_up >= 2 or (runner_up == 0 and score >= 1 and len(tokens) >= 2):
        return top
    return None


def any_language(table: Mapping[str, Iterable[str]]) -> tuple[tuple[str, ...], ...]:
    """The phrases of every language in ``table``, normalised."""
    return phrase_tokens(p for phrases in table.values() for p in phrases)
