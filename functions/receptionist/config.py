"""The receptionist's configuration: one YAML file, validated when the module loads.

Every problem is reported with the YAML key it concerns (``faq[2].answer.en: required``),
all problems at once, so a broken file is fixed in one round. See README.md for the format.
"""

import hashlib
import json
import os
import string
from collections.abc import Generator, Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from aiflow import AzureTts, BargeInPolicy, ElevenLabsTts, azure, configure_transcription
from aiflow import eleven_labs as eleven_labs_voice
from aiflow.errors import AiflowError, InvalidActionError
from aiflow.protocol import ConfigureTranscriptionAction, to_action_number

from .hours import WEEKDAYS, WeeklyHours, parse_range
from .texts import DEFAULT_TEXTS, HOURS_KEYWORDS, PLACEHOLDERS, TextKey

CONFIG_ENV = "RECEPTIONIST_CONFIG"
DEFAULT_PATH = Path(__file__).with_name("receptionist.yaml")
SUPPORTED_LANGUAGES = tuple(DEFAULT_TEXTS)
OPENING_HOURS_TOPIC = "opening_hours"
DTMF_KEYS = frozenset("0123456789*#")
DTMF_COMMANDS = ("person", "message", "menu", "goodbye")


class ConfigError(AiflowError, ValueError):
    """The receptionist's YAML is invalid; ``problems`` lists ``(key, problem)`` pairs."""

    code = "receptionist_config"

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        lines = "\n".join(f"  {key}: {problem}" for key, problem in problems)
        super().__init__(
            f"{source}: {len(problems)} problem(s) in the receptionist configuration:\n{lines}",
            details=[{"field": key, "problem": problem} for key, problem in problems],
        )
        self.problems = problems


def _phone_number(value: str) -> str:
    to_action_number(value)  # raises ValueError naming the rule; the builder normalises later
    return value


def _time_range(value: str) -> str:
    parse_range(value)
    return value


def _yaml_key(value: Any) -> Any:
    # YAML reads an unquoted `1:` as the integer 1; DTMF keys are strings on the wire.
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    return value


PhoneNumber = Annotated[str, AfterValidator(_phone_number)]
TimeRange = Annotated[str, AfterValidator(_time_range)]
Localized = str | dict[str, str]
"""A sentence: one string for every language, or ``{de: ..., en: ...}``."""
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class _Section(BaseModel):
    # A misspelt key must fail at load time, not be ignored on a live call. defer_build: a
    # Lambda loads the configuration validated at build time (see load_config), so it never
    # needs these validators; building them would cost its cold start ~5 ms.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class VoiceConfig(_Section):
    """A TTS voice; ``language`` (Azure only) defaults to the language's locale."""

    provider: Literal["azure", "eleven_labs"] = "azure"
    voice: str = Field(min_length=1)
    language: str | None = None


class LanguageConfig(_Section):
    """One language the receptionist speaks."""

    locale: str = Field(pattern=r"^[a-z]{2}-[A-Z]{2}$")
    voice: VoiceConfig | None = None


class TranscriptionConfig(_Section):
    """Sent once as ``configure_transcription`` when a call starts."""

    provider: Literal["AZURE", "DEEPGRAM", "ELEVEN_LABS"] | None = None
    languages: list[str] | None = None
    custom_vocabulary: list[str] | None = None


class SilenceConfig(_Section):
    """How long to wait for the caller, and when to give up."""

    timeout_seconds: float = Field(8, gt=0, le=60)
    hangup_after: int = Field(3, ge=1, le=10)


class OpeningHoursConfig(_Section):
    """Weekly opening hours in a time zone."""

    timezone: str = "Europe/Berlin"
    days: dict[Weekday, list[TimeRange]] = Field(default_factory=dict)
    say: Localized | None = None
    keywords: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            # Without any time zone database every name fails; that must not stop the
            # receptionist from starting (hours.py falls back to UTC and logs it).
            if available_timezones():
                raise ValueError(
                    f"unknown time zone {value!r} (an IANA name like Europe/Berlin)"
                ) from None
        return value


