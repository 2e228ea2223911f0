"""``aiflow dial``: start an outbound call from the terminal, or queue it for the dialer.

    aiflow dial --flow e3670012-... --to +4915790000687 --device e2
    aiflow dial --flow e3670012-... --to +4915790000687 --data '{"appointment": "Mo 9:30"}'
    aiflow dial --flow e3670012-... --to +4915790000687 --queue --stack aiflow-serverless

Directly: the token comes from ``AIFLOW_SIPGATE_TOKEN`` (or ``AIFLOW_SIPGATE_TOKEN_SECRET``),
the call context goes to the call table ``AIFLOW_TABLE_NAME`` if set (``--data`` needs it).
With ``--queue`` the dialer function of a deployed stack places the call.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

EXIT_FAILED = 1
EXIT_USAGE = 2


def add_parser(commands: Any) -> None:
    """Register ``dial`` on the ``aiflow`` command's subparsers."""
    dial = commands.add_parser(
        "dial",
        help="let an AI Flow call a number (outbound call), now or through the dial queue",
        description="Start an outbound call through sipgate's REST API (token: "
        "AIFLOW_SIPGATE_TOKEN), or queue it for the dialer function with --queue.",
    )
    dial.add_argument("--flow", required=True, help="the AI Flow id (its number is the caller id)")
    dial.add_argument("--to", required=True, help="the number to call, e.g. +4915790000687")
    dial.add_argument("--device", help="billing device, e.g. e2 (default: $AIFLOW_SIPGATE_DEVICE)")
    dial.add_argument(
        "--data",
        type=_json_object,
        help="JSON object handed to the assistant on this call (call.outbound.data)",
    )
    dial.add_argument(
        "--queue", action="store_true", help="queue the call (SQS) instead of dialling now"
    )
    dial.add_argument("--queue-url", help="dial queue URL (default: $AIFLOW_DIAL_QUEUE_URL)")
    dial.add_argument("--stack", help="read the queue URL from this stack's DialQueueUrl output")
    dial.add_argument("-v", "--verbose", action="store_true", help="show the client's log lines")


def run(args: argparse.Namespace) -> int:
    """Run ``aiflow dial``; prints one or two lines, returns the exit code."""
    from ..outbound.errors import DialError
    from ..redact import mask_number

    # The result is printed below; log lines (retries, numbers masked) only when asked for.
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    else:
        logging.getLogger("aiflow").addHandler(logging.NullHandler())
    try:
        if args.queue:
            return _enqueue(args)
        from ..outbound.calls import dial

        result = dial(args.flow, args.to, device=args.device, data=args.data)
    except DialError as exc:
        print(f"aiflow dial: {type(exc).__name__}: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    context = "context stored" if result.context_saved else "no context stored"
    print(
        f"Calling {mask_number(result.to)} from AI Flow {result.flow_id} (device "
        f"{result.device}): sipgate answered {result.status} after {result.attempts} "
        f"attempt(s) in {result.elapsed_ms:.0f} ms."
    )
    print(f"Request {result.request_id}, {context}; the call's events go to the flow's webhook.")
    return 0


def _enqueue(args: argparse.Namespace) -> int:
    from ..outbound.errors import DialError
    from ..outbound.queue import enqueue_dial
    from ..redact import mask_number

    queue_url = args.queue_url or os.environ.get("AIFLOW_DIAL_QUEUE_URL")
    if not queue_url and args.stack:
        queue_url = _stack_output(args.stack, "DialQueueUrl")
    if not queue_url:
        print(
            "aiflow dial: --queue needs the queue: --queue-url URL, --stack NAME or "
            "$AIFLOW_DIAL_QUEUE_URL (stack output DialQueueUrl; deploy with EnableOutbound=true)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        message_id = enqueue_dial(queue_url, args.flow, args.to, device=args.device, data=args.data)
    except DialError:
        raise
    except Exception as exc:  # botocore: no credentials, access denied, unreachable
        print(f"aiflow dial: SQS refused the message: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Queued the call to {mask_number(args.to)} from AI Flow {args.flow}: {message_id}.")
    return 0


def _stack_output(stack: str, key: str) -> str | None:
    """An output of a deployed CloudFormation stack (None, with a message, if unavailable)."""
    import boto3

    try:
        found = boto3.client("cloudformation").describe_stacks(StackName=stack)
    except Exception as exc:
        print(f"aiflow dial: cannot read stack {stack}: {type(exc).__name__}", file=sys.stderr)
        return None
    for output in found["Stacks"][0].get("Outputs", []):
        if output.get("OutputKey") == key:
            return str(output["OutputValue"])
    print(f"aiflow dial: stack {stack} has no output {key} (EnableOutbound=true?)", file=sys.stderr)
    return None


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('must be a JSON object, e.g. {"appointment": "9:30"}')
    return value
