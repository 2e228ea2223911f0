"""Amazon Bedrock (Converse API) as the conversation engine of an assistant.

* :mod:`.agent` — :class:`BedrockAgent`: the turn, its bounded tool loop, streaming, keypad;
* :mod:`.config` — :class:`BedrockConfig` (and :class:`TransferTarget` from
  :mod:`aiflow.agents.call_tools`);
* :mod:`.converse` — the Converse request, the client and its timeouts, stream parsing,
  errors.
"""

from ..call_tools import BUILTIN_TOOLS, TransferTarget
from ..digits import KEYPAD_PREFIX
from ..history import trim_history
from .agent import BedrockAgent
from .config import BedrockConfig

__all__ = [
    "BUILTIN_TOOLS",
    "KEYPAD_PREFIX",
    "BedrockAgent",
    "BedrockConfig",
    "TransferTarget",
    "trim_history",
]
