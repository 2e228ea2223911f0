"""``aiflow dev``: serve an assistant on loopback, with DynamoDB, a token and a one-line log.

The assistant runs behind the real Lambda handler (:func:`aiflow.lambda_.lambda_handler`)
through :class:`~aiflow.local.server.DevServer`; a turn that outruns its budget is finished
by the worker entry point in a background thread (:class:`aiflow.deadline.ThreadDeferrer`),
as the deployed worker function would. Which assistant: the one (or the
:class:`~aiflow.routing.Router`) named on the command line, else the one ``template.yaml``
deploys (its ``Assistant`` parameter), imported from the template's ``CodeUri`` folder as
Lambda does. When the caller hears the fallback, the event's line says why, and a handler's
exception is printed with its traceback (only here: in Lambda, logs stay redacted; see
:mod:`aiflow.dev.eventlog`). The URL and token go to ``.aiflow/dev.json`` (user-only) for
``aiflow call`` (see :mod:`aiflow.dev.state`), with where the call records are for ``aiflow
calls``: calls are recorded with ``--record`` or ``AIFLOW_RECORD_CALLS=true``, as in Lambda
(:mod:`aiflow.records`). DynamoDB is, by choice:

- ``embedded`` (default): moto's server on loopback in this process, with the tables of
  ``template.yaml``;
- ``endpoint``: ``AWS_ENDPOINT_URL_DYNAMODB`` (e.g. DynamoDB Local), tables created from the
  template unless ``AIFLOW_TABLE_NAME`` names one;
- ``aws``: the real service with your credentials and ``AIFLOW_TABLE_NAME`` (or ``--table``).
"""

from __future__ import annotations

import errno
import os
import secrets
import shlex
import signal
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.markup import escape

from ..assistant import Assistant
from ..deadline import ThreadDeferrer
from ..errors import AiflowError
from ..local.console import CallConsole
from ..local.embedded import (
    CALLS_TABLE,
    RECORDS_TABLE,
    DevSetupError,
    EmbeddedDynamoDB,
    find_template,
    has_aws_credentials,
)
from ..local.gateway import LocalContext
from ..local.server import DevServer
from ..local.template import (
    ASSISTANT_ENV,
    code_directory,
    deployed_assistant,
    find_project_template,
)
from ..local.transports import load_object
from ..routing import Router
from .eventlog import TurnReports, printer
from .state import DevState, project_dir, remove_state, write_state

RECORD_ENV = "AIFLOW_RECORD_CALLS"
_CHILD_ENV = "AIFLOW_DEV_RELOADED"
_NO_STATE_ENV = "AIFLOW_DEV_NO_STATE"  # the reloader's children: the parent writes it


@dataclass(frozen=True)
class DevOptions:
    """The options of ``aiflow dev`` (see ``aiflow dev --help``)."""

    target: str | None = None  # None: the template's Assistant
    host: str = "127.0.0.1"
    port: int = 3000
    dynamodb: str = "embedded"
    table: str | None = None
    template: Path | None = None
    verbose: bool = False
    record: bool = False


def resolve_target(target: str | None, template: Path | None = None) -> tuple[str, Path | None]:
    """The ``module:object`` to serve and the project's template.

    ``target`` None means the template's ``Assistant`` (what deploying would run). The
    template's ``CodeUri`` folder goes on ``sys.path``, as Lambda has it, and
    ``AIFLOW_ASSISTANT`` is set like the template sets it.
    """
    found = template or find_project_template()
    if target is None:
        found = found or find_template()  # the checkout's, else a DevSetupError
        target = deployed_assistant(found)
    if found is not None:
        with suppress(AiflowError):
            code = str(code_directory(found))
            if code not in sys.path:
                sys.path.insert(0, code)
    os.environ[ASSISTANT_ENV] = target
    return target, found


