"""``aiflow invoke EVENT.json``: one event through a deployed entry point, without Docker.

The stand-in for ``sam local invoke -e EVENT.json``: it runs the function's ``Handler`` from
``template.yaml`` with the function's environment as the template sets it, overlaid with
``infra/env/local.json`` exactly as ``sam local --env-vars`` does (only declared variables),
against an embedded DynamoDB with the template's tables (or ``--dynamodb endpoint|aws``), and
prints the status, headers and body the client would get.

The event may be an API Gateway event (``infra/events/*.json``, or the output of ``sam local
generate-event apigateway http-api-proxy``, base64 body included), a WebSocket API event, the
worker's payload, or a bare AI Flow event (``{"type": "session_start", ...}``), which is sent
as the platform sends it: a ``POST /webhook`` with the token, or over a new WebSocket
connection (``$connect``, then the event as a ``$default`` message).
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import os
import sys
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AiflowError
from ..local.embedded import DevSetupError, EmbeddedDynamoDB, find_template
from ..local.gateway import LocalContext, http_api_event, lambda_response
from ..local.template import LocatedFunction, locate_function
from ..local.websocket import websocket_event

if TYPE_CHECKING:
    from rich.console import Console

FUNCTIONS = {
    "webhook": "WebhookFunction",
    "worker": "WorkerFunction",
    "websocket": "WebSocketFunction",
}
DEFAULT_ENV_VARS = Path("infra") / "env" / "local.json"
LOCAL_TOKEN = "local-dev-token-0123"


def add_parser(commands: Any) -> None:
    """The ``invoke`` subcommand."""
    parser = commands.add_parser(
        "invoke",
        help="run one event through a deployed entry point (sam local invoke, no Docker)",
        description="Run EVENT through the function's Handler of template.yaml, with the "
        "template's environment plus infra/env/local.json (as sam local --env-vars), against "
        "an embedded DynamoDB. EVENT: an API Gateway event (infra/events/, sam local "
        "generate-event apigateway http-api-proxy), a WebSocket API event, the worker's "
        "payload, or a bare AI Flow event. '-' reads stdin.",
    )
    parser.add_argument("event", help="the event JSON file ('-': stdin)")
    parser.add_argument(
        "--function",
        "-f",
        choices=sorted(FUNCTIONS),
        default="webhook",
        help="which function (default: %(default)s)",
    )
    parser.add_argument(
        "--dynamodb",
        choices=["embedded", "endpoint", "aws"],
        default="embedded",
        help="embedded: moto in this process (default); endpoint: AWS_ENDPOINT_URL_DYNAMODB; "
        "aws: the real service with your credentials and --table",
    )
    parser.add_argument("--table", help="table name for --dynamodb endpoint|aws")
    parser.add_argument("--template", type=Path, help="the template (default: template.yaml)")
    parser.add_argument(
        "--env-vars",
        type=Path,
        help=f"environment overrides as for sam local (default: {DEFAULT_ENV_VARS} if present)",
    )
    parser.add_argument("--raw", action="store_true", help="print the handler's return value")
    parser.add_argument("-v", "--verbose", action="store_true", help="show Powertools' logs")


def run(args: argparse.Namespace) -> int:
    """Run ``aiflow invoke``; 0 when the handler answered, 1 when it raised, 2 on bad input."""
    from rich.console import Console  # the `local` extra, like everything `aiflow` runs

    from .run import quiet_powertools

    console = Console(soft_wrap=True)
    quiet_powertools(args.verbose)
    try:
        event = _read_event(args.event)
        template = args.template or find_template()
        function = locate_function(template, FUNCTIONS[args.function])
        env_file = args.env_vars or _default_env_file(template)
        overrides = _env_overrides(env_file, function.logical_id) if env_file else {}
    except (AiflowError, OSError, ValueError) as exc:
        console.print(f"[bold red]aiflow invoke:[/] {_escape(str(exc))}")
        return 2
    with ExitStack() as stack:
        try:
            storage = _dynamodb(stack, args, template)
            environment = _environment(function, overrides)
            os.environ.update(environment)
            if not args.verbose:  # the env file asks for DEBUG logs; show them with -v
                os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
            handler = _load_handler(function)
        except (AiflowError, ImportError) as exc:
            console.print(f"[bold red]aiflow invoke:[/] {_escape(str(exc))}")
            return 1
        handler_name = function.value("Handler")
        where = f"{function.logical_id}  {handler_name}"
        assistant = environment.get("AIFLOW_ASSISTANT")
        console.print(
            f"[dim]{_escape(where)}"
            + (f"  (AIFLOW_ASSISTANT={_escape(assistant)})" if assistant else "")
            + f", DynamoDB: {_escape(storage)}[/]",
            highlight=False,
        )
        context = _context(function)
        try:
            if args.function == "websocket":
                return _websocket(console, handler, event, environment, context, args.raw)
            if args.function == "webhook" and "requestContext" not in event:
                event = _webhook_event(event, environment)
            result = handler(event, context)
        except Exception as exc:
            console.print(f"[bold red]the handler raised {type(exc).__name__}:[/] {exc}")
            return 1
        finally:
            _clear_metrics()
        _print_result(console, result, http=args.function == "webhook", raw=args.raw)
    return 0


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _read_event(source: str) -> dict[str, Any]:
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    try:
        event = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{source} is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise ValueError(f"{source} must hold one JSON object (an event)")
    return event


def _default_env_file(template: Path) -> Path | None:
    candidate = template.parent / DEFAULT_ENV_VARS
    return candidate if candidate.is_file() else None


def _env_overrides(path: Path, logical_id: str) -> dict[str, str]:
    """``sam local --env-vars`` semantics: ``Parameters`` for every function, then the
    function's own section."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object of sections (Parameters, <LogicalId>)")
    merged: dict[str, str] = {}
    for section in ("Parameters", logical_id):
        values = data.get(section) or {}
        merged.update({str(k): str(v) for k, v in values.items()})
    return merged


