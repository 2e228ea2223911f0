"""AWS wiring of the Lambda functions: boto3 clients whose timeouts fit a phone turn, the
token from Secrets Manager, the worker start, and replies through the WebSocket Management API.

botocore's defaults (60 s connect and read timeouts, retries with backoff) would let one
hanging dependency keep a caller in silence past the Lambda timeout. Every client here
gets timeouts derived from the answer budget and at most one retry; the turn engine
additionally stops waiting at its deadline.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..auth import TokenSource
from ..settings import Settings
from ..streaming import ConnectionGone, Sender, SendFailed

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

CONNECT_TIMEOUT_S = 0.5
_THROTTLED = frozenset(
    {"LimitExceededException", "TooManyRequestsException", "ThrottlingException"}
)


def client_config(settings: Settings, *, share: float, attempts: int = 1) -> Config:
    """A botocore config for a request that may take ``share`` of the answer budget."""
    from botocore.config import Config

    read = max(0.2, settings.answer_budget_ms / 1000 * share)
    return Config(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=read,
        retries={"mode": "standard", "total_max_attempts": attempts},
        tcp_keepalive=True,
    )


def secrets_client(settings: Settings) -> SecretsManagerClient:
    """Secrets Manager, for the token read during a request (at most about half the budget;
    the turn engine gets what is left)."""
    import boto3

    return boto3.client("secretsmanager", config=client_config(settings, share=0.35))


def lambda_client(settings: Settings) -> LambdaClient:
    """Lambda, for starting the slow-turn worker asynchronously (a 202 takes milliseconds)."""
    import boto3

    return boto3.client("lambda", config=client_config(settings, share=0.25))


def token_source(settings: Settings) -> TokenSource:
    """Where the expected token comes from: ``AIFLOW_API_TOKEN``, else the Secrets Manager
    secret ``AIFLOW_TOKEN_SECRET`` (cached for ``token_cache_seconds``, so a rotated token is
    picked up without a redeploy), else none."""
    if settings.api_token:
        fixed = settings.api_token
        return lambda: fixed
    if not settings.token_secret:
        return lambda: None
    secret, max_age = settings.token_secret, settings.token_cache_seconds
    provider: Any = None
    lock = threading.Lock()

    def read_secret() -> str | None:
        nonlocal provider
        with lock:
            if provider is None:
                from aws_lambda_powertools.utilities.parameters import SecretsProvider

                # Our own client: short timeouts, and Powertools would otherwise build a new
                # session and load botocore's data again (~70 ms on the first call).
                provider = SecretsProvider(boto3_client=secrets_client(settings))
        value = provider.get(secret, max_age=max_age)
        return value if isinstance(value, str) else None

    return read_secret


class LambdaDeferrer:
    """Starts the worker Lambda function asynchronously (``InvocationType=Event``).

    Args:
        function_name: the worker (``AIFLOW_WORKER_FUNCTION``).
        settings: for the client's timeouts.
        client: a Lambda client (tests); created on the first slow turn otherwise, since
            the Lambda service model costs ~30 ms that most cold starts would not use.
    """

    def __init__(
        self, function_name: str, *, settings: Settings, client: LambdaClient | None = None
    ) -> None:
        self.function_name = function_name
        self.settings = settings
        self._client = client

    @property
    def client(self) -> LambdaClient:
        """The boto3 Lambda client (created on first use)."""
        if self._client is None:
            self._client = lambda_client(self.settings)
        return self._client

    def __call__(self, payload: dict[str, Any]) -> None:
        """Start the worker; raises when Lambda refused or did not answer."""
        answer = self.client.invoke(
            FunctionName=self.function_name,
            InvocationType="Event",
            Payload=json.dumps(payload).encode(),
        )
        status = int(answer.get("StatusCode", 0))
        if status != 202:
            raise RuntimeError(f"Lambda answered {status} to the asynchronous invoke")


class ManagementApi:
    """Sends WebSocket frames with ``PostToConnection`` (one cached client per endpoint).

    Args:
        settings: ``ws_endpoint`` is a fixed callback URL; default
            ``https://{domainName}/{stage}`` of each event; and the client timeouts.
        client_factory: builds the ``apigatewaymanagementapi`` client for an endpoint URL.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        client_factory: Callable[[str], ApiGatewayManagementApiClient] | None = None,
    ) -> None:
        self.settings = settings
        self.endpoint = settings.ws_endpoint
        self._factory = client_factory or self._new_client
        self._clients: dict[str, ApiGatewayManagementApiClient] = {}
        self._lock = threading.Lock()

    def endpoint_for(self, request_context: Mapping[str, Any]) -> str:
        """The callback URL for the API and stage of ``request_context``."""
        if self.endpoint:
            return self.endpoint
        return f"https://{request_context['domainName']}/{request_context['stage']}"

    def client(self, endpoint: str) -> ApiGatewayManagementApiClient:
        """The client for ``endpoint`` (created once per process)."""
        with self._lock:
            if endpoint not in self._clients:
                self._clients[endpoint] = self._factory(endpoint)
            return self._clients[endpoint]

    def __call__(self, request_context: Mapping[str, Any]) -> Sender:
        """The sender for the connection of ``request_context``."""
        client = self.client(self.endpoint_for(request_context))
        connection_id = str(request_context["connectionId"])

        def send(body: str) -> None:
            for attempt in (1, 2):
                try:
                    client.post_to_connection(ConnectionId=connection_id, Data=body.encode())
                    return
                except Exception as exc:
                    code = error_code(exc)
                    if code == "GoneException":
                        raise ConnectionGone("the platform closed the connection") from None
                    if attempt == 1 and _never_sent(exc):
                        continue
                    raise SendFailed(f"PostToConnection failed: {code}") from exc

        return send

    def _new_client(self, endpoint: str) -> ApiGatewayManagementApiClient:
        import boto3

        # A caller is waiting: short timeouts. No retry by botocore: a PostToConnection
        # whose answer timed out may have been delivered, and the caller would hear the
        # sentence twice; send() repeats only what surely never left (_never_sent).
        config = client_config(self.settings, share=0.35, attempts=1)
        return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, config=config)


def _never_sent(exc: Exception) -> bool:
    """Whether a request failed before reaching the service (safe to repeat): no
    connection, or refused for throttling."""
    from botocore.exceptions import ConnectionError as NoConnection

    return isinstance(exc, NoConnection) or error_code(exc) in _THROTTLED


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ``ClientError`` (else the exception's type)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or type(exc).__name__
    return type(exc).__name__