def run_dev(options: DevOptions, console: Console) -> int:
    """Set up DynamoDB and the token, import the assistant, serve until Ctrl-C."""
    quiet_powertools(options.verbose)
    with ExitStack() as stack:
        try:
            target, template = resolve_target(options.target, options.template)
            options = replace(options, target=target, template=options.template or template)
            if options.record:
                os.environ[RECORD_ENV] = "true"  # read by Settings, as in Lambda
            storage = stack.enter_context(_dynamodb(options))
            generated = not os.environ.get("AIFLOW_API_TOKEN")
            token = os.environ.get("AIFLOW_API_TOKEN") or secrets.token_urlsafe(24)
            os.environ["AIFLOW_API_TOKEN"] = token  # a module-level lambda_handler reads it
            server = dev_server(target, options, console, token)
        except OSError as exc:
            problem = str(exc)
            if exc.errno == errno.EADDRINUSE:
                problem = f"port {options.port} on {options.host} is in use; choose --port"
            console.print(f"[bold red]aiflow dev:[/] {escape(problem)}")
            return 1
        except (AiflowError, ImportError) as exc:
            console.print(f"[bold red]aiflow dev:[/] {escape(str(exc))}")
            return 1
        stack.callback(server.stop)
        shared = False
        if not os.environ.get(_NO_STATE_ENV):
            shared = _share(stack, console, server, token, target, template, storage)
        if os.environ.get(_CHILD_ENV):
            console.print(f"[dim]reloaded: serving {escape(target)} again[/]")
        else:
            _banner(console, options, server, storage, token, generated, shared)
        if options.host not in ("127.0.0.1", "localhost", "::1"):
            console.print(f"[yellow]listening on {options.host}: reachable from other hosts[/]")
        _stop_on_sigterm()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            _ignore_further_signals()  # the ExitStack now stops the servers undisturbed
            console.print("\n[dim]stopping[/]")
    return 0


def _share(
    stack: ExitStack,
    console: Console,
    server: DevServer,
    token: str,
    target: str,
    template: Path | None,
    storage: Storage,
) -> bool:
    """Write ``.aiflow/dev.json`` for ``aiflow call`` and ``aiflow calls`` (removed on
    exit); False if we cannot."""
    project = project_dir(template.parent if template is not None else None)
    ws_url = server.ws_url if server.websocket is not None else None
    state = DevState(
        server.webhook_url,
        ws_url,
        token,
        os.getpid(),
        target,
        **storage.shared(),
    )
    try:
        write_state(state, project)
    except OSError as exc:
        console.print(f"[yellow]cannot write {project}/.aiflow/dev.json: {exc.strerror}[/]")
        return False
    stack.callback(remove_state, state.pid, project)
    return True


def dev_server(
    target: str, options: DevOptions, console: Console, token: str | None = None
) -> DevServer:
    """The dev server for ``module:object`` (not started): the webhook with its worker
    thread, the WebSocket API, the browser console, and a line per event on ``console``."""
    handler = build_handler(target)
    websocket = build_websocket_handler(target)
    reports = TurnReports(console)
    for entry in (handler, websocket):
        reports.watch(entry)
    reports.watch_worker(getattr(handler, "worker", None))
    return DevServer(
        handler,
        host=options.host,
        port=options.port,
        on_request=printer(console, reports),
        websocket=websocket,
        console=CallConsole(handler, token=token),
    )


WORKER_TIMEOUT_MS = 900_000  # the worker function's timeout in template.yaml


def build_handler(target: str) -> Any:
    """The Lambda handler for ``module:object``: an Assistant or a Router gets
    ``lambda_handler`` exactly as deployed, with the worker entry point run in a background
    thread for slow turns (``handler.worker``); any other callable is taken to be a Lambda
    handler already."""
    obj = load_object(target)
    if isinstance(obj, Assistant | Router):
        from ..lambda_ import Settings, lambda_handler, worker_handler
        from ..lambda_.wiring import default_store

        store = default_store(Settings.from_env())  # one store: the worker finds the marker
        worker = worker_handler(obj, store=store)

        def finish(payload: dict[str, Any]) -> Any:
            return worker(
                payload, LocalContext("aiflow-local-worker", timeout_ms=WORKER_TIMEOUT_MS)
            )

        handler = lambda_handler(obj, store=store, deferrer=ThreadDeferrer(finish))
        handler.worker = worker  # type: ignore[attr-defined]  # its reports, for the log
        return handler
    if callable(obj):
        return obj
    raise DevSetupError(
        f"{target} is a {type(obj).__name__}, not an Assistant, a Router or a handler"
    )