def _dynamodb(stack: ExitStack, args: argparse.Namespace, template: Path) -> str:
    """Point the process at a DynamoDB; returns its description."""
    if args.dynamodb == "embedded":
        # A table of its own per invocation: moto keeps data per process, and a sample's
        # call ended by an earlier invocation would answer nothing (ended calls get 204).
        prefix = f"aiflow-invoke-{uuid.uuid4().hex[:8]}-"
        db = stack.enter_context(EmbeddedDynamoDB(template, prefix=prefix))
        os.environ.update(db.environment())
        return f"embedded moto, table {db.table_name()}"
    table = args.table or os.environ.get("AIFLOW_TABLE_NAME")
    if not table:
        raise DevSetupError(f"--dynamodb {args.dynamodb} needs --table NAME (or AIFLOW_TABLE_NAME)")
    os.environ["AIFLOW_TABLE_NAME"] = table
    if args.dynamodb == "endpoint":
        endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        if not endpoint:
            raise DevSetupError("--dynamodb endpoint needs AWS_ENDPOINT_URL_DYNAMODB")
        return f"{endpoint}, table {table}"
    return f"AWS (your credentials), table {table}"


def _environment(function: LocatedFunction, overrides: dict[str, str]) -> dict[str, str]:
    """The template's variables, then the overrides of declared ones, then the table."""
    environment = function.environment()
    for name, value in overrides.items():
        if name in environment:  # sam local sets declared variables only
            environment[name] = value
    if "AIFLOW_TABLE_NAME" in environment:
        environment["AIFLOW_TABLE_NAME"] = os.environ.get("AIFLOW_TABLE_NAME", "")
    if "AIFLOW_API_TOKEN" in environment and not environment["AIFLOW_API_TOKEN"]:
        if not environment.get("AIFLOW_TOKEN_SECRET"):
            # No secret here and no token in the env file: infra/env/local.json's, which the
            # sample events of infra/events carry.
            environment["AIFLOW_API_TOKEN"] = LOCAL_TOKEN
    return environment