class FaqEntry(_Section):
    """A question the receptionist answers by itself."""

    topic: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: Localized | None = None
    keywords: dict[str, list[str]] = Field(default_factory=dict)
    questions: dict[str, list[str]] = Field(default_factory=dict)
    answer: Localized


class TransferTarget(_Section):
    """A phone the receptionist can put callers through to."""

    name: Localized
    number: PhoneNumber
    caller_id_name: str = Field(min_length=1)
    caller_id_number: PhoneNumber
    timeout: int = Field(25, ge=5, le=120)
    keywords: dict[str, list[str]] = Field(default_factory=dict)


class TransferConfig(_Section):
    """Where "a person" is."""

    default: str
    only_when_open: bool = False
    targets: dict[str, TransferTarget] = Field(min_length=1)


class DtmfConfig(_Section):
    """The keypad menu."""

    prompt: Localized
    keys: Annotated[dict[str, str], BeforeValidator(_yaml_key)] = Field(default_factory=dict)


class MessagesConfig(_Section):
    """What happens to messages callers leave (always kept in the call state)."""

    notify_sms: PhoneNumber | None = None


class LlmConfig(BaseModel):
    """Optional LLM engine; options other than ``engine`` are passed to it as they are."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    engine: str = Field(pattern=r"^[\w.]+:[\w.]+$", description="module:factory")


class ReceptionistConfig(_Section):
    """The whole YAML file."""

    business_name: str = Field(min_length=1)
    language: str = "de"
    languages: dict[str, LanguageConfig] = Field(min_length=1)
    detect_language: bool = True
    transcription: TranscriptionConfig | None = None
    barge_in: BargeInPolicy | None = None
    silence: SilenceConfig = Field(default_factory=SilenceConfig)
    opening_hours: OpeningHoursConfig | None = None
    faq: list[FaqEntry] = Field(default_factory=list)
    transfer: TransferConfig | None = None
    dtmf: DtmfConfig | None = None
    messages: MessagesConfig = Field(default_factory=MessagesConfig)
    texts: dict[str, dict[TextKey, str]] = Field(default_factory=dict)
    llm: LlmConfig | None = None

    # --- resolved views used by the engine --------------------------------------------------

    def text(self, key: TextKey, lang: str) -> str:
        """The sentence template ``key`` in ``lang`` (the YAML's, else the built-in one)."""
        return self.texts.get(lang, {}).get(key) or DEFAULT_TEXTS[lang][key]

    def locale(self, lang: str) -> str:
        """The BCP-47 locale of ``lang``, e.g. ``de-DE``."""
        return self.languages[lang].locale

    def voice(self, lang: str) -> AzureTts | ElevenLabsTts | None:
        """The TTS voice of ``lang`` (None: the voice configured for the AI Flow)."""
        return self.voices[lang]

    @cached_property
    def voices(self) -> dict[str, AzureTts | ElevenLabsTts | None]:
        return {lang: _build_voice(cfg) for lang, cfg in self.languages.items()}

    @cached_property
    def weekly_hours(self) -> WeeklyHours | None:
        """The opening hours, parsed (None if the YAML has none)."""
        hours = self.opening_hours
        if hours is None:
            return None
        return WeeklyHours.from_config(hours.timezone, {str(d): r for d, r in hours.days.items()})

    def transcription_action(self) -> ConfigureTranscriptionAction | None:
        """The ``configure_transcription`` to send when a call starts, if configured."""
        t = self.transcription
        if t is None:
            return None
        return configure_transcription(
            provider=t.provider, languages=t.languages, custom_vocabulary=t.custom_vocabulary
        )


def localized(value: Localized, lang: str) -> str:
    """``value`` in ``lang`` (a plain string is the same in every language)."""
    return value if isinstance(value, str) else value[lang]


def _build_voice(cfg: LanguageConfig) -> AzureTts | ElevenLabsTts | None:
    if cfg.voice is None:
        return None
    if cfg.voice.provider == "eleven_labs":
        return eleven_labs_voice(cfg.voice.voice)
    return azure(cfg.voice.voice, cfg.voice.language or cfg.locale)


# --- loading -------------------------------------------------------------------------------


def load_config(path: str | Path | None = None) -> ReceptionistConfig:
    """Read and validate the YAML at ``path``, else at ``$RECEPTIONIST_CONFIG``, else the
    ``receptionist.yaml`` next to this module.

    A deployment reads what the build made of the YAML (:func:`compile_config`): the
    configuration it validated (``<yaml>.pickle``), else the YAML as JSON; each only while
    it belongs to this very YAML (and, for the former, this very module).

    Raises:
        ConfigError: the file is missing, not YAML, or invalid; names every bad key.
    """
    chosen = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_PATH)
    try:
        text = chosen.read_bytes()
    except OSError as exc:
        raise ConfigError(str(chosen), [("(file)", f"cannot be read: {exc.strerror}")]) from None
    digest = hashlib.sha256(text).hexdigest()
    validated = _validated(chosen, digest)
    if validated is not None:
        return validated
    compiled = _compiled(chosen, digest)
    if compiled is not None:
        return parse_config(compiled, source=str(chosen))
    import yaml  # only when there is no compiled copy: the import and parse cost ~30 ms

    try:
        raw = yaml.safe_load(text.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise ConfigError(str(chosen), [(where, f"not valid YAML: {exc}")]) from None
    return parse_config(raw, source=str(chosen))


def compile_config(path: str | Path) -> Path:
    """Write ``<path>.json``, the YAML parsed once at build time, and ``<path>.pickle``, the
    configuration validated from it, each with the hash of the YAML (the pickle also with
    the hash of this module), so that a Lambda cold start neither imports a YAML parser
    (~30 ms) nor builds and runs the validators of the configuration (~6 ms). Returns the
    JSON's path. Raises :class:`ConfigError` for a broken YAML: the build fails."""
    import pickle

    import yaml

    source = Path(path)
    text = source.read_bytes()
    raw = yaml.safe_load(text.decode("utf-8"))
    config = parse_config(raw, source=str(source))  # fail the build
    target = source.with_name(source.name + ".json")
    digest = hashlib.sha256(text).hexdigest()
    data = {"source_sha256": digest, "config": raw}
    target.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    validated = {"source_sha256": digest, "module_sha256": _module_digest(), "config": config}
    source.with_name(source.name + ".pickle").write_bytes(pickle.dumps(validated))
    return target


def _compiled(path: Path, digest: str) -> Any:
    copy = path.with_name(path.name + ".json")
    try:
        data = json.loads(copy.read_bytes())
    except (OSError, ValueError):
        return None
    if data.get("source_sha256") != digest:
        return None  # the YAML changed since the copy was made: the YAML wins
    return data.get("config")


def _validated(path: Path, digest: str) -> ReceptionistConfig | None:
    """The configuration the build validated, if it was made from this YAML by this module
    (the file is part of the deployment, written by :func:`compile_config`)."""
    try:
        data = path.with_name(path.name + ".pickle").read_bytes()
    except OSError:
        return None
    import pickle

    try:
        found = pickle.loads(data)  # noqa: S301  (our own build output, see above)
    except Exception:  # written by another version of the code: validate the JSON instead
        return None
    if not isinstance(found, dict) or found.get("source_sha256") != digest:
        return None
    config = found.get("config")
    if found.get("module_sha256") != _module_digest() or not isinstance(config, ReceptionistConfig):
        return None
    return config


def _module_digest() -> str:
    """The hash of this module's source: a pickled configuration belongs to its classes."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def parse_config(data: Any, *, source: str = "<config>") -> ReceptionistConfig:
    """Validate already-parsed YAML data.

    Raises:
        ConfigError: names every bad key.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(source, [("(file)", "must be a mapping of keys to values")])
    try:
        config = ReceptionistConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(source, [_pydantic_problem(e) for e in exc.errors()]) from None
    problems = list(_cross_check(config))
    if problems:
        raise ConfigError(source, problems)
    return config


def _pydantic_problem(error: Any) -> tuple[str, str]:
    loc = list(error["loc"])
    if loc and loc[-1] == "[key]":
        # A bad mapping key: name the key itself (texts.de.gretting, not texts.de.gretting.[key]).
        loc = loc[:-1]
    if error["type"] == "extra_forbidden":
        return _path(loc), "unknown key (misspelt?)"
    if error["type"] == "missing":
        return _path(loc), "required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    return _path(loc), message


def _path(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(file)"


def _cross_check(config: ReceptionistConfig) -> Iterator[tuple[str, str]]:
    langs = list(config.languages)
    for lang in langs:
        if lang not in SUPPORTED_LANGUAGES:
            yield (
                f"languages.{lang}",
                f"not supported; the offline engine speaks {', '.join(SUPPORTED_LANGUAGES)}",
            )
    if config.language not in config.languages:
        yield "language", f"{config.language!r} must be one of `languages` ({', '.join(langs)})"
    for lang, cfg in config.languages.items():
        try:
            _build_voice(cfg)
        except InvalidActionError as exc:
            yield f"languages.{lang}.voice", exc.message
    if config.transcription is not None:
        try:
            config.transcription_action()
        except InvalidActionError as exc:
            yield "transcription", exc.message
    yield from _check_texts(config, langs)
    yield from _check_localized(config, langs)
    topics = yield from _check_faq(config)
    yield from _check_transfer(config)
    yield from _check_dtmf(config, topics)


def _check_texts(config: ReceptionistConfig, langs: list[str]) -> Iterator[tuple[str, str]]:
    for lang, texts in config.texts.items():
        if lang not in langs:
            yield f"texts.{lang}", f"is not one of `languages` ({', '.join(langs)})"
        for key, template in texts.items():
            try:
                names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
            except ValueError as exc:
                yield f"texts.{lang}.{key}", f"bad braces: {exc}"
                continue
            unknown = names - PLACEHOLDERS
            if unknown:
                yield (
                    f"texts.{lang}.{key}",
                    f"unknown placeholder(s) {', '.join(sorted(unknown))}; "
                    f"allowed: {', '.join(sorted(PLACEHOLDERS))}",
                )


def _localized_fields(config: ReceptionistConfig) -> Iterator[tuple[str, Localized | None]]:
    if config.opening_hours is not None:
        yield "opening_hours.say", config.opening_hours.say
    for i, entry in enumerate(config.faq):
        yield f"faq[{i}].title", entry.title
        yield f"faq[{i}].answer", entry.answer
    if config.transfer is not None:
        for name, target in config.transfer.targets.items():
            yield f"transfer.targets.{name}.name", target.name
    if config.dtmf is not None:
        yield "dtmf.prompt", config.dtmf.prompt


def _per_language(config: ReceptionistConfig) -> Iterator[tuple[str, dict[str, list[str]]]]:
    if config.opening_hours is not None:
        yield "opening_hours.keywords", config.opening_hours.keywords
    for i, entry in enumerate(config.faq):
        yield f"faq[{i}].keywords", entry.keywords
        yield f"faq[{i}].questions", entry.questions
    if config.transfer is not None:
        for name, target in config.transfer.targets.items():
            yield f"transfer.targets.{name}.keywords", target.keywords


def _check_localized(config: ReceptionistConfig, langs: list[str]) -> Iterator[tuple[str, str]]:
    for key, value in _localized_fields(config):
        if isinstance(value, dict):
            for lang in langs:
                if not value.get(lang):
                    yield f"{key}.{lang}", "required: a text for every language in `languages`"
            for lang in value:
                if lang not in langs:
                    yield f"{key}.{lang}", f"is not one of `languages` ({', '.join(langs)})"
    for key, table in _per_language(config):
        for lang in table:
            if lang not in langs:
                yield f"{key}.{lang}", f"is not one of `languages` ({', '.join(langs)})"


def _check_faq(config: ReceptionistConfig) -> Generator[tuple[str, str], None, list[str]]:
    """Yields the problems and returns the names of all answerable topics."""
    topics: list[str] = [OPENING_HOURS_TOPIC] if config.opening_hours else []
    for i, entry in enumerate(config.faq):
        if entry.topic == OPENING_HOURS_TOPIC:
            yield (
                f"faq[{i}].topic",
                f"{OPENING_HOURS_TOPIC!r} is built in; configure it under `opening_hours`",
            )
        elif entry.topic in topics:
            yield f"faq[{i}].topic", f"duplicate topic {entry.topic!r}"
        else:
            topics.append(entry.topic)
        if not any(entry.keywords.values()) and not any(entry.questions.values()):
            yield f"faq[{i}]", "needs `keywords` or `questions`, or it can never be asked"
    return topics


def _check_transfer(config: ReceptionistConfig) -> Iterator[tuple[str, str]]:
    transfer = config.transfer
    if transfer is None:
        return
    if transfer.default not in transfer.targets:
        yield (
            "transfer.default",
            f"{transfer.default!r} is not one of `transfer.targets` "
            f"({', '.join(transfer.targets)})",
        )
    if transfer.only_when_open and config.opening_hours is None:
        yield "transfer.only_when_open", "needs `opening_hours`"


def _check_dtmf(config: ReceptionistConfig, topics: list[str]) -> Iterator[tuple[str, str]]:
    if config.dtmf is None:
        return
    targets = list(config.transfer.targets) if config.transfer else []
    for key, command in config.dtmf.keys.items():
        if key not in DTMF_KEYS:
            yield f"dtmf.keys.{key}", "not a keypad key (0-9, * or #)"
            continue
        name, _, target = command.partition(":")
        if name == "person" and target and target not in targets:
            yield (
                f"dtmf.keys.{key}",
                f"unknown transfer target {target!r} (targets: {', '.join(targets) or 'none'})",
            )
        elif name in DTMF_COMMANDS and (not target or name == "person"):
            continue
        elif command not in topics:
            choices = [*topics, *DTMF_COMMANDS, "person:<target>"]
            yield (
                f"dtmf.keys.{key}",
                f"unknown command {command!r}; expected one of: {', '.join(choices)}",
            )


def topic_keywords(config: ReceptionistConfig) -> list[tuple[str, list[str], list[str]]]:
    """Every answerable topic as ``(topic, keywords, example questions)``, all languages."""
    entries: list[tuple[str, list[str], list[str]]] = []
    if config.opening_hours is not None:
        words = [w for ws in HOURS_KEYWORDS.values() for w in ws]
        words += [w for ws in config.opening_hours.keywords.values() for w in ws]
        entries.append((OPENING_HOURS_TOPIC, words, []))
    for entry in config.faq:
        entries.append(
            (
                entry.topic,
                [w for ws in entry.keywords.values() for w in ws],
                [q for qs in entry.questions.values() for q in qs],
            )
        )
    return entries


__all__ = [
    "CONFIG_ENV",
    "DEFAULT_PATH",
    "OPENING_HOURS_TOPIC",
    "WEEKDAYS",
    "ConfigError",
    "DtmfConfig",
    "FaqEntry",
    "LanguageConfig",
    "LlmConfig",
    "Localized",
    "MessagesConfig",
    "OpeningHoursConfig",
    "ReceptionistConfig",
    "SilenceConfig",
    "TranscriptionConfig",
    "TransferConfig",
    "TransferTarget",
    "VoiceConfig",
    "load_config",
    "localized",
    "parse_config",
    "topic_keywords",
]
