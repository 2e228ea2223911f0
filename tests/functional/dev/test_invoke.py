"""`aiflow invoke`: one event through the deployed entry point, as `sam local invoke -e` would
run it, without Docker: the template's Handler and environment, infra/env/local.json, an
embedded DynamoDB."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aiflow.dev.cli import main

ROOT = Path(__file__).resolve().parents[3]
GENERATED = Path(__file__).with_name("events") / "generated_http_api_session_start.json"


@pytest.fixture(autouse=True)
def _in_the_repository(restore_environ: None, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AIFLOW_API_TOKEN", "AIFLOW_TABLE_NAME", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT)


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["invoke", *args])
    return status, capsys.readouterr().out


def test_a_sam_generated_http_api_event_is_answered_200(capsys: pytest.CaptureFixture[str]) -> None:
    """The fixture is real `sam local generate-event apigateway http-api-proxy` output (base64
    body), with the X-API-TOKEN of infra/env/local.json added."""
    generated = json.loads(GENERATED.read_text())
    assert generated["isBase64Encoded"] is True and generated["routeKey"] == "$default"

    status, out = invoke(capsys, str(GENERATED))

    assert status == 0
    assert "WebhookFunction  aiflow.lambda_.main.webhook" in out
    assert "AIFLOW_ASSISTANT=receptionist.app:assistant" in out
    assert "HTTP 200" in out and "Content-Type: application/json" in out
    body = json.loads(out[out.index("[") :])
    assert [action["type"] for action in body] == ["configure_transcription", "speak"]
    assert body[1]["session_id"] == "5b0c6a1e-2f7d-4c3b-9a8e-6d1f2e3a4b5c"


def test_a_sample_event_of_infra_events_runs_against_the_embedded_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out = invoke(capsys, "infra/events/dtmf_received.json")

    assert status == 0
    assert re.search(r"DynamoDB: embedded moto, table aiflow-invoke-[0-9a-f]{8}-CallsTable", out)
    assert "HTTP 200" in out and '"type": "speak"' in out


def test_a_bare_ai_flow_event_is_posted_with_the_local_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = tmp_path / "start.json"
    event.write_text(json.dumps({"type": "session_start", "session": {"id": "bare-1"}}))

    status, out = invoke(capsys, str(event))

    assert status == 0 and "HTTP 200" in out and "bare-1" in out


def test_a_wrong_token_is_shown_as_the_client_would_see_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = json.loads(GENERATED.read_text())
    event["headers"]["X-API-TOKEN"] = "wrong"
    path = tmp_path / "wrong.json"
    path.write_text(json.dumps(event))

    status, out = invoke(capsys, str(path))

    assert status == 0
    assert "HTTP 401" in out and "the X-API-TOKEN header is wrong" in out


def test_the_websocket_function_gets_the_event_over_a_new_connection(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out = invoke(capsys, "--function", "websocket", str(GENERATED))

    assert status == 0
    assert "WebSocketFunction  aiflow.lambda_.main.websocket" in out
    assert "$connect -> 200" in out and "$default -> 200" in out
    # (moto keeps one process's tables: the call may already be known from another test)
    assert "frame" in out and '"type": "speak"' in out and "Praxis Dr. Weber" in out


def test_the_raw_return_value_is_what_lambda_returns(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = invoke(capsys, "--raw", "infra/events/session_end.json")

    assert status == 0
    result = json.loads(out[out.index("{") :])
    assert result["statusCode"] == 204


def test_a_file_that_is_not_an_event_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")

    status, out = invoke(capsys, str(path))

    assert status == 2
    assert "must hold one JSON object" in out
