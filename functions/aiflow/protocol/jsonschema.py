"""JSON Schema (draft 2020-12) of the wire protocol, generated from the pydantic models.

Two files are committed next to this module, in ``schema/``:

* ``events.schema.json``: one event as the platform sends it. Known types are checked field
  by field; any other ``type`` is accepted (the catch-all :class:`UnknownEvent`), as the
  framework does.
* ``actions.schema.json``: one webhook reply, i.e. one action object or an array of actions
  (``[]`` is "no action", as sipgate/flow-io sends it). ``session_id`` is required in every
  action, because every action on the wire carries it: the schema describes what
  :func:`~aiflow.protocol.actions.parse_reply` reads, not an action a handler has just built.

The generated schemas also express the rules the models check in code (exactly one of
``text``/``ssml``, ``minimum_characters`` only with its strategy, no ``null`` except
``tts.language``, base64 of a RIFF/WAVE file, phone numbers as the framework normalises them,
no control characters in ids, …), so that other tools can validate replies without this
package. The schema and the models agree on every JSON value (``tests/unit/test_corpus.py``),
with these limits of JSON Schema, which the parsers check on the JSON text instead: nesting
depth, lone surrogate escapes, numbers that are not finite, and the sample format *inside* a
base64 WAV (16 kHz mono 16-bit PCM).

    python -m aiflow.protocol.jsonschema --write   # regenerate (``make schema``)
    python -m aiflow.protocol.jsonschema --check   # exit 1 if the committed files are stale
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from .actions import ACTION_TYPES, Action, AzureTts, BargeInPolicy, ElevenLabsTts, VadOptions
from .events import CONTROL_CHARACTERS, KNOWN_EVENTS, MAX_TYPE_CHARS, Event
from .phone import ACTION_NUMBER_PATTERN
from .wav import BASE64_PATTERN, RIFF_WAVE_BASE64_PREFIX

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_DIR = Path(__file__).parent / "schema"
EVENTS_FILE = "events.schema.json"
ACTIONS_FILE = "actions.schema.json"

# Pydantic leaks constraints it cannot place (e.g. ``ge`` on ``int | float``) under its own
# names; JSON Schema's numeric keywords apply to numbers only, so they can sit beside anyOf.
_LEAKED_CONSTRAINTS = {
    "ge": "minimum",
    "gt": "exclusiveMinimum",
    "le": "maximum",
    "lt": "exclusiveMaximum",
}
_PHONE_NUMBER = {
    "type": "string",
    "pattern": ACTION_NUMBER_PATTERN,
    "description": (
        "a phone number: 2 to 15 digits after an optional + or 00, separators (space - ( ) . /) "
        "allowed; the framework sends E.164 digits without the leading +"
    ),
}
_SSML_DOCUMENT = "^\\s*<speak[\\s\\S]*</speak>\\s*$"
_NO_CONTROL_CHARACTERS = {"not": {"pattern": CONTROL_CHARACTERS}}
_OPTION_MODELS = (AzureTts, ElevenLabsTts, BargeInPolicy, VadOptions)


# --- public API ----------------------------------------------------------------------------


def events_schema() -> dict[str, Any]:
    """The schema of one event (``events.schema.json``)."""
    generated = TypeAdapter(Event).json_schema()
    defs: dict[str, Any] = generated.pop("$defs")
    _tidy(defs)
    for name, definition in defs.items():
        if name != "Session":
            _require(definition, "type", first=True)
    # UnknownEvent takes every type the others do not, so that exactly one branch matches.
    defs["UnknownEvent"]["properties"]["type"] = {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_TYPE_CHARS,
        "allOf": [{"not": {"enum": sorted(KNOWN_EVENTS)}}, _NO_CONTROL_CHARACTERS],
        "description": "any event type this version does not know; accepted and ignored",
    }
    defs["Session"]["properties"]["id"].update(copy.deepcopy(_NO_CONTROL_CHARACTERS))
    # Older platform versions sent the transcript as `transcript` instead of `text`; it is
    # read (and so must be a string) only when `text` is absent.
    speak = defs["UserSpeakEvent"]
    speak["required"].remove("text")
    speak["anyOf"] = [
        {"required": ["text"]},
        {
            "required": ["transcript"],
            "properties": {
                "transcript": {
                    "type": "string",
                    "description": "legacy name of `text`, read when `text` is absent",
                }
            },
        },
    ]
    # A key sent as a JSON number is read as its string.
    digit = defs["DtmfReceivedEvent"]["properties"]["digit"]
    keys = {k: digit.pop(k) for k in ("enum", "type") if k in digit}
    digit["anyOf"] = [keys, {"type": "integer", "minimum": 0, "maximum": 9}]
    _end_anchors(defs)
    return {
        "$schema": DRAFT,
        "title": "sipgate AI Flow event",
        "description": (
            "One event as POSTed by the platform (or sent as a WebSocket frame). Unknown event "
            "types and unknown extra fields are allowed."
        ),
        "oneOf": generated["oneOf"],
        "$defs": defs,
    }


def actions_schema() -> dict[str, Any]:
    """The schema of one webhook reply (``actions.schema.json``)."""
    generated = TypeAdapter(Action).json_schema()
    defs: dict[str, Any] = generated.pop("$defs")
    _tidy(defs)
    _strip_null(defs)
    models: list[type[BaseModel]] = [*_OPTION_MODELS, *ACTION_TYPES.values()]
    for model in models:
        # Put null back where a real integration sends it (see AzureTts).
        properties = defs[model.__name__]["properties"]
        for name in sorted(getattr(model, "wire_nullable", ())):
            prop = properties[name]
            properties[name] = {"anyOf": [prop, {"type": "null"}]}
            if "description" in prop:
                properties[name]["description"] = prop.pop("description")
    for cls in ACTION_TYPES.values():
        definition = defs[cls.__name__]
        definition["properties"]["session_id"] = {
            "type": "string",
            "minLength": 1,
            "description": "the `session.id` of the event this action answers",
        }
        _require(definition, "session_id", first=True)
        _require(definition, "type", first=True)
    for name in ("AzureTts", "ElevenLabsTts"):
        _require(defs[name], "provider", first=True)
    _add_model_rules(defs)
    _end_anchors(defs)
    defs["Action"] = {
        "description": "One action, chosen by `type`.",
        "oneOf": generated["oneOf"],
    }
    return {
        "$schema": DRAFT,
        "title": "sipgate AI Flow webhook reply",
        "description": (
            "The body of a 200 reply: one action object or an array of actions, executed in "
            "order. No action is answered with 204 and no body (an empty array is read as no "
            "action too)."
        ),
        "oneOf": [
            {"$ref": "#/$defs/Action"},
            {"type": "array", "items": {"$ref": "#/$defs/Action"}},
        ],
        "$defs": defs,
    }


def render(schema: dict[str, Any]) -> str:
    """Deterministic text of a schema: sorted keys, indent 2, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generated_files() -> dict[str, str]:
    """File name → freshly generated content."""
    return {EVENTS_FILE: render(events_schema()), ACTIONS_FILE: render(actions_schema())}


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write the schema files to ``directory``; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generated_files().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_files(directory: Path = SCHEMA_DIR) -> list[Path]:
    """The schema files in ``directory`` that are missing or differ from a fresh generation."""
    stale = []
    for name, text in generated_files().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``--write`` regenerates the files, ``--check`` fails if they are stale."""
    parser = argparse.ArgumentParser(
        prog="python -m aiflow.protocol.jsonschema",
        description="Generate the JSON Schema of the sipgate AI Flow protocol.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="write the schema files")
    mode.add_argument("--check", action="store_true", help="exit 1 if the files are stale")
    parser.add_argument(
        "--dir", type=Path, default=SCHEMA_DIR, help="schema directory (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.write:
        for path in write(args.dir):
            print(f"wrote {path}")
        return 0
    stale = stale_files(args.dir)
    for path in stale:
        print(
            f"{path} is stale: it differs from the pydantic models; run `make schema`",
            file=sys.stderr,
        )
    if not stale:
        print("JSON Schema files are up to date")
    return 1 if stale else 0


# --- post-processing -----------------------------------------------------------------------


def _tidy(node: Any, *, in_properties: bool = False) -> None:
    """Drop pydantic's noise: property titles, defaults of constants, leaked keys and the
    OpenAPI-only ``discriminator`` (strict validators such as ajv reject unknown keywords)."""
    if isinstance(node, list):
        for item in node:
            _tidy(item)
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("discriminator"), dict):
        del node["discriminator"]
    for leaked, keyword in _LEAKED_CONSTRAINTS.items():
        if leaked in node and "anyOf" in node:
            node[keyword] = node.pop(leaked)
    if in_properties:
        node.pop("title", None)
        if "const" in node:
            node.pop("default", None)
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            for prop in value.values():
                _tidy(prop, in_properties=True)
        else:
            _tidy(value)


def _strip_null(node: Any) -> None:
    """Remove ``null`` alternatives and ``null`` defaults: actions never carry ``null``."""
    if isinstance(node, list):
        for item in node:
            _strip_null(item)
        return
    if not isinstance(node, dict):
        return
    if "default" in node and node["default"] is None:
        del node["default"]
    options = node.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        if len(rest) == 1:
            del node["anyOf"]
            node.update({k: v for k, v in rest[0].items() if k not in node})
        else:
            node["anyOf"] = rest
    for value in node.values():
        _strip_null(value)


def _end_anchors(node: Any) -> None:
    """Make a final ``$`` mean the very end in every validator.

    In pydantic (Rust regex) and ECMA-262, ``$`` matches only at the end; Python's ``re``
    (used by the ``jsonschema`` package) also matches before a final newline, which would let
    ``"de-DE\\n"`` pass. ``(?!\\n)`` after ``$`` is a no-op for the former and closes the gap.
    """
    if isinstance(node, list):
        for item in node:
            _end_anchors(item)
    elif isinstance(node, dict):
        pattern = node.get("pattern")
        if isinstance(pattern, str) and pattern.endswith("$"):
            node["pattern"] = pattern + "(?!\\n)"
        for value in node.values():
            _end_anchors(value)


def _require(definition: dict[str, Any], name: str, *, first: bool = False) -> None:
    required: list[str] = definition.setdefault("required", [])
    if name in required:
        required.remove(name)
    if first:
        required.insert(0, name)
    else:
        required.append(name)


def _add_model_rules(defs: dict[str, Any]) -> None:
    """The rules the action models check in validators, written as JSON Schema."""
    speak = defs["SpeakAction"]
    speak["oneOf"] = [{"required": ["text"]}, {"required": ["ssml"]}]
    speak["properties"]["ssml"]["pattern"] = _SSML_DOCUMENT

    defs["BargeInPolicy"]["dependentSchemas"] = {
        "minimum_characters": {"properties": {"strategy": {"const": "minimum_characters"}}}
    }

    mix = defs["MixAudioAction"]
    mix["anyOf"] = [
        {"required": ["audio"]},
        {"required": ["stop"], "properties": {"stop": {"const": True}}},
    ]

    transcription = defs["ConfigureTranscriptionAction"]
    transcription["anyOf"] = [
        {"required": [name]} for name in ("provider", "languages", "custom_vocabulary", "vad")
    ]

    for name in ("AudioAction", "MixAudioAction"):
        wav = defs[name]["properties"]["audio"]
        wav["contentEncoding"] = "base64"
        wav["contentMediaType"] = "audio/wav"
        # Canonical base64 of a RIFF/WAVE file; the sample format inside is checked by code.
        wav["allOf"] = [{"pattern": BASE64_PATTERN}, {"pattern": RIFF_WAVE_BASE64_PREFIX}]
        wav.setdefault("description", "base64 of a whole 16 kHz mono 16-bit PCM WAV file")

    for name, field in (
        ("TransferAction", "target_phone_number"),
        ("TransferAction", "caller_id_number"),
        ("SendSmsAction", "phone_number"),
    ):
        defs[name]["properties"][field] = copy.deepcopy(_PHONE_NUMBER)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
