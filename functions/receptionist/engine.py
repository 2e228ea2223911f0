"""What the receptionist says and does, as pure functions of the event and the call.

No I/O: actions are built with the aiflow builders and returned; the time comes from an
injected clock. :class:`Receptionist` runs the scripted parts of the conversation
(greeting, keypad menu, transfers, messages, silence, goodbye, barge-in bookkeeping); the
caller's free questions go to a :class:`Responder` — the offline FAQ matcher by default,
an LLM engine when the YAML has an ``llm:`` section.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from functools import cached_property
from typing import Protocol, runtime_checkable

from aiflow import (
    BargeInPolicy,
    Call,
    HangupAction,
    SpeakAction,
    TransferAction,
    hangup,
    send_sms,
    speak,
    transfer,
)
from aiflow.clock import SYSTEM_CLOCK
from aiflow.redact import log_failure

from .answer import Answer, Item
from .config import (
    OPENING_HOURS_TOPIC,
    ConfigError,
    ReceptionistConfig,
    TransferTarget,
    localized,
    topic_keywords,
)
from .matching import FaqIndex, any_language, detect_language, has_phrase, only_words, tokenize
from .state import MAX_MESSAGE_CHARS, MAX_MESSAGES, Message, Question, ReceptionistState, state_of
from .texts import (
    GOODBYE,
    HELLO,
    HELLO_CORE,
    HOURS_TITLE,
    LANGUAGE_NAMES,
    MESSAGE,
    NO,
    NO_CORE,
    OR_WORD,
    PERSON,
    THANKS,
    THANKS_CORE,
    YES,
    TextKey,
)

logger = logging.getLogger("receptionist")

Clock = Callable[[], int]

# Closing sentences must be heard in full: the hangup or transfer waits for their end.
_NOT_INTERRUPTIBLE = BargeInPolicy(strategy="none")
_GOODBYE = any_language(GOODBYE)
_PERSON = any_language(PERSON)
_MESSAGE = any_language(MESSAGE)
_HELLO = frozenset(w for words in HELLO.values() for w in words)


def system_clock() -> int:
    """Unix ms now (the framework's system clock)."""
    return SYSTEM_CLOCK.now_ms()


# --- the seam for other engines --------------------------------------------------------------


@runtime_checkable
class Responder(Protocol):
    """Answers what the caller says when no scripted flow applies (their questions).

    Implementations may read and change ``call.state`` (a :class:`ReceptionistState`) and
    ``call.history``; they return what a handler may return: a ``str`` (spoken in the
    call's voice), actions, or a list of these. A transfer or hangup after speech waits for
    the speech to end, as everywhere in aiflow.
    """

    def respond(self, text: str, call: Call) -> Answer: ...


ResponderFactory = Callable[[ReceptionistConfig], Responder]


def make_responder(
    config: ReceptionistConfig, *, clock: Clock = system_clock, model_id: str | None = None
) -> Responder:
    """The offline FAQ engine, or the LLM engine named by ``llm.engine`` (``module:factory``,
    called with the config) when the YAML has an ``llm:`` section, or Bedrock with
    ``model_id`` (``AIFLOW_BEDROCK_MODEL_ID``, which template.yaml sets when
    ``EnableBedrock=true``) when it has none.

    Raises:
        ConfigError: the engine cannot be imported or is not a responder factory.
    """
    if config.llm is None and model_id:
        # Use Bedrock without editing the YAML.
        from .llm import bedrock_responder

        return bedrock_responder(config, model_id=model_id)
    if config.llm is None:
        return OfflineResponder(config, clock=clock)
    module_name, _, attr = config.llm.engine.partition(":")
    try:
        factory: ResponderFactory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError("llm", [("llm.engine", f"cannot be loaded: {exc}")]) from None
    responder = factory(config)
    if not isinstance(responder, Responder):
        raise ConfigError("llm", [("llm.engine", "did not return a Responder (no respond())")])
    return responder


class OfflineResponder:
    """Answers FAQ questions by keyword and fuzzy matching; otherwise asks what the caller
    means, and after two misses in a row offers a person."""

    def __init__(self, config: ReceptionistConfig, *, clock: Clock = system_clock) -> None:
        self.config = config
        self.speech = Speech(config, clock=clock)

    @cached_property
    def index(self) -> FaqIndex:
        """The FAQ index, built for the first question: a call's first answer is the
        greeting, which a cold start should not delay by indexing every question."""
        return FaqIndex.build(topic_keywords(self.config))

    def respond(self, text: str, call: Call) -> Answer:
        """The FAQ answer for ``text``, or a clarifying question."""
        state = state_of(call)
        match = self.index.match(text)
        if match is not None:
            state.misses = 0
            return self.speech.answer(match.topic, call)
        state.misses += 1
        # Without topics there is nothing to clarify towards: offer a person at once.
        if state.misses >= 2 or not self.index.topics:
            state.misses = 0
            state.asked = "person"
            return self.speech.say(call, "clarify_again")
        return self.speech.say(call, "clarify")


# --- sentences -------------------------------------------------------------------------------


class Speech:
    """Builds the sentences of the receptionist in the call's language and voice."""

    def __init__(self, config: ReceptionistConfig, *, clock: Clock = system_clock) -> None:
        self.config = config
        self.clock = clock

    def language(self, call: Call) -> str:
        """The language the call is held in."""
        return state_of(call).language or self.config.language

    def say(self, call: Call, key: TextKey, *, final: bool = False, **values: str) -> SpeakAction:
        """``speak`` of the sentence ``key``; ``final`` ones cannot be interrupted."""
        return self.speak(call, self.text(call, key, **values), final=final)

    def speak(self, call: Call, text: str, *, final: bool = False) -> SpeakAction:
        """``speak`` of ``text`` in the call's voice."""
        lang = self.language(call)
        return speak(
            text,
            tts=self.config.voice(lang),
            barge_in=_NOT_INTERRUPTIBLE if final else None,
        )

    def text(self, call: Call, key: TextKey, **values: str) -> str:
        """The sentence ``key`` in the call's language, placeholders filled in."""
        lang = self.language(call)
        fill = {
            "business": self.config.business_name,
            "menu": localized(self.config.dtmf.prompt, lang) if self.config.dtmf else "",
            "topics": self.topics(lang),
            "hours": self.hours(lang),
            "target": "",
            "caller": call.caller or "?",
            "message": "",
            **values,
        }
        return " ".join(self.config.text(key, lang).format_map(fill).split())

    def topics(self, lang: str) -> str:
        """The answerable topics as a spoken list: "Terminen, Rezepten oder Notfällen"."""
        titles = [HOURS_TITLE[lang]] if self.config.opening_hours else []
        titles += [localized(e.title, lang) for e in self.config.faq if e.title]
        if len(titles) <= 1:
            return "".join(titles)
        return f"{', '.join(titles[:-1])} {OR_WORD[lang]} {titles[-1]}"

    def hours(self, lang: str) -> str:
        """The opening hours as sentences (empty without opening hours)."""
        hours = self.config.opening_hours
        if hours is None:
            return ""
        if hours.say is not None:
            return localized(hours.say, lang)
        weekly = self.config.weekly_hours
        return weekly.describe(lang) if weekly else ""

    def answer(self, topic: str, call: Call) -> SpeakAction:
        """The answer to ``topic`` followed by "anything else?"."""
        lang = self.language(call)
        if topic == OPENING_HOURS_TOPIC:
            weekly = self.config.weekly_hours
            now_open = weekly is not None and weekly.is_open(self.clock())
            status = self.text(call, "hours_open_now" if now_open else "hours_closed_now")
            body = f"{self.hours(lang)} {status}"
        else:
            entry = next(e for e in self.config.faq if e.topic == topic)
            body = localized(entry.answer, lang)
        state_of(call).asked = "anything_else"
        return self.speak(call, f"{body} {self.text(call, 'anything_else')}")


# --- the conversation ------------------------------------------------------------------------


class Receptionist:
    """The receptionist's behaviour, one method per event.

    Args:
        config: the validated YAML.
        responder: answers free questions (default: :class:`OfflineResponder`).
        clock: Unix ms now; used for barge-in estimates, opening hours and message times.
    """

    def __init__(
        self,
        config: ReceptionistConfig,
        *,
        responder: Responder | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.config = config
        self.clock = clock
        self.speech = Speech(config, clock=clock)
        self.responder = responder or OfflineResponder(config, clock=clock)
        self.fallback_responder = (
            self.responder
            if isinstance(self.responder, OfflineResponder)
            else OfflineResponder(config, clock=clock)
        )
        self._target_words = {
            name: any_language(target.keywords)
            for name, target in (config.transfer.targets.items() if config.transfer else ())
        }

    # --- events ----------------------------------------------------------------------------

    def session_start(self, call: Call) -> Answer:
        """Greet; when the caller is back from a failed transfer, apologise and offer to
        take a message."""
        state = state_of(call)
        if call.resumed and call.previous_status == "transferring":
            state.asked = "message"
            state.silences = 0
            target = self._target(state.transfer_target)
            name = localized(target.name, self.speech.language(call)) if target else ""
            return self.speech.say(call, "transfer_failed", target=name)
        if call.resumed:
            return self.speech.say(call, "greeting")  # the platform reconnected: start over
        state.language = self.config.language
        greeting = self.speech.say(call, "greeting")
        setup = self.config.transcription_action()
        return [setup, greeting] if setup else greeting

    def user_speak(self, text: str, call: Call, *, barged_in: bool = False) -> Answer:
        """Answer one caller turn."""
        state = state_of(call)
        if ending(call):
            return None  # the farewell or handoff is playing; the call is about to end
        state.silences = 0
        if self.config.detect_language:
            lang = detect_language(text, list(self.config.languages))
            if lang is not None:
                state.language = lang
        asked, state.asked = state.asked, None
        tokens = tokenize(text)
        if asked == "message":
            return self._take_message(text, tokens, call)
        state.transfer_target = None  # a later message is no longer about a failed transfer
        reply = self._scripted(tokens, asked, call)
        if reply is not None:
            state.misses = 0
            return reply
        return self._respond(text, call)

    def dtmf(self, digit: str, call: Call) -> Answer:
        """Run the keypad menu."""
        state = state_of(call)
        if ending(call) or self.config.dtmf is None:
            return None
        state.silences = state.misses = 0
        state.asked = None
        state.transfer_target = None
        command = self.config.dtmf.keys.get(digit)
        if command is None:
            return self.speech.say(call, "invalid_key")
        name, _, target = command.partition(":")
        if name == "menu":
            menu = localized(self.config.dtmf.prompt, self.speech.language(call))
            return self.speech.speak(call, menu)
        if name == "person":
            return self._put_through(call, target or None)
        if name == "message":
            state.asked = "message"
            return self.speech.say(call, "message_prompt")
        if name == "goodbye":
            return self._farewell(call)
        return self.speech.answer(command, call)

    def user_input_timeout(self, call: Call) -> Answer:
        """Reprompt; after ``silence.hangup_after`` silences in a row say goodbye and hang up."""
        state = state_of(call)
        if ending(call):
            return None
        state.silences += 1
        if state.silences >= self.config.silence.hangup_after:
            return [self.speech.say(call, "silence_goodbye", final=True), hangup()]
        if state.asked == "message":
            return self.speech.say(call, "message_prompt")
        return self.speech.say(call, "reprompt")

    # --- flows -----------------------------------------------------------------------------

    def _scripted(self, tokens: list[str], asked: Question | None, call: Call) -> Answer:
        state = state_of(call)
        if has_phrase(tokens, _GOODBYE):
            return self._farewell(call)
        if asked == "anything_else" and (_is_no(tokens) or _is_thanks(tokens)):
            return self._farewell(call)  # "anything else?" - "no, thanks": we are done
        if asked is not None and _is_yes(tokens):
            return (
                self._put_through(call) if asked == "person" else self.speech.say(call, "go_ahead")
            )
        if asked == "person" and _is_no(tokens):
            state.asked = "anything_else"
            return self.speech.say(call, "no_problem")
        if _is_thanks(tokens):
            state.asked = "anything_else"
            return self.speech.say(call, "you_are_welcome")
        switch = self._language_request(tokens)
        if switch is not None:
            state.language = switch
            return self.speech.say(call, "language_switched")
        if only_words(tokens, _HELLO, HELLO_CORE):
            return self.speech.say(call, "hello")  # "Hallo?": the caller checks we are there
        target = self._named_target(tokens)
        # A department alone puts through only when it is all the caller says ("Abrechnung,
        # bitte"); "Wann ist der Empfang besetzt?" is a question, not a request.
        if has_phrase(tokens, _PERSON) or (target is not None and len(tokens) <= 4):
            return self._put_through(call, target)
        if has_phrase(tokens, _MESSAGE):
            state.asked = "message"
            return self.speech.say(call, "message_prompt")
        return None

    def _respond(self, text: str, call: Call) -> Answer:
        if self.responder is self.fallback_responder:
            return self.responder.respond(text, call)
        try:
            return self.responder.respond(text, call)
        except Exception:
            # An LLM outage must not cost the caller an answer we can give offline. Its
            # exception may quote the caller: type and frames only.
            log_failure(logger, "the responder failed; answering offline")
            return self.fallback_responder.respond(text, call)

    def _put_through(self, call: Call, target_name: str | None = None) -> Answer:
        state = state_of(call)
        config = self.config.transfer
        if config is None:
            state.asked = "message"
            return self.speech.say(call, "no_transfer")
        weekly = self.config.weekly_hours
        if config.only_when_open and weekly is not None and not weekly.is_open(self.clock()):
            state.asked = "message"
            return self.speech.say(call, "closed")
        name = target_name or config.default
        target = config.targets[name]
        state.transfer_target = name
        lang = self.speech.language(call)
        handoff = self.speech.say(call, "handoff", final=True, target=localized(target.name, lang))
        # Returned after the speech, the transfer waits in call.pending for its end.
        return [
            handoff,
            transfer(
                target.number,
                caller_id_name=target.caller_id_name,
                caller_id_number=target.caller_id_number,
                timeout=target.timeout,
            ),
        ]

    def _take_message(self, text: str, tokens: list[str], call: Call) -> Answer:
        state = state_of(call)
        if has_phrase(tokens, _GOODBYE):
            return self._farewell(call)
        if _is_no(tokens):
            state.asked = "anything_else"
            return self.speech.say(call, "no_problem")
        if _is_yes(tokens):
            state.asked = "message"
            return self.speech.say(call, "message_prompt")
        lang = self.speech.language(call)
        state.messages.append(
            Message(
                text=text[:MAX_MESSAGE_CHARS],
                at=self.clock(),
                caller=call.caller,
                language=lang,
                after_transfer_to=state.transfer_target,
            )
        )
        # Bounded: a caller dictating for an hour must not outgrow the call record.
        del state.messages[:-MAX_MESSAGES]
        state.transfer_target = None
        state.asked = "anything_else"
        reply: list[Item] = [self.speech.say(call, "message_saved")]
        notify = self.config.messages.notify_sms
        if notify:
            body = self.speech.text(call, "message_sms", message=text)
            reply.append(send_sms(notify, body))
        return reply

    def _farewell(self, call: Call) -> Answer:
        # Returned after the speech, the hangup waits in call.pending for its end.
        return [self.speech.say(call, "farewell", final=True), hangup()]

    # --- helpers ---------------------------------------------------------------------------

    def _target(self, name: str | None) -> TransferTarget | None:
        transfer_config = self.config.transfer
        if transfer_config is None:
            return None
        return transfer_config.targets.get(name or transfer_config.default)

    def _named_target(self, tokens: list[str]) -> str | None:
        for name, words in self._target_words.items():
            if has_phrase(tokens, words):
                return name
        return None

    def _language_request(self, tokens: list[str]) -> str | None:
        # Short utterances only: "Do you speak English?", not "my English teacher said ...".
        if len(tokens) > 6:
            return None
        for lang, names in LANGUAGE_NAMES.items():
            if lang in self.config.languages and any(n in tokens for n in names):
                return lang
        return None


def _is_yes(tokens: list[str]) -> bool:
    words = {w for ws in YES.values() for w in ws}
    core = words - {"bitte", "please"}
    return only_words(tokens, words | {w for ws in THANKS.values() for w in ws}, core)


def _is_no(tokens: list[str]) -> bool:
    return only_words(tokens, {w for ws in NO.values() for w in ws}, NO_CORE)


def _is_thanks(tokens: list[str]) -> bool:
    return only_words(tokens, {w for ws in THANKS.values() for w in ws}, THANKS_CORE)


def ending(call: Call) -> bool:
    """Whether a hangup or transfer is waiting for the current speech to end.

    Where the platform reports which speech plays (``call.speech_by_text``), one held for
    a speech that never started does not count: that reply never reached the caller (its
    save landed unconfirmed and they heard the fallback), who is still talking to us.
    """
    pending = call.pending
    if not any(isinstance(a, HangupAction | TransferAction) for a in pending.actions):
        return False
    return not call.speech_by_text or pending.started > 0


__all__ = [
    "Answer",
    "Clock",
    "Message",
    "OfflineResponder",
    "Receptionist",
    "ReceptionistState",
    "Responder",
    "ResponderFactory",
    "Speech",
    "ending",
    "make_responder",
    "state_of",
    "system_clock",
]