def build_websocket_handler(target: str) -> Any:
    """The WebSocket Lambda handler for ``module:object`` (``websocket_handler`` of an
    Assistant or Router, as deployed), or None when the target is neither."""
    obj = load_object(target)
    if isinstance(obj, Assistant | Router):
        from ..lambda_ import websocket_handler

        return websocket_handler(obj)
    return None


def quiet_powertools(verbose: bool) -> None:
    """Keep Powertools' JSON logs and EMF metrics out of the one-line log (unless verbose).

    Warnings (a failing handler, the fallback) still print.
    """
    if verbose:
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")
        return
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")


@dataclass(frozen=True)
class Storage:
    """Where call state (and records) go, for the banner and ``.aiflow/dev.json``."""

    description: str
    table: str
    endpoint: str | None = None
    records_table: str | None = None

    def shared(self) -> dict[str, str | None]:
        """The DevState fields ``aiflow calls`` reads (records only when they are written)."""
        recording = recording_on()
        return {
            "dynamodb_endpoint": self.endpoint,
            "region": _region(),
            "calls_table": self.table,
            "records_table": self.records_table if recording else None,
        }


def recording_on() -> bool:
    """Whether calls are recorded (``AIFLOW_RECORD_CALLS``, set by ``--record``)."""
    return os.environ.get(RECORD_ENV, "").lower() in ("1", "true", "yes", "on")


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-central-1"


@contextmanager
def _dynamodb(options: DevOptions) -> Iterator[Storage]:
    """Where call records go; sets the environment a module-level ``lambda_handler`` reads."""
    if options.dynamodb == "embedded":
        template = options.template or find_template()
        with EmbeddedDynamoDB(template) as db:
            os.environ.update(db.environment())
            records = db.tables.get(RECORDS_TABLE)
            yield Storage(
                f"embedded moto at {db.endpoint_url}", db.table_name(), db.endpoint_url, records
            )
        return
    if options.dynamodb == "endpoint":
        endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        if not endpoint:
            raise DevSetupError("--dynamodb endpoint needs AWS_ENDPOINT_URL_DYNAMODB")
        table = options.table or os.environ.get("AIFLOW_TABLE_NAME")
        if not table:
            tables = _create_tables(endpoint, options.template or find_template())
            table = tables[CALLS_TABLE]
            if RECORDS_TABLE in tables:
                os.environ.setdefault("AIFLOW_RECORDS_TABLE", tables[RECORDS_TABLE])
        _use_table(table, fake_credentials=True)
        records = os.environ.get("AIFLOW_RECORDS_TABLE") or None
        yield Storage(f"endpoint {endpoint}", table, endpoint, records)
        return
    if options.dynamodb == "aws":
        table = options.table or os.environ.get("AIFLOW_TABLE_NAME")
        if not table:
            raise DevSetupError(
                "--dynamodb aws needs the table: --table NAME or AIFLOW_TABLE_NAME "
                "(the deployed stack's CallsTable)"
            )
        if not has_aws_credentials():
            raise DevSetupError("--dynamodb aws needs AWS credentials (env or ~/.aws)")
        _use_table(table, fake_credentials=False)
        records = os.environ.get("AIFLOW_RECORDS_TABLE") or None
        yield Storage("AWS (your credentials)", table, None, records)
        return
    raise DevSetupError(f"--dynamodb must be embedded, endpoint or aws, not {options.dynamodb}")


def _use_table(table: str, *, fake_credentials: bool) -> None:
    os.environ["AIFLOW_TABLE_NAME"] = table
    if fake_credentials and not has_aws_credentials():
        os.environ["AWS_ACCESS_KEY_ID"] = "local"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "local"
    if not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        os.environ["AWS_DEFAULT_REGION"] = "eu-central-1"


