"""LLM agents that run the conversation of an assistant.

* :class:`BedrockAgent` (``aiflow.agents.bedrock``): Amazon Bedrock's Converse API, with
  built-in call tools (transfer, end call, SMS, keypad digits) and your own ``@tool`` functions.
* :func:`tool` / :class:`Toolbox` (``aiflow.agents.tools``): plain typed Python functions as
  tools, with the JSON schema built from the signature; a tool refuses with
  :class:`ToolError` and acts on the call by returning a :class:`ToolEffect` (that is how the
  built-in call tools of ``aiflow.agents.call_tools`` work).
* :class:`SentenceSplitter` (``aiflow.agents.sentences``): sentences out of streamed text.

Importing this package is cheap: boto3 is only imported when the first model call is made.
"""

from .bedrock import BedrockAgent, BedrockConfig
from .call_tools import BUILTIN_TOOLS, TransferTarget
from .digits import KEYPAD_PREFIX
from .errors import AgentError, ToolError
from .sentences import SentenceSplitter, split_sentences
from .tools import Tool, Toolbox, ToolEffect, tool, tool_result

__all__ = [
    "BUILTIN_TOOLS",
    "KEYPAD_PREFIX",
    "AgentError",
    "BedrockAgent",
    "BedrockConfig",
    "SentenceSplitter",
    "Tool",
    "ToolEffect",
    "ToolError",
    "Toolbox",
    "TransferTarget",
    "split_sentences",
    "tool",
    "tool_result",
]
