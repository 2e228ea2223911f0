"""The receptionist: the assistant built from ``receptionist.yaml``.

Deployed by naming it in ``template.yaml`` (parameter ``Assistant``,
``receptionist.app:assistant``); the entry points are :mod:`aiflow.lambda_.main`'s. The
configuration is read and validated when this module is imported (a Lambda cold start), so a
broken YAML fails the deployment's first request loudly instead of a caller.
"""

from __future__ import annotations

from aiflow import (
    Assistant,
    AssistantSpeakEvent,
    Call,
    DtmfReceivedEvent,
    UserSpeakEvent,
)

from .config import ReceptionistConfig, load_config
from .engine import (
    Answer,
    Clock,
    Receptionist,
    ReceptionistState,
    Responder,
    make_responder,
    system_clock,
)


def build_assistant(
    config: ReceptionistConfig,
    *,
    responder: Responder | None = None,
    clock: Clock = system_clock,
) -> Assistant:
    """An :class:`~aiflow.Assistant` that runs the receptionist described by ``config``.

    Args:
        config: the validated YAML (see :func:`receptionist.config.load_config`).
        responder: answers free questions; default: :func:`receptionist.engine.make_responder`
            (the offline FAQ engine, or the ``llm:`` engine of the YAML).
        clock: Unix ms now (tests pass a fake one).
    """
    engine = Receptionist(
        config, responder=responder or make_responder(config, clock=clock), clock=clock
    )
    assistant = Assistant(
        "receptionist",
        state=ReceptionistState,
        voice=config.voice(config.language),
        barge_in=config.barge_in,
        user_input_timeout=config.silence.timeout_seconds,
        language=config.locale(config.language),
    )

    @assistant.on_session_start
    def greet(call: Call) -> Answer:
        return engine.session_start(call)

    @assistant.on_user_speak
    def answer(event: UserSpeakEvent, call: Call) -> Answer:
        return engine.user_speak(event.text, call, barged_in=event.barged_in)

    @assistant.on_dtmf
    def key_pressed(event: DtmfReceivedEvent, call: Call) -> Answer:
        return engine.dtmf(event.digit, call)

    @assistant.on_user_input_timeout
    def silence(call: Call) -> Answer:
        return engine.user_input_timeout(call)

    @assistant.on_assistant_speak
    def speech_started(event: AssistantSpeakEvent, call: Call) -> None:
        engine.assistant_speak(
            call,
            text=event.text,
            started_at=event.speech_started_at,
            duration_ms=event.duration_ms,
        )

    @assistant.on_user_speech_started
    def caller_started(call: Call) -> None:
        engine.user_speech_started(call)

    return assistant


config = load_config()
assistant = build_assistant(config)