def _create_tables(endpoint: str, template: Path) -> dict[str, str]:
    import boto3

    from ..local.embedded import LOCAL_CREDENTIALS
    from ..local.template import create_tables

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-central-1"
    if has_aws_credentials():
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=region)
    else:
        client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name=region,
            aws_access_key_id=LOCAL_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=LOCAL_CREDENTIALS["aws_secret_access_key"],
        )
    # Existing tables are reused, so a restarted dev server finds its calls again.
    return create_tables(client, template, prefix="aiflow-local-")


def _banner(
    console: Console,
    options: DevOptions,
    server: DevServer,
    storage: Storage,
    token: str,
    generated: bool,
    shared: bool,
) -> None:
    url = server.webhook_url
    example = (
        '{"type":"session_start","session":{"id":"'
        + str(uuid.uuid4())
        + '","account_id":"local","phone_number":"+4921198765400",'
        '"from_phone_number":"+4917612345678","to_phone_number":"+4921198765400"}}'
    )
    header = (
        shlex.quote(f"X-API-TOKEN: {token}") if generated else '"X-API-TOKEN: $AIFLOW_API_TOKEN"'
    )
    curl = (
        f"curl -sS -i {url} -H 'Content-Type: application/json' \\\n"
        f"       -H {header} \\\n       -d {shlex.quote(example)}"
    )
    token_note = (
        "generated; set AIFLOW_API_TOKEN to choose one" if generated else "from AIFLOW_API_TOKEN"
    )
    # With the state file, `aiflow call` in this project finds the token (and URL) by itself.
    call_cmd = f"aiflow call {url}"
    if generated and not shared:
        call_cmd += f" --token {token}"
    console.print(f"[bold]aiflow dev[/] serving [bold]{escape(str(options.target))}[/]")
    console.print(f"  webhook   [bold]{url}[/]  (POST, API Gateway HTTP API v2 → Lambda handler)")
    if server.websocket is not None:
        console.print(
            f"  websocket [bold]{server.ws_url}[/]  (API Gateway WebSocket API → Lambda handler)"
        )
    console.print(f"  dynamodb  {escape(storage.description)}, table {escape(storage.table)}")
    console.print(f"  console   [bold]{console_url(server)}[/]  (hold a call in your browser)")
    if recording_on():
        where = f"table {storage.records_table}" if storage.records_table else "in memory"
        console.print(f"  records   on ({escape(where)}): aiflow calls list · show ID")
    else:
        console.print(
            "  records   off [dim](aiflow dev --record keeps a transcript of each call)[/]"
        )
    console.print(f"  token     {escape(token if generated else '(set)')}  [dim]{token_note}[/]")
    console.print("  try it:")
    console.print(f"    {escape(call_cmd)}", highlight=False, soft_wrap=True)
    if server.websocket is not None:
        ws_cmd = f"aiflow call {server.ws_url}"
        if generated and not shared:
            ws_cmd += f" --token {token}"
        console.print(f"    {escape(ws_cmd)}", highlight=False, soft_wrap=True)
    console.print(f"    {escape(curl)}", highlight=False, soft_wrap=True)
    console.print(
        "[dim]  one line per event: time, call, event, status, actions, latency. Ctrl-C stops.[/]"
    )


def console_url(server: DevServer) -> str:
    """Where the browser console opens: the server's URL, by loopback when it listens on
    every address (the console answers this machine only)."""
    if server.host in ("0.0.0.0", "::"):
        loopback = "[::1]" if server.host == "::" else "127.0.0.1"
        return f"http://{loopback}:{server.port}/"
    return f"{server.url}/"


def _ignore_further_signals() -> None:
    # A second Ctrl-C or SIGTERM (make and timeout both forward one) must not interrupt the
    # shutdown of the servers with a traceback.
    for name in ("SIGINT", "SIGTERM"):
        try:
            signal.signal(getattr(signal, name), signal.SIG_IGN)
        except (AttributeError, ValueError):
            pass  # no such signal here, or not the main thread (tests)


def _stop_on_sigterm() -> None:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if hasattr(signal, "SIGTERM"):
        try:
            signal.signal(signal.SIGTERM, stop)
        except ValueError:
            pass  # not the main thread (e.g. tests); stop() is called directly there


# --- reload -------------------------------------------------------------------------------
