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
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .. import awsclients
from ..auth import TokenSource
from ..awsclients import error_code
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
    made: SecretsManagerClient = awsclients.client(
        "secretsmanager", config=client_config(settings, share=0.35)
    )
    return made


def lambda_client(settings: Settings) -> LambdaClient:
    """Lambda, for starting the slow-turn worker asynchronously (a 202 takes milliseconds)."""
    made: LambdaClient = awsclients.client("lambda", config=client_config(settings, share=0.25))
    return made


class SecretToken:
    """The token in a Secrets Manager secret (``SecretString``), read on first use and again
    once the value read is ``max_age`` seconds old, so a rotated token is picked up without a
    redeploy. :meth:`forget` drops the value (a SnapStart restore must read it afresh).

    One ``GetSecretValue`` with the client's short timeouts, no hidden retries; a failure
    raises (the webhook answers the fallback) and the next request tries again.

    Args:
        secret_id: the secret's name or ARN (``AIFLOW_TOKEN_SECRET``).
        max_age: seconds a value read is used (``AIFLOW_TOKEN_CACHE_SECONDS``).
        client: returns the Secrets Manager client (called on the first read).
        clock: monotonic seconds.
    """

    def __init__(
        self,
        secret_id: str,
        *,
        max_age: float,
        client: Callable[[], SecretsManagerClient],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secret_id = secret_id
        self.max_age = max_age
        self._client_factory = client
        self._client: SecretsManagerClient | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._value: tuple[str | None, float] | None = None
        _SECRET_TOKENS.add(self)

    @property
    def client(self) -> SecretsManagerClient:
        """The Secrets Manager client (created on first use)."""
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def __call__(self) -> str | None:
        """The token (``None`` when the secret holds binary data, not a string)."""
        with self._lock:
            now = self._clock()
            if self._value is None or now - self._value[1] >= self.max_age:
                answer = self.client.get_secret_value(SecretId=self.secret_id)
                value = answer.get("SecretString")
                self._value = (value if isinstance(value, str) else None, now)
            return self._value[0]

    def forget(self) -> None:
        """Drop the value read; the next call reads the secret again."""
        with self._lock:
            self._value = None


_SECRET_TOKENS: weakref.WeakSet[SecretToken] = weakref.WeakSet()


def forget_secret_tokens() -> int:
    """:meth:`SecretToken.forget` on every token source of this process; how many."""
    tokens = list(_SECRET_TOKENS)
    for token in tokens:
        token.forget()
    return len(tokens)


def token_source(settings: Settings) -> TokenSource:
    """Where the expected token comes from: ``AIFLOW_API_TOKEN``, else the Secrets Manager
    secret ``AIFLOW_TOKEN_SECRET`` (a :class:`SecretToken`, cached for
    ``token_cache_seconds``), else none. In Lambda the client is created now, during init
    (which has the CPU boost and, with SnapStart, is in the snapshot); it connects on the
    first request."""
    if settings.api_token:
        fixed = settings.api_token
        return lambda: fixed
    if not settings.token_secret:
        return lambda: None
    token = SecretToken(
        settings.token_secret,
        max_age=settings.token_cache_seconds,
        client=lambda: secrets_client(settings),
    )
    if settings.in_lambda:
        token.client  # noqa: B018  (created during init)
    return token


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
        # A caller is waiting: short timeouts. No retry by botocore: a PostToConnection
        # whose answer timed out may have been delivered, and the caller would hear the
        # sentence twice; send() repeats only what surely never left (_never_sent).
        config = client_config(self.settings, share=0.35, attempts=1)
        made: ApiGatewayManagementApiClient = awsclients.client(
            "apigatewaymanagementapi", endpoint_url=endpoint, config=config
        )
        return made


def _never_sent(exc: Exception) -> bool:
    """Whether a request failed before reaching the service (safe to repeat): no
    connection, or refused for throttling."""
    from botocore.exceptions import ConnectionError as NoConnection

    return isinstance(exc, NoConnection) or error_code(exc) in _THROTTLED
