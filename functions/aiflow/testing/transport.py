"""How the simulator reaches a webhook: in process through the local API Gateway, or over
real HTTP with ``urllib``."""

from __future__ import annotations

import importlib
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..errors import AiflowError

LambdaHandler = Callable[[dict[str, Any], Any], Any]


class SimulatorError(AiflowError):
    """The simulated call cannot do what was asked (not started, already over, no server)."""

    code = "simulator"


class Transport(Protocol):
    """Delivers one webhook request; returns status and body."""

    description: str

    def post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """Send ``body`` and return the answer."""
        ...

    def close(self) -> None:
        """Release resources."""
        ...


class InProcessTransport:
    """The Lambda handler behind a local API Gateway, in this process."""

    def __init__(self, handler: LambdaHandler, *, path: str = "/webhook", name: str = "") -> None:
        from ..dev.gateway import LocalGateway  # standard library only

        self.gateway = LocalGateway(handler)
        self.path = path
        self.description = f"in-process {name}".strip()

    def post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """See :class:`Transport`."""
        response = self.gateway.request("POST", self.path, headers, body)
        return response.status, response.body

    def close(self) -> None:
        """Nothing to release."""


class HttpTransport:
    """A webhook URL over real HTTP (``urllib``)."""

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.description = url

    def post(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        """See :class:`Transport`."""
        request = urllib.request.Request(self.url, data=body, headers=dict(headers), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return int(exc.code), exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SimulatorError(f"cannot reach {self.url}: {reason}", code="unreachable") from None

    def close(self) -> None:
        """Nothing to release (urllib opens a connection per request)."""


def load_object(spec: str) -> Any:
    """Import ``module:attribute`` (attribute default ``assistant``)."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise SimulatorError(
                f"cannot import {module_name!r} (from {spec!r}); is its folder on sys.path?",
                code="bad_target",
            ) from None
        raise
    obj = module
    for part in (attribute or "assistant").split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SimulatorError(
                f"{module_name} has no attribute {attribute or 'assistant'!r}", code="bad_target"
            ) from None
    return obj
