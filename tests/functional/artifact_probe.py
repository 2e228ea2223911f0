"""Run by tests/functional/test_artifact.py in a subprocess started with ``python -I -S``: the
deployed handler answers a whole call from a built Lambda artifact, with nothing on
``sys.path`` but the artifact, the boto3 the Lambda runtime provides and the standard library.

    python -I -S artifact_probe.py ARTIFACT RUNTIME EVENTS_DIR

Prints one JSON object: the status of every answer, the modules loaded from anywhere else.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig

artifact, runtime, events_dir = sys.argv[1:4]
sys.path[:0] = [artifact, runtime]


def event(name: str, **changes: object) -> dict[str, object]:
    with open(os.path.join(events_dir, f"{name}.json"), encoding="utf-8") as f:
        loaded: dict[str, object] = json.load(f)
    loaded.update(changes)
    return loaded


class Context:
    function_name = "aiflow-artifact-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:aiflow-artifact-test"
    aws_request_id = "2c1f0e6a-4b7d-4d21-9f3e-8a5b6c7d8e9f"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def main() -> None:
    import aiflow.lambda_.main as app  # the deployed entry points (AIFLOW_ASSISTANT)

    handler = app.webhook
    answers: list[dict[str, object]] = []

    def send(name: str, sample: dict[str, object]) -> None:
        reply = handler(sample, Context())
        answers.append({"event": name, "status": reply["statusCode"], "body": reply.get("body")})

    samples = []
    for file in sorted(os.listdir(events_dir)):
        if file.endswith(".json"):
            loaded = event(file[:-5])
            samples.append((loaded["requestContext"]["timeEpoch"], file[:-5], loaded))  # type: ignore[index]
    for _, name, sample in sorted(samples):
        send(name, sample)

    wrong = event("session_start")
    wrong["headers"] = {**wrong["headers"], "x-api-token": "wrong"}  # type: ignore[dict-item]
    send("wrong token", wrong)
    send("not JSON", event("user_speak", body="{not json"))
    other = event("user_speak", rawPath="/other", routeKey="POST /other")
    other["requestContext"]["http"]["path"] = "/other"  # type: ignore[index]
    send("other route", other)

    built = {name: callable(getattr(app, name)) for name in ("worker", "websocket")}
    # Not resolving links: the runtime folder links to the test's own boto3.
    stdlib = sysconfig.get_paths()
    allowed = tuple(
        os.path.abspath(p) + os.sep
        for p in (artifact, runtime, stdlib["stdlib"], stdlib["platstdlib"])
    )
    elsewhere = sorted(
        name
        for name, module in list(sys.modules.items())
        if name not in ("__main__", "__mp_main__")
        and getattr(module, "__file__", None)
        and not os.path.abspath(module.__file__).startswith(allowed)
    )
    print(json.dumps({"answers": answers, "entry_points": built, "elsewhere": elsewhere}))


main()
