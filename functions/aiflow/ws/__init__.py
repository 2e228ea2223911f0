"""The WebSocket transport: replies sent whenever they are ready, streamed sentence by sentence.

:class:`WebSocketTransport` runs an assistant's turns behind any WebSocket: the Lambda
handler (:func:`aiflow.lambda_.websocket_handler`, API Gateway WebSocket API) and the dev
server (``ws://127.0.0.1:3000/ws``) both use it. Streaming itself (:func:`aiflow.streaming`,
:func:`aiflow.send`) is transport-neutral and lives in :mod:`aiflow.streaming`.
"""

from ..store.base import Connections
from ..store.memory import MemoryConnections
from ..streaming import Channel, ConnectionGone, Sender, SendFailed, send, streaming
from .transport import WebSocketTransport

__all__ = [
    "Channel",
    "ConnectionGone",
    "Connections",
    "MemoryConnections",
    "SendFailed",
    "Sender",
    "WebSocketTransport",
    "send",
    "streaming",
]