def _load_handler(function: LocatedFunction) -> Any:
    handler = function.value("Handler")
    if not isinstance(handler, str) or "." not in handler:
        raise DevSetupError(f"{function.logical_id} has no Handler module.attribute: {handler!r}")
    code = str(function.code_directory())
    if code not in sys.path:
        sys.path.insert(0, code)  # /var/task
    module_name, _, attribute = handler.rpartition(".")
    module = importlib.import_module(module_name)
    if hasattr(module, "__getattr__"):
        # Built lazily on first access (aiflow.lambda_.main) and kept, as in one Lambda
        # instance; this invocation's environment (table, assistant) gets a fresh one.
        vars(module).pop(attribute, None)
    entry = getattr(module, attribute, None)
    if not callable(entry):
        raise DevSetupError(f"{handler} is not a callable in {module_name}")
    return entry


def _context(function: LocatedFunction) -> LocalContext:
    timeout = function.value("Timeout")
    memory = function.value("MemorySize")
    return LocalContext(
        function_name=function.logical_id,
        timeout_ms=int(float(timeout) * 1000) if timeout is not None else 3000,
        memory_limit_in_mb=int(memory) if memory is not None else 128,
    )


def _webhook_event(event: dict[str, Any], environment: dict[str, str]) -> dict[str, Any]:
    """A bare AI Flow event as the platform posts it."""
    headers = {
        "Content-Type": "application/json",
        "X-API-TOKEN": environment.get("AIFLOW_API_TOKEN", ""),
        "User-Agent": "aiflow-invoke",
    }
    body = json.dumps(event, ensure_ascii=False).encode("utf-8")
    return http_api_event("POST", "/webhook", headers, body)


def _websocket(
    console: Console,
    handler: Any,
    event: dict[str, Any],
    environment: dict[str, str],
    context: LocalContext,
    raw: bool,
) -> int:
    """WebSocket API events as they are, or a bare AI Flow event over a new connection."""
    frames: list[str] = []
    handler.sender_for = lambda request: frames.append  # PostToConnection, collected
    if "http" in (event.get("requestContext") or {}):  # an HTTP API event: its AI Flow event
        event = json.loads(_http_body(event))
    if "requestContext" in event:
        steps = [event]
    else:
        connection = uuid.uuid4().hex[:16]
        token = {"X-API-TOKEN": environment.get("AIFLOW_API_TOKEN", "")}
        body = json.dumps(event, ensure_ascii=False)
        steps = [
            websocket_event("$connect", connection, headers=token),
            websocket_event("$default", connection, body=body),
        ]
    for step in steps:
        route = step.get("requestContext", {}).get("routeKey", "?")
        result = handler(step, context)
        status = result.get("statusCode") if isinstance(result, dict) else None
        console.print(f"[bold]{_escape(str(route))}[/] -> {status}", highlight=False)
        if raw:
            print(json.dumps(result, indent=2, ensure_ascii=False))
        if status not in (200, None):
            console.print(_escape(str(result.get("body") or "")), highlight=False)
            return 0
    for frame in frames:
        console.print("[green]frame[/]", highlight=False)
        print(_pretty(frame))
    if not frames:
        console.print("[dim](no frame sent)[/]")
    return 0


def _clear_metrics() -> None:
    # With POWERTOOLS_METRICS_DISABLED (quiet mode) Powertools keeps its process-wide metric
    # set; another invocation in this process must start afresh.
    from aws_lambda_powertools import Metrics

    Metrics().clear_metrics()


def _http_body(event: dict[str, Any]) -> str:
    body = str(event.get("body") or "")
    if event.get("isBase64Encoded"):
        return base64.b64decode(body).decode("utf-8")
    return body


def _print_result(console: Console, result: Any, *, http: bool, raw: bool) -> None:
    if raw or not http:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    response = lambda_response(result)
    colour = "green" if response.status < 300 else "yellow" if response.status < 500 else "red"
    console.print(f"[bold {colour}]HTTP {response.status}[/]", highlight=False)
    for name, value in response.headers.items():
        console.print(f"{_escape(name)}: {_escape(value)}", highlight=False)
    if response.body:
        print()
        print(_pretty(response.text))


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text
