"""``aiflow dev``: serve an assistant on loopback, with DynamoDB, a token and a one-line log.

The assistant runs behind the real Lambda handler (:func:`aiflow.lambda_.lambda_handler`)
through :class:`~aiflow.local.server.DevServer`. Which assistant: the one named on the
command line, else the one ``template.yaml`` deploys (its ``Assistant`` parameter), imported
from the template's ``CodeUri`` folder as Lambda does. The URL and token go to
``.aiflow/dev.json`` (user-only) for ``aiflow call`` (see :mod:`aiflow.dev.state`), with
where the call records are for ``aiflow calls``: calls are recorded with ``--record`` or
``AIFLOW_RECORD_CALLS=true``, as in Lambda (:mod:`aiflow.records`). DynamoDB is, by choice:

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
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.markup import escape

from ..assistant import Assistant
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
from ..local.requestlog import RequestLog
from ..local.server import DevServer
from ..local.template import (
    ASSISTANT_ENV,
    code_directory,
    deployed_assistant,
    find_project_template,
)
from ..local.transports import load_object
from .state import DevState, project_dir, remove_state, write_state

RECORD_ENV = "AIFLOW_RECORD_CALLS"
_CHILD_ENV = "AIFLOW_DEV_RELOADED"
_NO_STATE_ENV = "AIFLOW_DEV_NO_STATE"  # the reloader's children: the parent writes it
# What --reload watches: sources and configuration, not what a call writes (transcripts).
WATCHED_SUFFIXES = frozenset({".py", ".yaml", ".yml", ".toml", ".env"})
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})


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
            handler = build_handler(target)
            server = DevServer(
                handler,
                host=options.host,
                port=options.port,
                on_request=_printer(console),
                websocket=build_websocket_handler(target),
                console=CallConsole(handler, token=token),
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


def run_reloader(argv: Sequence[str], options: DevOptions, console: Console) -> int:
    """Run ``aiflow dev`` in a child process and restart it when a source file changes.

    The token and the embedded DynamoDB live here, in the parent, so calls in progress
    keep their state across restarts.
    """
    quiet_powertools(options.verbose)
    try:
        target, template = resolve_target(options.target, options.template)
    except (AiflowError, ImportError) as exc:
        console.print(f"[bold red]aiflow dev:[/] {escape(str(exc))}")
        return 1
    env = dict(os.environ)
    env.setdefault("AIFLOW_API_TOKEN", secrets.token_urlsafe(24))
    if options.record:
        env[RECORD_ENV] = "true"
    env[_NO_STATE_ENV] = "1"  # this process shares URL and token, for every restart
    child_args = [a for a in argv if a != "--reload"]
    port = options.port
    if port == 0:  # every restart must come back on the same port
        port = _free_port(options)
        child_args = [*_without_option(child_args, "--port"), "--port", str(port)]
    with ExitStack() as stack:
        if options.dynamodb == "embedded":
            try:
                db = stack.enter_context(EmbeddedDynamoDB(options.template or find_template()))
            except DevSetupError as exc:
                console.print(f"[bold red]aiflow dev:[/] {escape(str(exc))}")
                return 1
            env.update(db.environment())
            child_args = [*_without_option(child_args, "--dynamodb"), "--dynamodb", "endpoint"]
        host = f"[{options.host}]" if ":" in options.host else options.host
        recording = env.get(RECORD_ENV, "").lower() in ("1", "true", "yes", "on")
        state = DevState(
            f"http://{host}:{port}/webhook",
            f"ws://{host}:{port}/ws",
            env["AIFLOW_API_TOKEN"],
            os.getpid(),
            target,
            dynamodb_endpoint=env.get("AWS_ENDPOINT_URL_DYNAMODB") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "eu-central-1",
            calls_table=env.get("AIFLOW_TABLE_NAME") or None,
            records_table=(env.get("AIFLOW_RECORDS_TABLE") or None) if recording else None,
        )
        project = project_dir(template.parent if template is not None else None)
        with suppress(OSError):
            write_state(state, project)
            stack.callback(remove_state, state.pid, project)
        roots = _watch_roots(target, template)
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


def _watch_roots(target: str, template: Path | None) -> list[Path]:
    """The assistant's own code, the template's CodeUri folder, and aiflow itself when it
    is a source checkout (never an installed site-packages: too big to scan, never edited)."""
    import importlib.util

    roots = [Path(__file__).resolve().parents[2]]  # functions/ of a checkout
    if template is not None:
        roots.append(template.parent)  # template.yaml, samconfig.toml, .env
        with suppress(AiflowError):
            roots.append(code_directory(template))
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
    installed = ("site-packages", "dist-packages")
    return sorted({root for root in roots if not set(root.parts) & set(installed)})


def watched(path: Path) -> bool:
    """Whether a change of ``path`` restarts ``aiflow dev --reload``: Python and
    configuration sources; not JSON (transcripts ``aiflow call`` writes, compiled copies)."""
    return path.suffix in WATCHED_SUFFIXES or path.name == ".env"


def _mtimes(roots: list[Path]) -> dict[Path, tuple[int, int]]:
    found: dict[Path, tuple[int, int]] = {}
    for root in roots:
        for path in _walk(root):
            if not watched(path):
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            found[path] = (stat.st_mtime_ns, stat.st_size)  # size: coarse mtime clocks
    return found


def _walk(root: Path) -> Iterator[Path]:
    """Every file under ``root``, not descending into virtualenvs, caches or build output."""
    for folder, folders, files in os.walk(root):
        folders[:] = [name for name in folders if not _skipped(name)]
        for name in files:
            yield Path(folder) / name


def _skipped(folder: str) -> bool:
    # Virtualenvs, caches, .aws-sam, .aiflow, .git: all hidden; plus bytecode and node_modules.
    return folder.startswith(".") and folder not in (".", "..") or folder in _SKIPPED_DIRS


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
