"""The receptionist's LLM engine: free questions answered by Amazon Bedrock.

Switched on by an ``llm:`` section in ``receptionist.yaml``::

    llm:
      engine: receptionist.llm:bedrock_responder
      model_id: eu.anthropic.claude-3-5-haiku-20241022-v1:0   # default: AIFLOW_BEDROCK_MODEL_ID
      max_tool_steps: 4                                        # any BedrockConfig option

or, with no ``llm:`` section, by the ``AIFLOW_BEDROCK_MODEL_ID`` environment variable that
``template.yaml`` sets when ``EnableBedrock=true``. The model knows the business from this
file (opening hours, FAQ answers) and can transfer only to the configured targets.
"""

from __future__ import annotations

from typing import Any

from aiflow import Call
from aiflow.agents import BedrockAgent

from .answer import Answer
from .config import ReceptionistConfig, localized
from .hours import WeeklyHours

PROMPTS = {
    "de": (
        "Sie sind die telefonische Rezeption von {business}. Antworten Sie höflich, auf Deutsch "
        "und in höchstens zwei kurzen Sätzen, die man gut vorlesen kann (keine Listen, kein "
        "Markdown). Erfinden Sie nichts: was Sie nicht wissen, bieten Sie an, an einen Menschen "
        "weiterzuleiten.\n\nWas Sie wissen:\n{facts}"
    ),
    "en": (
        "You are the phone receptionist of {business}. Answer politely, in English and in at "
        "most two short sentences that read well aloud (no lists, no markdown). Do not make "
        "anything up: when you do not know, offer to put the caller through to a person."
        "\n\nWhat you know:\n{facts}"
    ),
}


def system_prompt(config: ReceptionistConfig) -> str:
    """A system prompt built from the config: business, opening hours and FAQ answers."""
    lang = config.language
    facts: list[str] = []
    if config.opening_hours is not None:
        days = {str(day): ranges for day, ranges in config.opening_hours.days.items()}
        hours = WeeklyHours.from_config(config.opening_hours.timezone, days)
        facts.append(f"- {hours.describe(lang)}")
    for entry in config.faq:
        title = localized(entry.title, lang) if entry.title else entry.topic
        facts.append(f"- {title}: {localized(entry.answer, lang)}")
    template = PROMPTS.get(lang, PROMPTS["en"])
    return template.format(business=config.business_name, facts="\n".join(facts) or "-")


def agent_config(config: ReceptionistConfig, *, model_id: str | None = None) -> dict[str, Any]:
    """The :class:`aiflow.agents.BedrockConfig` options for this receptionist.

    Args:
        config: the receptionist's configuration.
        model_id: the model when ``llm.model_id`` is not set (``AIFLOW_BEDROCK_MODEL_ID``).
    """
    options = dict(config.llm.model_extra or {}) if config.llm is not None else {}
    options.pop("engine", None)
    model_id = options.pop("model_id", None) or model_id
    if not model_id:
        raise ValueError("llm.model_id is not set and AIFLOW_BEDROCK_MODEL_ID is empty")
    targets: dict[str, Any] = {}
    if config.transfer is not None:
        for key, target in config.transfer.targets.items():
            targets[key] = {
                "number": target.number,
                "caller_id_name": target.caller_id_name,
                "caller_id_number": target.caller_id_number,
                "timeout": target.timeout,
                "description": localized(target.name, config.language),
            }
    return {
        "model_id": model_id,
        "system_prompt": options.pop("system_prompt", None) or system_prompt(config),
        "language": config.language,
        "transfer_targets": targets,
        **options,
    }


class BedrockResponder:
    """Answers free questions with a :class:`BedrockAgent` (history in ``call.state``)."""

    def __init__(self, agent: BedrockAgent) -> None:
        self.agent = agent

    def respond(self, text: str, call: Call) -> Answer:
        """The model's answer (speech, and a transfer or hangup when it chose one)."""
        return self.agent.respond(call, text)


def bedrock_responder(
    config: ReceptionistConfig, *, model_id: str | None = None
) -> BedrockResponder:
    """The ``llm.engine`` factory: ``receptionist.llm:bedrock_responder``."""
    if model_id is None:
        from aiflow.settings import Settings

        model_id = Settings.from_env().bedrock_model_id
    return BedrockResponder(BedrockAgent(agent_config(config, model_id=model_id)))
