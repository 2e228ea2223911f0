"""``aiflow dev``: serve an assistant on loopback, with DynamoDB, a token and a one-line log.

The assistant runs behind the real Lambda handler (:func:`aiflow.lambda_.lambda_handler`)
through :class:`~aiflow.local.server.DevServer`. DynamoDB is, by choice:

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
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.markup import escape

from ..assistant import Assistant
from ..errors import AiflowError
from ..local.embedded import DevSetupError, EmbeddedDynamoDB, find_template, has_aws_credentials
from ..local.requestlog import RequestLog
from ..local.server import DevServer
from ..local.transports import load_object

DEFAULT_TARGET = "receptionist.app:assistant"
_CHILD_ENV = "AIFLOW_DEV_RELOADED"


@dataclass(frozen=True)
class DevOptions:
    """The options of ``aiflow dev`` (see ``aiflow dev --help``)."""

    target: str = DEFAULT_TARGET
    host: str = "127.0.0.1"
    port: int = 3000
    dynamodb: str = "embedded"
    table: str | None = None
    template: Path | None = None
    verbose: bool = False


def run_dev(options: DevOptions, console: Console) -> int:
    """Set up DynamoDB and the token, import the assistant, serve until Ctrl-C."""
    quiet_powertools(options.verbose)
    with ExitStack() as stack:
        try:
            storage = stack.enter_context(_dynamodb(options))
            generated = not os.environ.get("AIFLOW_API_TOKEN")
            token = os.environ.get("AIFLOW_API_TOKEN") or secrets.token_urlsafe(24)
            os.environ["AIFLOW_API_TOKEN"] = token  # a module-level lambda_handler reads it
            handler = build_handler(options.target)
            server = DevServer(
                handler,
                host=options.host,
                port=options.port,
                on_request=_printer(console),
                websocket=build_websocket_handler(options.target),
            )
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
        if os.environ.get(_CHILD_ENV):
            console.print(f"[dim]reloaded: serving {escape(options.target)} again[/]")
        else:
            _banner(console, options, server, storage, token, generated)
        if options.host not in ("127.0.0.1", "localhost", "::1"):
            console.print(f"[yellow]listening on {options.host}: reachable from other hosts[/]")
        _stop_on_sigterm()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            _ignore_further_signals()  # the ExitStack now stops the servers undisturbed
            console.print("\n[dim]stopping[/]")
    return 0


def build_handler(target: str) -> Any:
    """The Lambda handler for ``module:object``: an Assistant gets ``lambda_handler``
    exactly as deployed; any other callable is taken to be a Lambda handler already."""
    obj = load_object(target)
    if isinstance(obj, Assistant):
        from ..lambda_ import lambda_handler

        return lambda_handler(obj)
    if callable(obj):
        return obj
    raise DevSetupError(f"{target} is a {type(obj).__name__}, not an Assistant or a handler")


def build_websocket_handler(target: str) -> Any:
    """The WebSocket Lambda handler for ``module:object`` (``websocket_handler`` of an
    Assistant, as deployed), or None when the target is not an Assistant."""
    obj = load_object(target)
    if isinstance(obj, Assistant):
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
    """Where call records go, for the banner."""

    description: str
    table: str


@contextmanager
def _dynamodb(options: DevOptions) -> Iterator[Storage]:
    """Where call records go; sets the environment a module-level ``lambda_handler`` reads."""
    if options.dynamodb == "embedded":
        template = options.template or find_template()
        with EmbeddedDynamoDB(template) as db:
            os.environ.update(db.environment())
            yield Storage(f"embedded moto at {db.endpoint_url}", db.table_name())
        return
    if options.dynamodb == "endpoint":
        endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")
        if not endpoint:
            raise DevSetupError("--dynamodb endpoint needs AWS_ENDPOINT_URL_DYNAMODB")
        table = options.table or os.environ.get("AIFLOW_TABLE_NAME")
        if not table:
            table = _create_tables(endpoint, options.template or find_template())
        _use_table(table, fake_credentials=True)
        yield Storage(f"endpoint {endpoint}", table)
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
        yield Storage("AWS (your credentials)", table)
        return
    raise DevSetupError(f"--dynamodb must be embedded, endpoint or aws, not {options.dynamodb}")


def _use_table(table: str, *, fake_credentials: bool) -> None:
    os.environ["AIFLOW_TABLE_NAME"] = table
    if fake_credentials and not has_aws_credentials():
        os.environ["AWS_ACCESS_KEY_ID"] = "local"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "local"
    if not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        os.environ["AWS_DEFAULT_REGION"] = "eu-central-1"


def _create_tables(endpoint: str, template: Path) -> str:
    import boto3

    from ..local.embedded import CALLS_TABLE, LOCAL_CREDENTIALS
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
    return create_tables(client, template, prefix="aiflow-local-")[CALLS_TABLE]


def _printer(console: Console) -> Callable[[RequestLog], None]:
    def show(log: RequestLog) -> None:
        colour = "green" if log.status < 300 else "yellow" if log.status < 500 else "red"
        line = escape(log.line())
        status = str(log.status)
        line = line.replace(f" {status} ", f" [{colour}]{status}[/] ", 1)
        console.print(line, highlight=False, soft_wrap=True)

    return show


def _banner(
    console: Console,
    options: DevOptions,
    server: DevServer,
    storage: Storage,
    token: str,
    generated: bool,
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
    call_cmd = f"aiflow call {url}" + (f" --token {token}" if generated else "")
    console.print(f"[bold]aiflow dev[/] serving [bold]{escape(options.target)}[/]")
    console.print(f"  webhook   [bold]{url}[/]  (POST, API Gateway HTTP API v2 → Lambda handler)")
    if server.websocket is not None:
        console.print(
            f"  websocket [bold]{server.ws_url}[/]  (API Gateway WebSocket API → Lambda handler)"
        )
    console.print(f"  dynamodb  {escape(storage.description)}, table {escape(storage.table)}")
    console.print(f"  token     {escape(token if generated else '(set)')}  [dim]{token_note}[/]")
    console.print("  try it:")
    console.print(f"    {escape(call_cmd)}", highlight=False, soft_wrap=True)
    if server.websocket is not None:
        ws_cmd = f"aiflow call {server.ws_url}" + (f" --token {token}" if generated else "")
        console.print(f"    {escape(ws_cmd)}", highlight=False, soft_wrap=True)
    console.print(f"    {escape(curl)}", highlight=False, soft_wrap=True)
    console.print(
        "[dim]  one line per event: time, call, event, status, actions, latency. Ctrl-C stops.[/]"
    )


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


def run_reloader(argv: Sequence[str], options: DevOptions, console: Console) -> int:
    """Run ``aiflow dev`` in a child process and restart it when a source file changes.

    The token and the embedded DynamoDB live here, in the parent, so calls in progress
    keep their state across restarts.
    """
    quiet_powertools(options.verbose)
    env = dict(os.environ)
    env.setdefault("AIFLOW_API_TOKEN", secrets.token_urlsafe(24))
    child_args = [a for a in argv if a != "--reload"]
    if options.port == 0:  # every restart must come back on the same port
        child_args = [*_without_option(child_args, "--port"), "--port", str(_free_port(options))]
    with ExitStack() as stack:
        if options.dynamodb == "embedded":
            try:
                db = stack.enter_context(EmbeddedDynamoDB(options.template or find_template()))
            except DevSetupError as exc:
                console.print(f"[bold red]aiflow dev:[/] {escape(str(exc))}")
                return 1
            env.update(db.environment())
            child_args = [*_without_option(child_args, "--dynamodb"), "--dynamodb", "endpoint"]
        roots = _watch_roots(options.target)
        command = [sys.executable, "-m", "aiflow.dev.cli", *child_args]
        _stop_on_sigterm()
        first = True
        while True:
            child_env = env if first else {**env, _CHILD_ENV: "1"}
            child = subprocess.Popen(command, env=child_env)
            first = False
            snapshot = _mtimes(roots)
            try:
                while True:
                    time.sleep(0.5)
                    current = _mtimes(roots)
                    if current != snapshot:
                        changed = _changed(snapshot, current)
                        console.print(f"[dim]{escape(changed)} changed: restarting[/]")
                        break
            except KeyboardInterrupt:
                _terminate(child)
                return 0
            _terminate(child)


def _free_port(options: DevOptions) -> int:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in options.host else socket.AF_INET) as probe:
        probe.bind((options.host, 0))
        return int(probe.getsockname()[1])


def _without_option(args: list[str], name: str) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == name:
            skip = True
            continue
        if arg.startswith(name + "="):
            continue
        out.append(arg)
    return out


def _watch_roots(target: str) -> list[Path]:
    import importlib.util

    roots = [Path(__file__).resolve().parents[2]]  # functions/
    module = target.partition(":")[0]
    try:
        spec = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        for location in spec.submodule_search_locations or []:
            roots.append(Path(location).resolve())
        if spec.origin and spec.origin not in ("built-in", "frozen"):
            roots.append(Path(spec.origin).resolve().parent)
    return sorted(set(roots))


def _mtimes(roots: list[Path]) -> dict[Path, tuple[int, int]]:
    found: dict[Path, tuple[int, int]] = {}
    for root in roots:
        for path in root.rglob("*"):
            if "__pycache__" in path.parts or path.suffix not in (".py", ".yaml", ".yml", ".json"):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            found[path] = (stat.st_mtime_ns, stat.st_size)  # size: coarse mtime clocks
    return found


def _changed(before: dict[Path, tuple[int, int]], after: dict[Path, tuple[int, int]]) -> str:
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path):
            return str(path)
    return "a file"


def _terminate(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
