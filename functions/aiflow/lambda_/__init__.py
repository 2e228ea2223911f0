"""AWS Lambda entry points: the HTTP webhook (API Gateway HTTP API, payload v2) and the
WebSocket transport (API Gateway WebSocket API).

One line turns an assistant into a Lambda handler::

    handler = lambda_handler(assistant)
    worker = worker_handler(assistant)   # finishes turns that outran the time budget
    websocket = websocket_handler(assistant)   # $connect, $default, $disconnect
"""

from .http import lambda_handler
from .settings import Settings
from .websocket import websocket_handler
from .worker import worker_handler

__all__ = ["Settings", "lambda_handler", "websocket_handler", "worker_handler"]
