"""The "Outbound calls" snippet of the README, verbatim, against the fake sipgate and moto."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from aiflow.local.template import REPO_ROOT, create_tables
from aiflow.testing.fake_sipgate import FakeSipgate

FLOW_ID = "e3670012-96a3-4ae5-ac42-87abe22015c3"


def readme_snippet() -> None:
    from aiflow.outbound import FlowNotFound, dial

    try:
        result = dial(
            "e3670012-96a3-4ae5-ac42-87abe22015c3",  # the AI Flow; its number is the caller id
            "+49 157 90000687",  # with country code; sent as 4915790000687
            device="e2",  # the billing device (or AIFLOW_SIPGATE_DEVICE)
            data={"appointment": "2026-03-02T09:30", "patient": "Weber"},
        )
        print(result.status, result.attempts, result.request_id)  # 201 1 3f0c…
    except FlowNotFound as error:
        print(error.message)  # what sipgate answered (numbers masked) and what to check


@pytest.mark.parametrize("flow_known", [True, False])
def test_the_readme_dial_snippet(
    flow_known: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    flows = {FLOW_ID: "+4921155660"} if flow_known else {}
    with mock_aws(), FakeSipgate(flows=flows) as sipgate:
        tables = create_tables(boto3.client("dynamodb"), REPO_ROOT / "template.yaml")
        monkeypatch.setenv("AIFLOW_TABLE_NAME", tables["CallsTable"])
        monkeypatch.setenv("AIFLOW_SIPGATE_TOKEN", sipgate.token)
        monkeypatch.setenv("AIFLOW_SIPGATE_API_URL", sipgate.url)

        readme_snippet()

        assert sipgate.requests[0].json == {
            "billingDevice": "e2",
            "toPhoneNumber": "4915790000687",
        }
    printed = capsys.readouterr().out
    if flow_known:
        assert printed.startswith("201 1 ")
    else:
        assert printed.startswith("sipgate answered 404 Not Found")
