"""The ``aiflow`` command: ``aiflow new`` (a project of your own), ``aiflow dev`` (local
webhook), ``aiflow call`` (a phone call in the terminal) and ``aiflow invoke`` (one event
through a deployed entry point, like ``sam local invoke``, without Docker).

    aiflow new pizza [--template minimal|receptionist|bedrock]
    aiflow dev                                   # the template's assistant on :3000
    aiflow dev tests.examples.hello:assistant --port 3001 --reload
    aiflow call                                  # talk to the dev server (its token: .aiflow/)
    aiflow call --ws                             # ... over its WebSocket (ws://127.0.0.1:3000/ws)
    aiflow call https://abc.execute-api.eu-central-1.amazonaws.com/webhook --token ...
    aiflow call --script caller.txt --transcript call.json
    aiflow call --to +4921198765499             # another AI Flow number (a Router's route)
    aiflow dial --flow FLOW_ID --to +4915790000687 --device e2   # an outbound call
    aiflow invoke infra/events/session_start.json [--function webhook|worker|websocket]
    aiflow dev --record; aiflow calls list; aiflow calls show ID   # call records
    aiflow calls list --stack my-stack --since 2h                  # ... of a deployed stack
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..testing.simulator import CallOptions, CallSimulator
from . import calls, dial, invoke, scaffold

DEV_URL = "http://127.0.0.1:3000/webhook"
DEV_WS_URL = "ws://127.0.0.1:3000/ws"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aiflow`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    # Like `python -m`, make modules in the working directory importable (tests.examples...).
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if args.command == "new":
        return scaffold.run(args)
    try:
        if args.command == "dev":
            return _dev(args, args_list)
        if args.command == "invoke":
            return invoke.run(args)
        if args.command == "dial":
            return dial.run(args)
        if args.command == "calls":
            return calls.run(args)
        return _call(args)
    except ModuleNotFoundError as exc:
        if exc.name not in ("rich", "moto", "websockets"):
            raise
        print(
            f"aiflow {args.command} needs the local extra ({exc.name} is missing): "
            "pip install 'aiflow-serverless[local]'",
            file=sys.stderr,
        )
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiflow", description="Local development for sipgate AI Flow assistants."
    )
    commands = parser.add_subparsers(dest="command", metavar="{new,dev,call,calls,invoke,dial}")
    scaffold.add_parser(commands)

    dev = commands.add_parser(
        "dev",
        help="serve an assistant on loopback, as API Gateway + Lambda would",
        description="Serve an assistant at http://HOST:PORT/webhook through its real Lambda "
        "handler, with DynamoDB (embedded moto by default).",
    )
    dev.add_argument(
        "target",
        nargs="?",
        default=None,
        help="module:object, an Assistant or a Lambda handler (default: the Assistant "
        "parameter of template.yaml, what deploying runs)",
    )
    dev.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    dev.add_argument("--port", type=int, default=3000, help="0 picks a free port (default: 3000)")
    dev.add_argument(
        "--dynamodb",
        choices=["embedded", "endpoint", "aws"],
        default="embedded",
        help="embedded: moto in this process (default); endpoint: AWS_ENDPOINT_URL_DYNAMODB; "
        "aws: the real service with your credentials",
    )
    dev.add_argument("--table", help="table name for --dynamodb endpoint|aws")
    dev.add_argument("--template", type=Path, help="template.yaml with the table definitions")
    dev.add_argument("--reload", action="store_true", help="restart when a source file changes")
    dev.add_argument(
        "--record",
        action="store_true",
        help="keep a record of each call (as AIFLOW_RECORD_CALLS=true): aiflow calls list",
    )
    dev.add_argument("-v", "--verbose", action="store_true", help="show Powertools' JSON logs")

    call = commands.add_parser(
        "call",
        help="a phone call in the terminal against a webhook",
        description="Call a webhook as the sipgate platform would, typing what the caller "
        "says. Lines: text = speech, #12 = keys, /silence, /interrupt TEXT, /send JSON, "
        "/hangup.",
    )
    call.add_argument(
        "url",
        nargs="?",
        default=None,
        help="webhook URL, or module:object to call an assistant in process (default: the "
        f"project's running aiflow dev, else {DEV_URL})",
    )
    call.add_argument(
        "--token",
        help="X-API-TOKEN (default: $AIFLOW_API_TOKEN, else the token of this project's "
        "running aiflow dev)",
    )
    call.add_argument(
        "--from",
        "--caller",
        dest="caller",
        default="+4917612345678",
        help="the caller's number (default: %(default)s)",
    )
    call.add_argument(
        "--to",
        "--called",
        dest="called",
        default="+4921198765400",
        help="the AI Flow number called; with a Router it picks the assistant "
        "(default: %(default)s)",
    )
    call.add_argument("--session-id", help="call id (default: a new UUID)")
    call.add_argument(
        "--transfer-fails",
        action="store_true",
        help="transfers fail: with a timeout the caller comes back (session_start again)",
    )
    call.add_argument(
        "--ws",
        action="store_true",
        help=f"call over a WebSocket, as the platform does in WebSocket mode (default URL "
        f"{DEV_WS_URL}; a ws:// or wss:// URL implies it)",
    )
    call.add_argument("--script", type=Path, help="read caller lines from FILE ('-': stdin)")
    call.add_argument("--transcript", type=Path, help="save the transcript as JSON")
    calls.add_parser(commands)
    invoke.add_parser(commands)
    dial.add_parser(commands)
    return parser


def _dev(args: argparse.Namespace, argv: list[str]) -> int:
    from rich.console import Console

    from .reloader import run_reloader
    from .run import DevOptions, run_dev

    options = DevOptions(
        target=args.target,
        host=args.host,
        port=args.port,
        dynamodb=args.dynamodb,
        table=args.table,
        template=args.template,
        verbose=args.verbose,
        record=args.record,
    )
    console = Console(soft_wrap=True)
    if args.reload:
        return run_reloader(argv, options, console)
    return run_dev(options, console)


def _call(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..errors import AiflowError
    from .call import run_call

    options = CallOptions(
        caller=args.caller,
        called=args.called,
        session_id=args.session_id,
        transfer_fails=args.transfer_fails,
    )
    console = Console()
    url, token = _dev_server(args.url, args.token, ws=args.ws)
    try:
        if args.ws or url.startswith(("ws://", "wss://")):
            url = DEV_WS_URL if url == DEV_URL else url
            call = _websocket(url, token, options, console)
        elif url.startswith(("http://", "https://")):
            call = CallSimulator(url, token=token, options=options)
        else:
            call = _in_process(url, token, options)
    except (AiflowError, ImportError) as exc:
        console.print(f"[bold red]aiflow call:[/] {exc}")
        return 2
    lines = None
    if args.script is not None:
        source = sys.stdin if str(args.script) == "-" else None
        text = source.read() if source else args.script.read_text("utf-8")
        lines = text.splitlines()
    elif not sys.stdin.isatty():
        lines = sys.stdin.read().splitlines()
    return run_call(call, console=console, lines=lines, transcript=args.transcript)


def _dev_server(url: str | None, token: str | None, *, ws: bool) -> tuple[str, str | None]:
    """URL and token: as given, else ``$AIFLOW_API_TOKEN``, else those of the ``aiflow dev``
    running for this project (``.aiflow/dev.json``), else the default URL."""
    from .state import read_state

    token = token if token is not None else os.environ.get("AIFLOW_API_TOKEN")
    state = read_state()
    if state is None:
        return url or DEV_URL, token
    if url is None:
        url = (state.ws_url or DEV_WS_URL) if ws else state.url
    if token is None and url in (state.url, state.ws_url):
        token = state.token
    return url, token


def _websocket(url: str, token: str | None, options: CallOptions, console: Any) -> CallSimulator:
    """A call over a WebSocket: the simulator's platform side sends each event as a frame
    (see :class:`aiflow.local.transports.WebSocketClientTransport`)."""
    from ..local.transports import WebSocketClientTransport

    def arrived(actions: list[dict[str, Any]], seconds: float) -> None:
        kinds = ",".join(str(a.get("type")) for a in actions)
        console.print(f"[dim]          frame after {seconds * 1000:.0f} ms: {kinds}[/]")

    transport = WebSocketClientTransport(url, token or "", on_frame=arrived)
    return CallSimulator(url, token=token or "", options=options, transport=transport)


def _in_process(target: str, token: str | None, options: CallOptions) -> CallSimulator:
    """A call to ``module:object`` in this process: an Assistant or Router through its
    Lambda handler (slow turns finished by the worker right away, a handler's exception
    shown on the turn), any other handler as it is; Powertools as quiet as under
    ``aiflow dev``."""
    import secrets

    from ..lambda_ import Settings
    from ..local.transports import load_object
    from .run import quiet_powertools, resolve_target

    quiet_powertools(verbose=False)
    resolve_target(target)  # the template's CodeUri on sys.path, as for aiflow dev
    token = token or os.environ.get("AIFLOW_API_TOKEN") or secrets.token_urlsafe(18)
    os.environ["AIFLOW_API_TOKEN"] = token  # what a module-level lambda_handler expects
    return CallSimulator(
        load_object(target),
        token=token,
        options=options,
        settings=Settings.from_env(),  # budgets as configured (the store stays in memory)
        raise_errors=False,
    )


if __name__ == "__main__":
    raise SystemExit(main())
