"""``aiflow calls``: the call records of the dev server, or of a deployed stack.

    aiflow calls list [--since 2h] [--limit 20] [--json]     # newest first
    aiflow calls show ID [--json]                            # the transcript, with timings
    aiflow calls delete ID [--json]                          # the record (and ended call item)

Where from: run in the project while ``aiflow dev --record`` runs there, it reads the dev
server's records (``.aiflow/dev.json`` says where); ``--stack NAME`` reads those of a deployed
stack (its ``CallRecordsTableName`` output, with your AWS credentials), ``--table NAME`` those
of a records table. ``ID`` is a call's session id or a unique start of it.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import AiflowError
from ..local.embedded import LOCAL_CREDENTIALS, has_aws_credentials
from ..records.store import DynamoDBRecordStore, RecordStoreError
from ..records.transcript import (
    format_duration,
    format_offset,
    format_time,
    header,
    transcript_lines,
)
from .state import read_state

LIST_LIMIT = 20
PREFIX_SEARCH = 1000  # records searched for a shortened id
_SINCE = re.compile(r"^(\d+)\s*([mhd])$")
_WHO_STYLE = {"caller": "cyan", "assistant": "green", "call": "magenta"}


class CallsError(AiflowError):
    """``aiflow calls`` cannot do what was asked (the message says why and what to do)."""

    code = "calls_failed"


@dataclass
class Source:
    """The records table to read and where it is."""

    store: DynamoDBRecordStore
    description: str


def add_parser(commands: Any) -> None:
    """Register ``aiflow calls``."""
    calls = commands.add_parser(
        "calls",
        help="list, show and delete call records (aiflow dev --record, or a deployed stack)",
        description="Call records: of the aiflow dev running in this project (started with "
        "--record), or of a deployed stack (--stack) or records table (--table).",
    )
    verbs = calls.add_subparsers(dest="verb", metavar="{list,show,delete}", required=True)
    listing = verbs.add_parser("list", help="calls by start time, newest first")
    listing.add_argument(
        "--since",
        help="30m, 2h, 7d, a day (2026-12-01) or a time (ISO 8601); default: 31 days",
    )
    listing.add_argument("--limit", type=int, default=LIST_LIMIT, help="at most this many")
    show = verbs.add_parser("show", help="one call's transcript: who said what, when, how fast")
    show.add_argument("id", help="the call's session id (or a unique start of it)")
    delete = verbs.add_parser("delete", help="delete one call's record")
    delete.add_argument("id", help="the call's session id (or a unique start of it)")
    for verb in (listing, show, delete):
        verb.add_argument("--json", action="store_true", help="print JSON")
        verb.add_argument("--stack", help="a deployed stack (its CallRecordsTableName output)")
        verb.add_argument("--table", help="a call records table (AWS, your credentials)")
        verb.add_argument("--region", help="AWS region (default: your configuration)")
        verb.add_argument("--endpoint-url", help="a DynamoDB endpoint (e.g. DynamoDB Local)")


def run(args: argparse.Namespace) -> int:
    """Run ``aiflow calls``; 0 on success, 1 when not found or failed, 2 for bad usage."""
    from rich.console import Console

    console = Console(soft_wrap=True)
    try:
        source = open_source(args)
        if args.verb == "list":
            return _list(source, args, console)
        if args.verb == "show":
            return _show(source, args, console)
        return _delete(source, args, console)
    except CallsError as exc:
        console.print(f"[bold red]aiflow calls:[/] {exc.message}", highlight=False)
        return 2
    except RecordStoreError as exc:
        console.print(f"[bold red]aiflow calls:[/] {exc.message}", highlight=False)
        return 1


# --- where the records are ----------------------------------------------------------------


def open_source(args: argparse.Namespace) -> Source:
    """The records table named by ``--table`` / ``--stack``, else the dev server's."""
    if args.table:
        return Source(
            DynamoDBRecordStore(args.table, client=_client(args.region, args.endpoint_url)),
            f"table {args.table}",
        )
    if args.stack:
        return _stack_source(args.stack, args.region, args.endpoint_url)
    state = read_state()
    if state is None:
        raise CallsError(
            "no aiflow dev is running in this project (no .aiflow/dev.json of a live "
            "server): start `aiflow dev --record` here, or pass --stack NAME (a deployed "
            "stack) or --table NAME"
        )
    if not state.records_table:
        raise CallsError(
            "the aiflow dev running here does not record calls: restart it with "
            "`aiflow dev --record` (or AIFLOW_RECORD_CALLS=true)"
        )
    client = _client(state.region, state.dynamodb_endpoint or args.endpoint_url, local=True)
    store = DynamoDBRecordStore(state.records_table, client=client, calls_table=state.calls_table)
    return Source(store, f"aiflow dev ({state.target})")


def _stack_source(stack: str, region: str | None, endpoint_url: str | None) -> Source:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    cloudformation = boto3.client("cloudformation", region_name=region, config=_config())
    try:
        found = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise CallsError(f"cannot read stack {stack}: {message}") from None
    except BotoCoreError as exc:
        raise CallsError(f"cannot read stack {stack}: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found[0].get("Outputs") or []}
    table = outputs.get("CallRecordsTableName")
    if not table:
        raise CallsError(
            f"stack {stack} keeps no call records: deploy it with "
            "--parameter-overrides EnableCallRecords=true"
        )
    client = _client(region, endpoint_url)
    store = DynamoDBRecordStore(table, client=client, calls_table=outputs.get("CallsTableName"))
    return Source(store, f"stack {stack}")


def _config() -> Any:
    from botocore.config import Config

    return Config(
        connect_timeout=5, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 3}
    )


