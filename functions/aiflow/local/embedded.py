"""DynamoDB for local development and tests: moto's server on loopback, in this process,
with the tables ``template.yaml`` defines (so the local table is the deployed one's twin).

    with EmbeddedDynamoDB() as db:
        store = db.store()                  # a DynamoDBStore on the CallsTable
        handler = lambda_handler(assistant, store=store)

Needs the ``local`` extra (``moto[server]``); imported only when asked for.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AiflowError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from ..store.dynamodb import DynamoDBStore

DEFAULT_REGION = "eu-central-1"
CALLS_TABLE = "CallsTable"
RECORDS_TABLE = "CallRecordsTable"
# moto accepts any credentials; these never leave the machine.
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


class DevSetupError(AiflowError):
    """Local development cannot start as configured (the message says what to change)."""

    code = "dev_setup"


def find_template(start: Path | None = None) -> Path:
    """``template.yaml`` of the project: in ``start`` (default: the working directory) or
    a parent of it, else at the root of the checkout this package lives in."""
    from .template import find_project_template

    here = (start or Path.cwd()).resolve()
    found = find_project_template(here)
    if found is not None:
        return found
    checkout = Path(__file__).resolve().parents[3] / "template.yaml"
    if checkout.is_file():
        return checkout
    raise DevSetupError(
        f"no template.yaml in {here} or its parents; run from the project folder or pass "
        "--template PATH"
    )


class EmbeddedDynamoDB:
    """moto's DynamoDB server on ``127.0.0.1`` (a free port) with the template's tables.

    Args:
        template: the SAM/CloudFormation template whose ``AWS::DynamoDB::Table`` resources
            are created (default: :func:`find_template`).
        prefix: put in front of every table name. moto keeps its data per process, so two
            instances in one process need different prefixes.
        port: 0 picks a free port.
    """

    def __init__(
        self, template: Path | str | None = None, *, prefix: str = "aiflow-local-", port: int = 0
    ) -> None:
        self.template = Path(template) if template is not None else find_template()
        self.prefix = prefix
        self.port = port
        # The region boto3 resolves for this process, so that clients built from the
        # environment (a module-level lambda_handler) find the tables.
        self.region = configured_region() or DEFAULT_REGION
        self.endpoint_url = ""
        self.tables: dict[str, str] = {}
        self._server: Any = None

    def __enter__(self) -> EmbeddedDynamoDB:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> EmbeddedDynamoDB:
        """Start the server and create the tables; returns ``self``."""
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            raise DevSetupError(
                "the embedded DynamoDB needs moto: pip install 'aiflow-serverless[local]'"
            ) from None
        from .template import create_tables

        # werkzeug logs every request moto serves; the dev server has its own log.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        try:
            self.tables = create_tables(self.client(), self.template, prefix=self.prefix)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (its data is gone with it)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def client(self) -> DynamoDBClient:
        """A boto3 DynamoDB client for this server."""
        import boto3

        return boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=LOCAL_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=LOCAL_CREDENTIALS["aws_secret_access_key"],
        )

    def table_name(self, logical_id: str = CALLS_TABLE) -> str:
        """The name of the table made from the template resource ``logical_id``."""
        try:
            return self.tables[logical_id]
        except KeyError:
            known = ", ".join(self.tables) or "none"
            raise DevSetupError(
                f"{self.template} defines no table {logical_id!r} (tables: {known})"
            ) from None

    def store(
        self, logical_id: str = CALLS_TABLE, *, ttl_seconds: int = 24 * 3600
    ) -> DynamoDBStore:
        """A :class:`~aiflow.store.dynamodb.DynamoDBStore` on one of the tables."""
        from ..store.dynamodb import DynamoDBStore

        return DynamoDBStore(
            self.table_name(logical_id), client=self.client(), ttl_seconds=ttl_seconds
        )

    def item(self, session_id: str, logical_id: str = CALLS_TABLE) -> dict[str, Any] | None:
        """The raw item of a call (for assertions in tests), or None."""
        found = self.client().get_item(
            TableName=self.table_name(logical_id),
            Key={"session_id": {"S": session_id}},
            ConsistentRead=True,
        )
        item = found.get("Item")
        return dict(item) if item else None

    def environment(self) -> dict[str, str]:
        """Environment variables that point boto3 and ``lambda_handler`` at this server."""
        env = {
            "AWS_ENDPOINT_URL_DYNAMODB": self.endpoint_url,
            "AIFLOW_TABLE_NAME": self.table_name(),
        }
        if RECORDS_TABLE in self.tables:  # records are written only with AIFLOW_RECORD_CALLS
            env["AIFLOW_RECORDS_TABLE"] = self.tables[RECORDS_TABLE]
        if not has_aws_credentials():
            env["AWS_ACCESS_KEY_ID"] = LOCAL_CREDENTIALS["aws_access_key_id"]
            env["AWS_SECRET_ACCESS_KEY"] = LOCAL_CREDENTIALS["aws_secret_access_key"]
        if configured_region() != self.region:
            env["AWS_DEFAULT_REGION"] = self.region
        return env


def configured_region() -> str | None:
    """The region boto3 would use here (environment or ``~/.aws/config``), if any."""
    import boto3

    try:
        return boto3.Session().region_name
    except Exception:
        return None


def has_aws_credentials() -> bool:
    """Whether the user has AWS credentials configured (environment or ``~/.aws``).

    Checked without boto3's full provider chain, which would probe the instance metadata
    service and stall for seconds on a laptop.
    """
    if os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"):
        return True
    home = Path(os.environ.get("HOME", "~")).expanduser()
    files = (
        os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials",
        os.environ.get("AWS_CONFIG_FILE") or home / ".aws" / "config",
    )
    return any(Path(f).is_file() for f in files)
