"""AWS clients for aiflow's functions: low-level clients from one session per process.

aiflow only uses low-level clients, and boto3 adds nothing to them but a cold-start cost:
importing it (its resource layer and s3transfer) takes about 14 ms of CPU that botocore alone
does not. So in a process that has not imported boto3 (a Lambda function running aiflow) the
clients come from a botocore session of aiflow's own; in one that has (your assistant uses
boto3, tests, tools) they come from boto3's default session, exactly as
``boto3.client(...)`` makes them. Either way the clients of a function (DynamoDB, Secrets
Manager, Lambda) share one session and its loader, so service models and endpoint data are
read once; credentials, region and ``AWS_ENDPOINT_URL`` are resolved as boto3 resolves them.

aiflow's session reads botocore's data with :func:`data_loader`: botocore's own loader
checks that a service name is known by listing every service directory of its data path
(about 440, twice per cold start: ~15 ms of CPU), where looking at the one directory asked
for gives the same answer, and decodes its JSON into ``OrderedDict``s, which takes twice as
long as plain dicts (~7 ms for ``endpoints.json`` and the DynamoDB model).

Lambda SnapStart (:mod:`aiflow.lambda_.snapstart`) restores a snapshot into many execution
environments: :func:`close_connections` drops the connection pools of the clients made here
before the snapshot, so that no restored environment reuses another one's TCP connection.
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.loaders import Loader
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

            made = get_session()
            data_path = made.get_config_variable("data_path")  # AWS_DATA_PATH, as botocore
            made.register_component("data_loader", data_loader(data_path))
            _session = made
        return _session


def data_loader(search_path: str | None = None) -> Loader:
    """botocore's data loader for ``search_path`` (``AWS_DATA_PATH``, read as
    ``botocore.loaders.create_loader`` reads it), with two cold-start costs taken out:

    - "is this a known service?" is answered from the one service's directory
      (:class:`ServiceNames`), not from a listing of all of them;
    - JSON models decode into plain dicts, which keep their order as botocore's
      ``OrderedDict`` does (botocore reads them with ``get``, ``in`` and iteration only)."""
    import gzip
    import json

    from botocore.loaders import JSONFileLoader, Loader

    class NamedServiceLoader(Loader):
        """A ``Loader`` whose ``list_available_services`` is a :class:`ServiceNames`."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # One per model type, as botocore caches its list: a full scan happens once at
            # most. (Not botocore's instance_cache: its key is the method's name, which
            # ServiceNames' call of botocore's own scan would then find.)
            self._service_names: dict[str, ServiceNames] = {}

        # botocore's callers test membership, iterate or join: a sequence, not a list.
        def list_available_services(self, type_name: str) -> Sequence[str]:  # type: ignore[override]
            if type_name not in self._service_names:
                self._service_names[type_name] = ServiceNames(self, type_name)
            return self._service_names[type_name]

    class PlainJSONFileLoader(JSONFileLoader):
        """botocore's JSON file loader without ``object_pairs_hook=OrderedDict``, which
        doubles the time to decode ``endpoints.json`` (1.2 MB, read on every cold start)."""

        def load_file(self, file_path: str) -> Any:
            for extension, opener in ((".json", open), (".json.gz", gzip.open)):
                path = file_path + extension
                if os.path.isfile(path):
                    with opener(path, "rb") as f:
                        return json.loads(f.read().decode("utf-8"))
            return super().load_file(file_path)  # a format this botocore added since

    paths = None
    if search_path is not None:
        paths = [os.path.expanduser(os.path.expandvars(p)) for p in search_path.split(os.pathsep)]
    return NamedServiceLoader(extra_search_paths=paths, file_loader=PlainJSONFileLoader())


class ServiceNames(Sequence[str]):
    """The services with models of ``type_name``, as botocore's sorted list: membership is
    checked in the named service's directory; listing them all (for an error message or
    ``get_available_services``) scans the data path as botocore does, once."""

    def __init__(self, loader: Loader, type_name: str) -> None:
        self._loader = loader
        self._type_name = type_name
        self._all: list[str] | None = None

    def __contains__(self, name: object) -> bool:
        from botocore.exceptions import DataNotFoundError

        if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
            return False
        try:  # cached by the loader: determine_latest_version asks the same next
            return bool(self._loader.list_api_versions(name, self._type_name))
        except DataNotFoundError:
            return False

    def _names(self) -> list[str]:
        if self._all is None:
            from botocore.loaders import Loader

            self._all = list(Loader.list_available_services(self._loader, self._type_name))
        return self._all

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._names()[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __eq__(self, other: object) -> bool:
        return list(self) == other if isinstance(other, list) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like the list it stands for


def client(
    service: str,
    *,
    config: Config | None = None,
    endpoint_url: str | None = None,
    region_name: str | None = None,
) -> Any:
    """A low-level client of ``service``, as ``boto3.client(service, ...)`` would make it."""
    options: dict[str, Any] = {"config": config, "endpoint_url": endpoint_url}
    if region_name is not None:  # else the region boto3 would resolve (AWS_REGION, config)
        options["region_name"] = region_name
    boto3 = sys.modules.get("boto3")
    if boto3 is not None:  # loaded anyway: share its default session
        made = boto3.client(service, **options)
    else:
        made = session().create_client(service, **options)
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
