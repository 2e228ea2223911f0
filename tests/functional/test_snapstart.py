"""Lambda SnapStart: the template switch, and a process "restored" from a snapshot answers.

The restore is simulated as the Lambda Python runtime does it, in a fresh interpreter with
the webhook function's environment: init (import the entry point), the registered
before-snapshot hooks (last registered first), the after-restore hooks (in registration
order), then calls through the handler, against moto.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from aiflow.lambda_ import snapstart
from aiflow.local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TOKEN_BEFORE = "token-before-the-snapshot-0123"
TOKEN_AFTER = "token-rotated-after-it-4567"
APPLY_ON = {"Fn::If": ["SnapStartEnabled", "PublishedVersions", "None"]}


# --- the template -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def nested() -> dict[str, Any]:
    return load_template(ROOT / "infra" / "websocket.yaml")


def test_snapstart_is_off_unless_the_parameter_says_true(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["EnableSnapStart"]
    assert parameter["Default"] == "false"
    assert parameter["AllowedValues"] == ["true", "false"]
    assert template["Conditions"]["SnapStartEnabled"] == {
        "Fn::Equals": [{"Ref": "EnableSnapStart"}, "true"]
    }


@pytest.mark.parametrize("logical_id", ["WebhookFunction", "WorkerFunction"])
def test_each_function_publishes_the_alias_live_with_snapstart_on_request(
    template: dict[str, Any], logical_id: str
) -> None:
    properties = template["Resources"][logical_id]["Properties"]
    assert properties["AutoPublishAlias"] == "live"
    assert properties["SnapStart"] == {"ApplyOn": APPLY_ON}
    # A changed version description publishes a version when only SnapStart changed.
    assert properties["VersionDescription"]["Fn::If"][0] == "SnapStartEnabled"


def test_the_webhook_starts_the_worker_through_its_alias_and_may_invoke_only_that(
    template: dict[str, Any],
) -> None:
    webhook = template["Resources"]["WebhookFunction"]["Properties"]
    assert webhook["Environment"]["Variables"]["AIFLOW_WORKER_FUNCTION"] == {
        "Ref": "WorkerFunction.Alias"
    }
    statements = template["Resources"]["WebhookRole"]["Properties"]["Policies"][0][
        "PolicyDocument"
    ]["Statement"]
    # Conditional statements (Fn::If, e.g. the call records) have no Action of their own.
    (invoke,) = [s for s in statements if s.get("Action") == "lambda:InvokeFunction"]
    assert invoke["Resource"] == {"Ref": "WorkerFunction.Alias"}


def test_the_dialer_is_left_as_it_was(template: dict[str, Any]) -> None:
    dialer = template["Resources"]["DialerFunction"]["Properties"]
    assert "SnapStart" not in dialer and "AutoPublishAlias" not in dialer


def test_the_websocket_function_follows_the_same_switch(
    template: dict[str, Any], nested: dict[str, Any]
) -> None:
    application = template["Resources"]["WebSocket"]["Properties"]
    assert application["Parameters"]["EnableSnapStart"] == {"Ref": "EnableSnapStart"}
    assert nested["Parameters"]["EnableSnapStart"]["Default"] == "false"
    function = nested["Resources"]["WebSocketFunction"]["Properties"]
    assert function["AutoPublishAlias"] == "live"
    assert function["SnapStart"] == {"ApplyOn": APPLY_ON}
    permission = nested["Resources"]["WebSocketInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "WebSocketFunction.Alias"}


# --- the hooks ----------------------------------------------------------------------------


def test_outside_the_lambda_runtime_nothing_is_registered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, snapstart.RUNTIME_HOOKS, None)  # import fails

    assert snapstart.runtime_hooks() is None
    assert snapstart.register(object()) is False


RESTORE = textwrap.dedent(
    """
    import gc, json, os, random, sys
    from moto import mock_aws

    with mock_aws():
        import boto3
        from aiflow.local.template import create_tables

        tables = create_tables(boto3.client("dynamodb"), os.environ["TEMPLATE"])
        secrets = boto3.client("secretsmanager")
        arn = secrets.create_secret(Name="token", SecretString=os.environ["TOKEN_BEFORE"])["ARN"]
        os.environ["AIFLOW_TABLE_NAME"] = tables["CallsTable"]
        os.environ["AIFLOW_TOKEN_SECRET"] = arn

        import snapshot_restore_py as runtime

        order = []
        runtime.register_before_snapshot(order.append, "before: registered first")
        runtime.register_after_restore(order.append, "after: registered first")

        import aiflow
        held_during_init = not gc.isenabled()
        import aiflow.lambda_.main as main

        handler = main.webhook  # init: builds the entry point, registers its hooks
        runtime.register_before_snapshot(order.append, "before: registered last")
        runtime.register_after_restore(order.append, "after: registered last")
        from aiflow.protocol.events import UserSpeakEvent

        sample = json.loads(open(os.environ["SAMPLE_EVENT"], encoding="utf-8").read())

        def call(token):
            # infra/events/session_start.json, as API Gateway sends it, for a new call
            body = json.loads(sample["body"])
            body["session"]["id"] = os.urandom(16).hex()
            event = {**sample, "body": json.dumps(body)}
            event["headers"] = {**sample["headers"], "x-api-token": token}
            event["headers"]["content-length"] = str(len(event["body"]))
            return handler(event, None)["statusCode"]

        result = {
            "held_during_init": held_during_init,
            "collecting_after_init": gc.isenabled(),
            "frozen_after_init": gc.get_freeze_count(),
            "before_snapshot": call(os.environ["TOKEN_BEFORE"]),
        }
        secrets.put_secret_value(SecretId=arn, SecretString=os.environ["TOKEN_AFTER"])
        result["validator_built_before"] = UserSpeakEvent.__pydantic_complete__

        for hook, args, kwargs in reversed(runtime.get_before_snapshot()):
            hook(*args, **kwargs)
        result["validator_built_after"] = UserSpeakEvent.__pydantic_complete__
        result["frozen_for_the_snapshot"] = gc.get_freeze_count()
        seeded = random.getstate()
        for hook, args, kwargs in runtime.get_after_restore():
            hook(*args, **kwargs)
        result["reseeded"] = random.getstate() != seeded

        result["rotated_token"] = call(os.environ["TOKEN_AFTER"])
        result["old_token"] = call(os.environ["TOKEN_BEFORE"])
        result["order"] = order
        print("RESULT " + json.dumps(result))
    """
)


@pytest.fixture(scope="module")
def restored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What a process initialized, snapshotted and restored did (see the module docstring)."""
    script = tmp_path_factory.mktemp("snapstart") / "restore.py"
    script.write_text(RESTORE, encoding="utf-8")
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        {
            # What the Lambda runtime sets for the webhook function (template.yaml).
            "_HANDLER": "aiflow.lambda_.main.webhook",
            "AWS_LAMBDA_FUNCTION_NAME": "aiflow-webhook",
            "AWS_DEFAULT_REGION": "eu-central-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AIFLOW_ASSISTANT": "receptionist.app:assistant",
            "AIFLOW_TOKEN_CACHE_SECONDS": "300",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "PYTHONPATH": str(ROOT / "functions"),
            "TEMPLATE": str(ROOT / "template.yaml"),
            "SAMPLE_EVENT": str(ROOT / "infra" / "events" / "session_start.json"),
            "TOKEN_BEFORE": TOKEN_BEFORE,
            "TOKEN_AFTER": TOKEN_AFTER,
        }
    )
    proc = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:] + proc.stdout[-3000:]
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    result["log"] = proc.stdout
    return result


