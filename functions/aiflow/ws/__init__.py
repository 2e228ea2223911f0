"""The WebSocket transport: replies sent whenever they are ready, streamed sentence by sentence.

* :func:`streaming` and :func:`send` are for handlers (see :mod:`aiflow.ws.stream`).
* :class:`WebSocketTransport` runs an assistant behind any WebSocket: the Lambda handler
  (:func:`aiflow.lambda_.websocket_handler`, API Gateway WebSocket API) and the dev server
  (``ws://127.0.0.1:3000/ws``) both use it.
"""

from ..call import merge_docs
from .connections import Connections, DynamoDBConnections, MemoryConnections
from .session import WebSocketTransport, WsOutcome
from .stream import Channel, ConnectionGone, Sender, SendFailed, collect, send, streaming

__all__ = [
    "Channel",
    "ConnectionGone",
    "Connections",
    "DynamoDBConnections",
    "MemoryConnections",
    "SendFailed",
    "Sender",
    "WebSocketTransport",
    "WsOutcome",
    "collect",
    "merge_docs",
    "send",
    "streaming",
]