def _client(region: str | None, endpoint_url: str | None, *, local: bool = False) -> Any:
    import boto3

    kwargs: dict[str, Any] = {"region_name": region, "config": _config()}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if local and endpoint_url and not has_aws_credentials():
        kwargs.update(LOCAL_CREDENTIALS)  # what aiflow dev uses without credentials
    return boto3.client("dynamodb", **kwargs)


# --- the verbs ----------------------------------------------------------------------------


def _list(source: Source, args: argparse.Namespace, console: Any) -> int:
    rows = source.store.list(since=parse_since(args.since), limit=max(1, args.limit))
    if args.json:
        print(json.dumps([row.to_dict() for row in rows], ensure_ascii=False, indent=2))
        return 0
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Call records — {escape(source.description)}", title_justify="left")
    for column in ("started (UTC)", "call", "duration", "from", "to", "turns", "outcome"):
        wraps = column == "outcome"
        table.add_column(
            column, justify="right" if column == "turns" else "left", no_wrap=not wraps
        )
    for row in rows:
        table.add_row(
            format_time(row.started_at).removesuffix(" UTC"),
            row.session_id[:8],  # show and delete take the start of an id
            format_duration(row.duration_ms) if row.duration_ms is not None else "—",
            escape(row.caller or "withheld"),
            escape(row.called or ""),
            str(row.turns),
            escape(row.outcome),
        )
    console.print(table)
    if not rows:
        console.print("[dim]no calls recorded in this time[/]")
    else:
        console.print("[dim]aiflow calls show ID (the start of an id will do) · --json[/]")
    return 0


def _show(source: Source, args: argparse.Namespace, console: Any) -> int:
    session_id = resolve_id(source, args.id)
    record = source.store.get(session_id)
    if record is None:
        raise CallsError(f"no record of call {args.id}")
    if args.json:
        print(json.dumps(record, ensure_ascii=False, indent=2))
        return 0
    print_transcript(record, console)
    return 0


def _delete(source: Source, args: argparse.Namespace, console: Any) -> int:
    session_id = resolve_id(source, args.id)
    live = source.store.live(session_id)
    deleted = source.store.delete(session_id)
    if args.json:
        print(json.dumps({"session_id": session_id, "deleted": deleted, "live": live}))
        return 0 if deleted else 1
    if deleted:
        also = " and its call item" if source.store.calls_table and not live else ""
        console.print(f"deleted the record of call {session_id}{also}", highlight=False)
    else:
        console.print(f"[yellow]no record of call {session_id}[/]", highlight=False)
    if live:
        console.print(
            "[yellow]the call is still going on: its record is written again when it ends[/]"
        )
    return 0 if deleted else 1


def resolve_id(source: Source, given: str) -> str:
    """The full session id for ``given`` (itself, or the one call whose id starts so)."""
    given = given.strip()
    if not given:
        raise CallsError("an empty call id")
    if source.store.get(given) is not None:
        return given
    matches = [
        row for row in source.store.list(limit=PREFIX_SEARCH) if row.session_id.startswith(given)
    ]
    if not matches:
        return given  # reported as not found by the caller
    if len(matches) > 1:
        ids = ", ".join(row.session_id for row in matches[:5])
        raise CallsError(f"{given} is the start of {len(matches)} calls ({ids}): say more")
    return matches[0].session_id


def parse_since(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """``30m``, ``2h``, ``7d``, ``2026-12-01`` or an ISO 8601 time (UTC unless it says)."""
    if text is None:
        return None
    now = now or datetime.now(UTC)
    relative = _SINCE.match(text.strip())
    if relative:
        amount, unit = int(relative[1]), relative[2]
        return now - timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: amount})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CallsError(
            f"--since {text!r}: give 30m, 2h, 7d, a day (2026-12-01) or an ISO 8601 time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def print_transcript(record: dict[str, Any], console: Any) -> None:
    """The header and the transcript of a record, for the terminal."""
    from rich.markup import escape
    from rich.table import Table

    facts = header(record)
    console.print(
        f"[bold]Call {escape(facts['call'])}[/]  {facts['started']} · {facts['duration']} · "
        f"{facts['direction']} · {escape(facts['from'])} → {escape(facts['to'])}"
        + (f" · {escape(facts['assistant'])}" if facts["assistant"] else ""),
        highlight=False,
    )
    console.print(f"[bold]Outcome:[/] {escape(facts['outcome'])}", highlight=False)
    if "cut" in facts:
        console.print(f"[yellow]{escape(facts['cut'])}[/]", highlight=False)
    table = Table(show_header=True, box=None, pad_edge=False)
    table.add_column("time", justify="right", style="dim", no_wrap=True)
    table.add_column("who", no_wrap=True)
    table.add_column("what")
    table.add_column("", style="dim")
    for line in transcript_lines(record):
        style = _WHO_STYLE.get(line.who, "")
        who = f"[{style}]{line.who}[/]" if style else line.who
        table.add_row(format_offset(line.offset_ms), who, escape(line.text), escape(line.note))
    console.print(table)
