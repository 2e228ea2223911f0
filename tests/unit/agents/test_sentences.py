from __future__ import annotations

import pytest

from aiflow.agents import SentenceSplitter, split_sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Hallo! Wie geht es? Gut.", ["Hallo!", "Wie geht es?", "Gut."]),
        ("Das ist z. B. gut. Dr. Weber kommt.", ["Das ist z. B. gut.", "Dr. Weber kommt."]),
        ("Am 3. Mai um 10.30 Uhr. Passt das?", ["Am 3. Mai um 10.30 Uhr.", "Passt das?"]),
        ("Im 2. Stock, ab 1. Januar.", ["Im 2. Stock, ab 1. Januar."]),
        ("Von 8 bis 12. Danach zu.", ["Von 8 bis 12.", "Danach zu."]),
        ("Nr. 12 ist frei. Ca. Zehn Minuten.", ["Nr. 12 ist frei.", "Ca. Zehn Minuten."]),
        (
            "Hello Mr. Smith. E.g. this. Then J. R. R. Tolkien.",
            ["Hello Mr. Smith.", "E.g. this.", "Then J. R. R. Tolkien."],
        ),
        ("Warten Sie… ich schaue nach. Moment...", ["Warten Sie… ich schaue nach.", "Moment..."]),
        ("Also … Ja. Genau.", ["Also …", "Ja.", "Genau."]),
        ('Er sagte: "Komm!" Dann ging er.', ['Er sagte: "Komm!"', "Dann ging er."]),
        ("Seite sipgate.de besuchen. Danke", ["Seite sipgate.de besuchen.", "Danke"]),
        ("Erstens\nZweitens", ["Erstens", "Zweitens"]),
        ("Die Nummer ist 0211 123456. Noch etwas?", ["Die Nummer ist 0211 123456.", "Noch etwas?"]),
        ("Wirklich?! Ja.", ["Wirklich?!", "Ja."]),
        ("   ", []),
        ("", []),
    ],
)
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_streaming_releases_a_sentence_once_the_next_character_arrived() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Guten Tag") == []
    assert splitter.feed(". ") == []  # the next word decides (could be "z. B. die")
    assert splitter.pending == "Guten Tag. "
    assert splitter.feed("Wie") == ["Guten Tag."]
    assert splitter.feed(" kann ich z.") == []
    assert splitter.feed(" B. helfen? Oder") == ["Wie kann ich z. B. helfen?"]
    assert splitter.flush() == ["Oder"]
    assert splitter.flush() == []


def test_flush_splits_the_rest() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Eins. ") == []
    assert splitter.flush() == ["Eins."]


def test_one_character_at_a_time_gives_the_same_sentences() -> None:
    text = "Hallo Frau Dr. Weber! Ihr Termin ist am 3. Mai. Soll ich z. B. erinnern? Tschüss."
    splitter = SentenceSplitter()
    out: list[str] = []
    for char in text:
        out += splitter.feed(char)
    out += splitter.flush()
    assert (
        out
        == split_sentences(text)
        == [
            "Hallo Frau Dr. Weber!",
            "Ihr Termin ist am 3. Mai.",
            "Soll ich z. B. erinnern?",
            "Tschüss.",
        ]
    )
