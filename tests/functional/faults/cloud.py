"""A small AWS on loopback for fault tests: one moto server, a fault proxy per dependency.

The functions under test reach every dependency through its proxy, set as the endpoint URL
the way a deployment would (``AWS_ENDPOINT_URL_DYNAMODB``, ``..._SECRETS_MANAGER``,
``..._LAMBDA``, ``..._BEDROCK_RUNTIME``; the Management API through
``Settings.ws_endpoint``); the tests read and prepare the account directly at moto.

moto has no Bedrock Converse, so a fake model endpoint on loopback answers it (its answer
repeats the question, which shows the request went through). Two things moto does in
process are observed here, as the platform and Lambda would see them: an asynchronous
``Invoke`` of the worker runs the registered worker handler in a thread (moto's Docker-free
Lambda only answers 202), and every ``PostToConnection`` is recorded as a frame the platform
received.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from moto.apigatewaymanagementapi.models import ApiGatewayManagementApiBackend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.models import default_user_config
from moto.server import ThreadedMotoServer

from aiflow.local.template import create_tables
from aiflow.store.dynamodb import item_doc

from .proxy import FaultProxy

REPO = Path(__file__).resolve().parents[3]
TEMPLATE = REPO / "template.yaml"
REGION = "eu-central-1"
TOKEN = "local-dev-token-0123"
WORKER = "aiflow-worker"
MODEL_ID = "eu.amazon.nova-lite-v1:0"
DEPENDENCIES = ("dynamodb", "secretsmanager", "lambda", "bedrock", "execute-api")
ENDPOINT_VARIABLES = {
    "dynamodb": "AWS_ENDPOINT_URL_DYNAMODB",
    "secretsmanager": "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "lambda": "AWS_ENDPOINT_URL_LAMBDA",
    "bedrock": "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
}
FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}
CLEARED_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_LAMBDA_FUNCTION_NAME",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_DEV",
    "AIFLOW_TABLE_NAME",
    "AIFLOW_API_TOKEN",
    "AIFLOW_TOKEN_SECRET",
    "AIFLOW_WORKER_FUNCTION",
    "AIFLOW_WS_ENDPOINT",
    "AIFLOW_BEDROCK_MODEL_ID",
)


@dataclass
class Frame:
    """A WebSocket frame as the platform received it."""

    at: float  # monotonic
    connection: str
    body: Any

    @property
    def actions(self) -> list[dict[str, Any]]:
        return self.body if isinstance(self.body, list) else [self.body]


class FakeModel:
    """Bedrock's Converse API on loopback: answers every question with one sentence."""

    def __init__(self) -> None:
        self.questions: list[str] = []
        model = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                request = json.loads(self.rfile.read(int(self.headers["content-length"])))
                question = request["messages"][-1]["content"][0].get("text", "")
                model.questions.append(question)
                body = json.dumps(
                    {
                        "output": {
                            "message": {
                                "role": "assistant",
                                "content": [{"text": f"Zu Ihrer Frage: {question}"}],
                            }
                        },
                        "stopReason": "end_turn",
                        "usage": {"inputTokens": 12, "outputTokens": 8, "totalTokens": 20},
                        "metrics": {"latencyMs": 5},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.address = ("127.0.0.1", self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Cloud:
    """The account: moto behind proxies, the resources of ``template.yaml``, what the platform
    and Lambda observe.

    Attributes:
        proxies: the fault proxy of each dependency (see :data:`DEPENDENCIES`).
        table: the call table's name; ``secret``: the ARN of the token secret.
        dynamodb: a client straight to moto (the test's own view of the table).
        workers: the handler Lambda runs for an asynchronous ``Invoke`` of each function.
        frames: every ``PostToConnection`` the platform received.
    """

    moto: ThreadedMotoServer
    url: str
    proxies: dict[str, FaultProxy]
    model: FakeModel
    table: str = ""
    secret: str = ""
    dynamodb: Any = None
    workers: dict[str, Callable[[dict[str, Any], Any], Any]] = field(default_factory=dict)
    invocations: list[dict[str, Any]] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def ws_endpoint(self) -> str:
        """The Management API's callback URL, through its proxy."""
        return self.proxies["execute-api"].url

    def client(self, service: str) -> Any:
        """A boto3 client straight to moto (no proxy)."""
        return boto3.client(service, endpoint_url=self.url, region_name=REGION)

    def heal(self) -> None:
        """Every dependency answers normally again; what was held back arrives now."""
        for proxy in self.proxies.values():
            proxy.heal()
        for proxy in self.proxies.values():
            proxy.quiet()

    def item(self, session_id: str) -> dict[str, Any] | None:
        found = self.dynamodb.get_item(
            TableName=self.table, Key={"session_id": {"S": session_id}}, ConsistentRead=True
        )
        item: dict[str, Any] | None = found.get("Item")
        return item

    def doc(self, session_id: str) -> dict[str, Any] | None:
        """The stored call document (None: no record)."""
        item = self.item(session_id)
        return item_doc(item) if item is not None else None

    def join_workers(self, timeout: float = 15.0) -> None:
        """Wait for every worker Lambda started so far."""
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
            assert not thread.is_alive(), "a worker invocation is still running"

    # --- what moto does in process, observed -------------------------------------------

    def _invoked(self, function_name: str, body: Any, headers: Any) -> None:
        """Lambda accepted an invocation: run the worker as AWS would (asynchronously)."""
        payload = json.loads(body)
        self.invocations.append(payload)
        handler = self.workers.get(function_name.rsplit(":", 1)[-1])
        if handler is None or headers.get("X-Amz-Invocation-Type") != "Event":
            return
        thread = threading.Thread(
            target=handler, args=(payload, None), name="worker-lambda", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _posted(self, connection_id: str, data: bytes) -> None:
        body = json.loads(data)
        self.frames.append(Frame(time.monotonic(), connection_id, body))


@contextmanager
def running_cloud() -> Iterator[Cloud]:
    """Start moto, the proxies and the fake model; create the template's resources; point
    boto3 at the proxies (environment); stop everything afterwards."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request lines
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    model = FakeModel()
    proxies = {
        name: FaultProxy(model.address if name == "bedrock" else (host, port), name)
        for name in DEPENDENCIES
    }
    cloud = Cloud(moto=moto, url=f"http://{host}:{port}", proxies=proxies, model=model)
    saved_lambda_config = default_user_config.get("lambda")
    original_invoke = LambdaSimpleBackend.invoke
    original_post = ApiGatewayManagementApiBackend.post_to_connection

    def invoke(backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any,
               response_headers: Any) -> Any:  # fmt: skip
        result = original_invoke(backend, function_name, qualifier, body, headers, response_headers)
        cloud._invoked(function_name, body, headers)
        return result

    def post(backend: Any, data: bytes, connection_id: str) -> None:
        original_post(backend, data, connection_id)
        cloud._posted(connection_id, data)

    try:
        with (
            pytest.MonkeyPatch.context() as env,
            mock.patch.object(LambdaSimpleBackend, "invoke", invoke),
            mock.patch.object(ApiGatewayManagementApiBackend, "post_to_connection", post),
        ):
            for name in CLEARED_ENV:
                env.delenv(name, raising=False)
            for name, value in FAKE_ENV.items():
                env.setenv(name, value)
            for service, variable in ENDPOINT_VARIABLES.items():
                env.setenv(variable, proxies[service].url)
            # moto's Lambda without Docker: Invoke answers, the function does not run.
            default_user_config["lambda"] = {"use_docker": False}
            _create_resources(cloud)
            yield cloud
    finally:
        if saved_lambda_config is None:
            default_user_config.pop("lambda", None)
        else:
            default_user_config["lambda"] = saved_lambda_config
        for proxy in proxies.values():
            proxy.close()
        model.close()
        moto.stop()


def _create_resources(cloud: Cloud) -> None:
    cloud.dynamodb = cloud.client("dynamodb")
    cloud.table = create_tables(cloud.dynamodb, TEMPLATE)["CallsTable"]
    secrets = cloud.client("secretsmanager")
    cloud.secret = secrets.create_secret(Name="aiflow-token", SecretString=TOKEN)["ARN"]
    iam = cloud.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName="worker", AssumeRolePolicyDocument=json.dumps(trust))
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("main.py", "def worker(event, context):\n    return None\n")
    cloud.client("lambda").create_function(
        FunctionName=WORKER,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="main.worker",
        Code={"ZipFile": code.getvalue()},
    )
