"""A cold start loads what its entry point needs and nothing else (make bench, section 1a,
measures the time; this keeps the savings from coming undone)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

INIT = """
import json, sys
import aiflow.lambda_.main as main
getattr(main, sys.argv[1])  # what the Lambda runtime does during init
print(json.dumps(sorted(sys.modules)))
"""

# Imported by no cold start of the webhook: boto3 (aiflow's clients come from botocore),
# Powertools' parameters utility (the token is read with our own client), the transports
# and features of other functions, the local tools, YAML (the build compiles the config).
NEVER_IN_THE_WEBHOOK = (
    "boto3",
    "s3transfer",
    "aws_lambda_powertools.utilities.parameters",
    "aiflow.lambda_.websocket",
    "aiflow.lambda_.worker",
    "aiflow.ws",
    "aiflow.outbound",
    "aiflow.agents",
    "aiflow.dev",
    "aiflow.local",
    "aiflow.testing",
    "aiflow.store.memory",
    "aiflow.protocol.wav",
    "yaml",
)


def cold_start_modules(entry: str, tmp_path: Path) -> set[str]:
    """The modules loaded after the Lambda runtime's init of ``entry`` (webhook, ...)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from benchlib import child_env  # the webhook's environment of template.yaml
    finally:
        sys.path.pop(0)
    env = child_env(
        {
            "PYTHONPATH": str(ROOT / "functions"),
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # init makes no request
            "_HANDLER": f"aiflow.lambda_.main.{entry}",
        }
    )
    proc = subprocess.run(
        [sys.executable, "-c", INIT, entry],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return set(json.loads(proc.stdout.splitlines()[-1]))


def test_the_webhooks_cold_start_loads_only_what_answering_needs(tmp_path: Path) -> None:
    loaded = cold_start_modules("webhook", tmp_path)

    assert "aiflow.lambda_.http" in loaded and "receptionist.app" in loaded
    assert "botocore.client" in loaded  # its DynamoDB and Secrets Manager clients, made in init
    unwanted = sorted(
        m for m in loaded for n in NEVER_IN_THE_WEBHOOK if m == n or m.startswith(n + ".")
    )
    assert unwanted == []


def test_the_worker_loads_neither_the_http_nor_the_websocket_transport(tmp_path: Path) -> None:
    loaded = cold_start_modules("worker", tmp_path)

    assert "aiflow.lambda_.worker" in loaded
    assert not {"aiflow.lambda_.http", "aiflow.lambda_.websocket", "boto3"} & loaded