def test_init_runs_without_garbage_collection_and_freezes_what_it_built(
    restored: dict[str, Any],
) -> None:
    assert restored["held_during_init"] is True
    assert restored["collecting_after_init"] is True
    assert restored["frozen_after_init"] > 10_000


def test_the_hooks_run_in_the_runtimes_order_before_snapshot_then_after_restore(
    restored: dict[str, Any],
) -> None:
    assert restored["order"] == [
        "before: registered last",  # before the snapshot: last registered runs first ...
        "before: registered first",  # ... aiflow's hook ran between these two
        "after: registered first",  # after a restore: in the order of registration
        "after: registered last",
    ]
    log = restored["log"]
    assert log.index("ready for the snapshot") < log.index("restored from the snapshot")


def test_before_the_snapshot_the_validators_are_built_and_the_heap_frozen(
    restored: dict[str, Any],
) -> None:
    assert restored["validator_built_before"] is False  # a greeting needs no user_speak
    assert restored["validator_built_after"] is True
    assert restored["frozen_for_the_snapshot"] > 10_000


def test_a_restored_process_reads_the_rotated_token_and_answers(restored: dict[str, Any]) -> None:
    assert restored["before_snapshot"] == 200
    assert restored["rotated_token"] == 200  # the cached token was dropped on restore
    assert restored["old_token"] == 401


def test_a_restored_process_draws_its_own_random_numbers(restored: dict[str, Any]) -> None:
    assert restored["reseeded"] is True


@pytest.mark.parametrize(
    ("handler", "held"),
    [
        ("aiflow.lambda_.main.webhook", True),
        ("aiflow.lambda_.main.worker", True),
        ("app.handler", False),  # a handler module of your own: aiflow changes nothing
        ("", False),  # not in Lambda (tests, aiflow dev, scripts)
    ],
)
def test_the_collector_is_held_only_while_lambda_loads_aiflows_entry_point(
    handler: str, held: bool
) -> None:
    code = "import gc, aiflow; print(gc.isenabled())"
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT / "functions")}
    if handler:
        env["_HANDLER"] = handler
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == str(not held)
