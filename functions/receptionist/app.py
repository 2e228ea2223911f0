"""The receptionist: the assistant built from ``receptionist.yaml``.

Deployed by naming it in ``template.yaml`` (parameter ``Assistant``,
``receptionist.app:assistant``); the entry points are :mod:`aiflow.lambda_.main`'s. The
configuration is read and validated when this module is imported (a Lambda cold start), so a
broken YAML fails the deployment's first request loudly instead of a caller.
"""

from aiflow import Assistant, Call, DtmfReceivedEvent, UserSpeakEvent
from aiflow.settings import Settings

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
    settings: Settings | None = None,
) -> Assistant:
    """An :class:`~aiflow.Assistant` that runs the receptionist described by ``config``.

    Args:
        config: the validated YAML (see :func:`receptionist.config.load_config`).
        responder: answers free questions; default: :func:`receptionist.engine.make_responder`
            (the offline FAQ engine, the ``llm:`` engine of the YAML, or Bedrock when the
            settings name a model).
        clock: Unix ms now (tests pass a fake one).
        settings: the framework settings (default: from the environment).
    """
    settings = settings or Settings.from_env()
    if responder is None:
        responder = make_responder(config, clock=clock, model_id=settings.bedrock_model_id)
    engine = Receptionist(config, responder=responder, clock=clock)
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

    return assistant


config = load_config()
assistant = build_assistant(config)
