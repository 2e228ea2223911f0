"""AWS Lambda entry points: the HTTP webhook (API Gateway HTTP API, payload v2).

One line turns an assistant into a Lambda handler::

    handler = lambda_handler(assistant)
    worker = worker_handler(assistant)   # finishes turns that outran the time budget
"""

from .http import lambda_handler
from .settings import Settings
from .worker import worker_handler

__all__ = ["Settings", "lambda_handler", "worker_handler"]
