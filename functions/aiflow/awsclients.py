"""AWS clients for aiflow's functions: low-level clients from one session per process.

aiflow only uses low-level clients, and boto3 adds nothing to them but a cold-start cost:
importing it (its resource layer and s3transfer) takes about 14 ms of CPU that botocore alone
does not. So in a process that has not imported boto3 (a Lambda function running aiflow) the
clients come from a botocore session of aiflow's own; in one that has (your assistant uses
boto3, tests, tools) they come from boto3's default session, exactly as
``boto3.client(...)`` makes them. Either way the clients of a function (DynamoDB, Secrets
Manager, Lambda) share one session and its loader, so service models and endpoint data are
read once; credentials, region and ``AWS_ENDPOINT_URL`` are resolved as boto3 resolves them.

Lambda SnapStart (:mod:`aiflow.lambda_.snapstart`) restores a snapshot into many execution
environments: :func:`close_connections` drops the connection pools of the clients made here
before the snapshot, so that no restored environment reuses another one's TCP connection.
"""

from __future__ import annotations

import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.session import Session

_lock = threading.Lock()
_session: Session | None = None
_clients: weakref.WeakSet[Any] = weakref.WeakSet()


def session() -> Session:
    """aiflow's botocore session (created on first use), for processes without boto3."""
    global _session
    with _lock:
        if _session is None:
            from botocore.session import get_session

            _session = get_session()
        return _session


def client(service: str, *, config: Config | None = None, endpoint_url: str | None = None) -> Any:
    """A low-level client of ``service``, as ``boto3.client(service, ...)`` would make it."""
    boto3 = sys.modules.get("boto3")
    if boto3 is not None:  # loaded anyway: share its default session
        made = boto3.client(service, config=config, endpoint_url=endpoint_url)
    else:
        made = session().create_client(service, config=config, endpoint_url=endpoint_url)
    _clients.add(made)
    return made


def close_connections() -> int:
    """Close the connection pools of every client made here (they reconnect on their next
    request); returns how many clients there were."""
    count = 0
    for made in list(_clients):
        endpoint = getattr(made, "_endpoint", None)
        http = getattr(endpoint, "http_session", None)
        if http is not None:
            http.close()
        count += 1
    return count


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``ThrottlingException``, …), else
    the exception's type name (``EndpointConnectionError``, ``ReadTimeoutError``, …)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or type(exc).__name__
    return type(exc).__name__
