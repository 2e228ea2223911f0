"""The YAML: the shipped file is valid, mistakes are reported by key, the engine is pluggable."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiflow import Call
from aiflow.testing import CallSimulator
from receptionist.config import (
    DEFAULT_PATH,
    ConfigError,
    ReceptionistConfig,
    load_config,
    parse_config,
)
from receptionist.engine import OfflineResponder, Responder, make_responder


@pytest.fixture
def raw() -> dict[str, Any]:
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return copy.deepcopy(data)


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, source="test.yaml")
    assert str(caught.value).startswith("test.yaml: ")
    return dict(caught.value.problems)


def test_the_shipped_yaml_is_valid_and_bilingual() -> None:
    config = load_config()

    assert config.business_name == "Praxis Dr. Weber"
    assert list(config.languages) == ["de", "en"]
    assert config.llm is None


def test_the_environment_variable_points_to_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: dict[str, Any]
) -> None:
    raw["business_name"] = "Zahnarztpraxis Lange"
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("RECEPTIONIST_CONFIG", str(path))

    assert load_config().business_name == "Zahnarztpraxis Lange"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="(?s)nope.yaml.*cannot be read"):
        load_config(tmp_path / "nope.yaml")


def test_a_misspelt_key_is_named(raw: dict[str, Any]) -> None:
    raw["faq"][0]["anwser"] = raw["faq"][0].pop("answer")

    found = problems(raw)

    assert found["faq[0].anwser"] == "unknown key (misspelt?)"
    assert found["faq[0].answer"] == "required key is missing"


def test_a_missing_translation_is_named(raw: dict[str, Any]) -> None:
    del raw["faq"][2]["answer"]["en"]

    assert problems(raw) == {
        "faq[2].answer.en": "required: a text for every language in `languages`"
    }


def test_bad_values_are_named_by_key(raw: dict[str, Any]) -> None:
    raw["transfer"]["targets"]["reception"]["timeout"] = 300
    raw["transfer"]["targets"]["billing"]["number"] = "Buchhaltung"
    raw["opening_hours"]["days"]["mon"] = ["18:00-08:00"]
    raw["opening_hours"]["timezone"] = "Europe/Düsseldorf"
    raw["barge_in"]["minimum_characters"] = 0
    raw["silence"]["hangup_after"] = 0

    found = problems(raw)

    assert "less than or equal to 120" in found["transfer.targets.reception.timeout"]
    assert "phone number" in found["transfer.targets.billing.number"]
    assert "ends before it starts" in found["opening_hours.days.mon[0]"]
    assert "unknown time zone" in found["opening_hours.timezone"]
    assert "greater than or equal to 1" in found["barge_in.minimum_characters"]
    assert "greater than or equal to 1" in found["silence.hangup_after"]


def test_references_between_sections_are_checked(raw: dict[str, Any]) -> None:
    raw["language"] = "fr"
    raw["transfer"]["default"] = "doctor"
    raw["dtmf"]["keys"]["3"] = "parking"
    raw["dtmf"]["keys"]["4"] = "person:doctor"
    raw["texts"]["de"]["farewell"] = "Auf Wiederhören, {name}!"

    found = problems(raw)

    assert found["language"] == "'fr' must be one of `languages` (de, en)"
    assert found["transfer.default"].startswith("'doctor' is not one of `transfer.targets`")
    assert found["dtmf.keys.3"].startswith("unknown command 'parking'; expected one of:")
    assert found["dtmf.keys.4"].startswith("unknown transfer target 'doctor'")
    assert found["texts.de.farewell"].startswith("unknown placeholder(s) name")


def test_an_unknown_sentence_key_lists_the_valid_ones(raw: dict[str, Any]) -> None:
    raw["texts"]["de"]["gretting"] = "Hallo"

    message = problems(raw)["texts.de.gretting"]

    assert "'greeting'" in message and "'farewell'" in message


def test_an_unsupported_language_is_named(raw: dict[str, Any]) -> None:
    raw["languages"]["fr"] = {"locale": "fr-FR"}

    assert problems(raw)["languages.fr"].startswith("not supported")


def test_a_config_without_optional_sections_works(
    make_call: Callable[..., CallSimulator],
) -> None:
    minimal = parse_config(
        {"business_name": "Kanzlei Roth", "languages": {"de": {"locale": "de-DE"}}}
    )
    call = make_call(minimal)

    assert call.start().text == "Kanzlei Roth, guten Tag. Wie kann ich Ihnen helfen?"
    assert call.say("Ich möchte mit jemandem sprechen.").text.startswith(
        "Ich kann Sie leider gerade nicht verbinden. Möchten Sie eine Nachricht hinterlassen?"
    )
    call.press("1").expect.nothing()  # no keypad menu configured
    assert call.say("Nein danke.").text == "Alles klar. Kann ich sonst noch etwas für Sie tun?"
    assert call.say("Was kostet das Parken?").text == (
        "Das kann ich leider nicht beantworten. Soll ich Sie mit einem Mitarbeiter verbinden?"
    )


# --- the engine seam ------------------------------------------------------------------------


class CannedResponder:
    """Stands in for an LLM engine."""

    def __init__(self, config: ReceptionistConfig) -> None:
        extra = config.llm.model_extra if config.llm else None
        self.model = (extra or {}).get("model", "")

    def respond(self, text: str, call: Call) -> str:
        return f"({self.model}) You asked: {text}"


class BrokenResponder:
    def respond(self, text: str, call: Call) -> str:
        raise TimeoutError("the model is slow today")


def make_canned(config: ReceptionistConfig) -> Responder:
    return CannedResponder(config)


def test_without_llm_the_offline_engine_answers(config: ReceptionistConfig) -> None:
    assert isinstance(make_responder(config), OfflineResponder)


def test_an_llm_section_plugs_in_its_engine_for_free_questions(
    raw: dict[str, Any], make_call: Callable[..., CallSimulator]
) -> None:
    raw["llm"] = {"engine": f"{__name__}:make_canned", "model": "tiny"}
    call = make_call(parse_config(raw))
    call.start()

    call.say("Was kostet eine Reiseimpfung?").expect.speak(
        "(tiny) You asked: Was kostet eine Reiseimpfung?"
    ).no_more_actions()
    # The scripted flows stay scripted.
    call.say("Tschüss").expect.speak().speech_ended().hangup().no_more_actions()


def test_an_llm_engine_that_cannot_be_loaded_is_a_config_error(raw: dict[str, Any]) -> None:
    raw["llm"] = {"engine": "no_such_module:factory"}

    with pytest.raises(ConfigError, match="llm.engine: cannot be loaded"):
        make_responder(parse_config(raw))


def test_a_failing_engine_falls_back_to_the_offline_answers(
    make_call: Callable[..., CallSimulator],
) -> None:
    call = make_call(responder=BrokenResponder())
    call.start()

    assert "Königsallee 12" in call.say("Wo kann ich parken?").text
