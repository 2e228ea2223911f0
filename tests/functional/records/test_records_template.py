"""The call records in ``template.yaml`` and ``infra/websocket.yaml``: off by default, a table
of their own (on-demand, KMS, TTL, listable by day, findable by id), the settings the code
reads, and the same table locally."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiflow.lambda_ import Settings
from aiflow.local.template import function_environment, load_template
from aiflow.settings import SettingsError

from .conftest import Desk

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def root() -> dict[str, Any]:
    return load_template(REPO / "template.yaml")


@pytest.fixture(scope="module")
def nested() -> dict[str, Any]:
    return load_template(REPO / "infra" / "websocket.yaml")


def test_call_records_are_off_by_default_and_kept_thirty_days(root: dict[str, Any]) -> None:
    switch = root["Parameters"]["EnableCallRecords"]
    assert switch["Default"] == "false" and switch["AllowedValues"] == ["true", "false"]
    retention = root["Parameters"]["CallRecordRetentionDays"]
    assert (retention["Default"], retention["MinValue"]) == (30, 1)
    assert root["Conditions"]["CallRecordsEnabled"] == {
        "Fn::Equals": [{"Ref": "EnableCallRecords"}, "true"]
    }


def test_the_records_table_is_encrypted_expires_and_lists_by_day(root: dict[str, Any]) -> None:
    table = root["Resources"]["CallRecordsTable"]
    props = table["Properties"]
    assert table["Condition"] == "CallRecordsEnabled"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "day", "KeyType": "HASH"},
        {"AttributeName": "call", "KeyType": "RANGE"},
    ]
    (index,) = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "SessionIndex"
    assert index["KeySchema"] == [{"AttributeName": "session_id", "KeyType": "HASH"}]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    # KMS with the AWS managed key (no KMSMasterKeyId): audited, rotated, no kms: grants.
    assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    # A deleted record must not live on in a point-in-time backup.
    assert "PointInTimeRecoverySpecification" not in props
    assert "TableName" not in props
    output = root["Outputs"]["CallRecordsTableName"]
    assert output == {
        "Condition": "CallRecordsEnabled",
        "Description": output["Description"],
        "Value": {"Ref": "CallRecordsTable"},
    }


def test_every_function_reads_the_switch_the_table_and_the_retention(
    root: dict[str, Any], nested: dict[str, Any]
) -> None:
    shared = root["Globals"]["Function"]["Environment"]["Variables"]
    assert shared["AIFLOW_RECORD_CALLS"] == {"Ref": "EnableCallRecords"}
    assert shared["AIFLOW_RECORDS_TABLE"] == {
        "Fn::If": ["CallRecordsEnabled", {"Ref": "CallRecordsTable"}, ""]
    }
    assert shared["AIFLOW_RECORD_RETENTION_DAYS"] == {"Ref": "CallRecordRetentionDays"}
    passed = root["Resources"]["WebSocket"]["Properties"]["Parameters"]
    assert passed["RecordCalls"] == {"Ref": "EnableCallRecords"}
    assert passed["CallRecordsTableArn"] == {
        "Fn::If": ["CallRecordsEnabled", {"Fn::GetAtt": ["CallRecordsTable", "Arn"]}, ""]
    }
    assert passed["CallRecordRetentionDays"] == {"Ref": "CallRecordRetentionDays"}
    env = nested["Resources"]["WebSocketFunction"]["Properties"]["Environment"]["Variables"]
    assert env["AIFLOW_RECORD_CALLS"] == {"Ref": "RecordCalls"}
    assert env["AIFLOW_RECORDS_TABLE"] == {"Ref": "CallRecordsTableName"}
    # Locally (aiflow invoke, sam local) the defaults leave records off.
    local = function_environment(root, "WebhookFunction")
    assert local["AIFLOW_RECORD_CALLS"] == "false" and local["AIFLOW_RECORDS_TABLE"] == ""
    settings = Settings.from_env(local)
    assert (settings.record_calls, settings.records_table) == (False, None)
    assert settings.record_retention_days == 30


def test_the_settings_are_read_and_checked() -> None:
    settings = Settings.from_env(
        {
            "AIFLOW_RECORD_CALLS": "true",
            "AIFLOW_RECORDS_TABLE": "records",
            "AIFLOW_RECORD_RETENTION_DAYS": "7",
        }
    )
    assert (settings.record_calls, settings.records_table) == (True, "records")
    assert settings.record_retention_days == 7
    with pytest.raises(SettingsError, match="AIFLOW_RECORD_CALLS"):
        Settings.from_env({"AIFLOW_RECORD_CALLS": "sometimes"})
    with pytest.raises(SettingsError, match="AIFLOW_RECORD_RETENTION_DAYS"):
        Settings.from_env({"AIFLOW_RECORD_RETENTION_DAYS": "0"})


def test_the_records_table_exists_locally_as_deployed(desk: Desk) -> None:
    """The template reader does not evaluate the Condition: aiflow dev --record finds it."""
    table = desk.reader.describe_table(TableName=desk.records_table)["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["day", "call"]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "SessionIndex"
    assert index["Projection"]["ProjectionType"] == "KEYS_ONLY"
    ttl = desk.reader.describe_time_to_live(TableName=desk.records_table)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
