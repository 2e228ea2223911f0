"""LLM agents that run the conversation of an assistant.

* :class:`BedrockAgent` (``aiflow.agents.bedrock``): Amazon Bedrock's Converse API, with
  built-in call tools (transfer, end call, SMS, keypad digits) and your own ``@tool`` functions.
* :func:`tool` / :class:`Toolbox` (``aiflow.agents.tools``): plain typed Python functions as
  tools, with the JSON schema built from the signature.
* :class:`SentenceSplitter` (``aiflow.agents.sentences``): sentences out of streamed text.

Importing this package is cheap: boto3 is only imported when the first model call is made.
"""

from .bedrock import BUILTIN_TOOLS, KEYPAD_PREFIX, BedrockAgent, BedrockConfig, TransferTarget
from .errors import AgentError
from .sentences import SentenceSplitter, split_sentences
from .tools import Tool, Toolbox, tool, tool_result

__all__ = [
    "BUILTIN_TOOLS",
    "KEYPAD_PREFIX",
    "AgentError",
    "BedrockAgent",
    "BedrockConfig",
    "SentenceSplitter",
    "Tool",
    "Toolbox",
    "TransferTarget",
    "split_sentences",
    "tool",
    "tool_result",
]
