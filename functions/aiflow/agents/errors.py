"""Errors of the LLM agents.

An agent raises :class:`AgentError` when the model cannot be reached or gives no usable
answer. Inside an :class:`~aiflow.Assistant` handler you can simply let it propagate: the
core logs it, rolls ``call`` back to its state before the event and the caller hears the
assistant's fallback sentence. Catch it to say something else.

A tool raises :class:`ToolError` to refuse a request: the model is told the message and can
correct itself.
"""

from __future__ import annotations

from ..errors import AiflowError


class AgentError(AiflowError):
    """The model call failed (throttling, timeout, no connection, …) or gave no answer.

    Attributes:
        aws_code: the AWS error code (``"ThrottlingException"``) or exception class name
            (``"ReadTimeoutError"``); ``None`` when the error is not from AWS.
        retryable: trying again later may succeed (throttling, timeouts, 5xx).
    """

    code = "agent_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        aws_code: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message, code=code)
        self.aws_code = aws_code
        self.retryable = retryable


class ToolError(AiflowError):
    """Raised by a tool to refuse: the model gets exactly ``message`` as an error result.

    Any other exception of a tool also becomes an error result, prefixed with its type.
    """

    code = "tool_error"
