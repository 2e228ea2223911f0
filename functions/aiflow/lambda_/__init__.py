"""AWS Lambda entry points: the HTTP webhook (API Gateway HTTP API, payload v2).

One line turns an assistant into a Lambda handler::

    handler = lambda_handler(assistant)
"""

from .http import lambda_handler
from .settings import Settings

__all__ = ["Settings", "lambda_handler"]
