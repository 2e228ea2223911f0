"""The deployment's hard stops leave room for the answer, and none outlives API Gateway.

API Gateway's HTTP API ends an integration after 30 s: a webhook function that may run
longer would answer nobody, so ``WebhookTimeout`` allows at most 29 s. Its default leaves
the 2.8 s answer budget, and the time the handler keeps for answering after giving up,
well inside the Lambda timeout.
"""

from __future__ import annotations

from typing import Any

import pytest

from aiflow.lambda_.http import _SAFETY_MS
from aiflow.local.template import load_template
from aiflow.settings import Settings, SettingsError

from .cloud import REPO

HTTP_API_INTEGRATION_LIMIT_S = 30


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(REPO / "template.yaml")


def test_the_webhook_timeout_is_at_most_29_seconds(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["WebhookTimeout"]
    function = template["Resources"]["WebhookFunction"]["Properties"]

    assert function["Timeout"] == {"Ref": "WebhookTimeout"}
    assert parameter["MaxValue"] == 29 < HTTP_API_INTEGRATION_LIMIT_S
    assert parameter["MinValue"] <= parameter["Default"] <= parameter["MaxValue"]


def test_the_default_timeout_leaves_room_for_the_answer_budget(
    template: dict[str, Any],
) -> None:
    default_s = template["Parameters"]["WebhookTimeout"]["Default"]
    budget_ms = Settings().answer_budget_ms

    assert budget_ms + _SAFETY_MS < default_s * 1000


def test_an_answer_budget_beyond_the_integration_limit_is_refused() -> None:
    assert Settings.from_env({"AIFLOW_ANSWER_BUDGET_MS": "29000"}).answer_budget_ms == 29_000
    with pytest.raises(SettingsError, match="AIFLOW_ANSWER_BUDGET_MS must be at most 29000"):
        Settings.from_env({"AIFLOW_ANSWER_BUDGET_MS": "30000"})
