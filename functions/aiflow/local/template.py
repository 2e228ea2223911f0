"""Read ``template.yaml`` locally, so tests and the dev server cannot drift from it.

* :func:`load_template` parses the SAM/CloudFormation template, short tags included
  (``!Ref x`` becomes ``{"Ref": "x"}``, ``!Sub s`` becomes ``{"Fn::Sub": "s"}``, ...).
* :func:`table_definitions` turns every ``AWS::DynamoDB::Table`` into ``create_table`` kwargs.
* :func:`create_tables` creates those tables (TTL included) in any DynamoDB endpoint: moto,
  DynamoDB Local, or a real account.
* :func:`sample_events` loads the API Gateway sample events of ``infra/events/``.

Local-only code: it is not shipped to Lambda (functions/Makefile leaves ``aiflow/dev`` out).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import AiflowError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "REPO_ROOT",
    "TemplateError",
    "TemplateLoader",
    "create_tables",
    "default_template_path",
    "load_template",
    "resources_of_type",
    "sample_events",
    "table_definitions",
    "ttl_attributes",
]

REPO_ROOT = Path(__file__).resolve().parents[3]
"""The repository root, when running from a source checkout (``pip install -e .``)."""

TABLE_TYPE = "AWS::DynamoDB::Table"
_TABLE_KEYS = (
    "AttributeDefinitions",
    "BillingMode",
    "GlobalSecondaryIndexes",
    "KeySchema",
    "LocalSecondaryIndexes",
    "ProvisionedThroughput",
    "StreamSpecification",
)


class TemplateError(AiflowError):
    """The template cannot be read or holds something this helper cannot translate."""

    code = "bad_template"


class TemplateLoader(yaml.SafeLoader):
    """A YAML loader for CloudFormation: short-form intrinsic tags, and dates stay strings."""

    # CloudFormation reads `Version: 2012-10-17` as a string, not as a date.
    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - the three node kinds above are all YAML has
        raise TemplateError(f"cannot read the YAML node of !{suffix}")
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{suffix}": value}


TemplateLoader.add_multi_constructor("!", _construct_intrinsic)


def default_template_path() -> Path:
    """``template.yaml`` at the repository root."""
    return REPO_ROOT / "template.yaml"


def load_template(path: str | Path | None = None) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (YAML or JSON) into plain dicts and lists.

    Raises:
        TemplateError: the file is missing, is not YAML, or is not a mapping.
    """
    template_path = Path(path) if path is not None else default_template_path()
    try:
        text = template_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read {template_path}: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=TemplateLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise TemplateError(f"{template_path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{template_path} is not a template (no Resources mapping)")
    return data


def resources_of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, Any]:
    """The resources of one type, by logical id, in template order."""
    resources: Mapping[str, Any] = template.get("Resources") or {}
    return {
        logical_id: resource
        for logical_id, resource in resources.items()
        if isinstance(resource, Mapping) and resource.get("Type") == resource_type
    }


def table_definitions(
    template: Mapping[str, Any],
    *,
    prefix: str = "",
    parameters: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every ``AWS::DynamoDB::Table`` of ``template`` as boto3 ``create_table`` kwargs.

    ``TableName`` is ``prefix + logical id`` (a table name in the template is ignored: local
    tables must not collide with deployed ones). ``Ref`` to a template parameter resolves to
    ``parameters[name]`` or the parameter's ``Default``; other intrinsics are rejected.
    Properties that only matter in AWS (point-in-time recovery, SSE, deletion protection,
    tags) are left out; TTL is applied by :func:`create_tables` (see :func:`ttl_attributes`).
    """
    resolve = _Resolver(template, parameters or {})
    definitions: dict[str, dict[str, Any]] = {}
    for logical_id, resource in resources_of_type(template, TABLE_TYPE).items():
        raw = resource.get("Properties") or {}
        props = resolve({key: raw[key] for key in _TABLE_KEYS if key in raw}, logical_id)
        billing = props.get("BillingMode", "PROVISIONED")
        kwargs: dict[str, Any] = {
            "TableName": f"{prefix}{logical_id}",
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": billing,
        }
        if billing == "PROVISIONED":
            kwargs["ProvisionedThroughput"] = _throughput(props, logical_id)
        gsis = []
        for index in props.get("GlobalSecondaryIndexes") or []:
            gsi = {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
            if billing == "PROVISIONED":
                gsi["ProvisionedThroughput"] = _throughput(index, logical_id)
            gsis.append(gsi)
        if gsis:
            kwargs["GlobalSecondaryIndexes"] = gsis
        lsis = [
            {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
            for index in props.get("LocalSecondaryIndexes") or []
        ]
        if lsis:
            kwargs["LocalSecondaryIndexes"] = lsis
        stream = props.get("StreamSpecification")
        if stream and stream.get("StreamViewType"):
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        definitions[logical_id] = kwargs
    return definitions


def ttl_attributes(
    template: Mapping[str, Any], *, parameters: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Logical id -> TTL attribute name, for every table with TTL enabled."""
    resolve = _Resolver(template, parameters or {})
    attributes: dict[str, str] = {}
    for logical_id, resource in resources_of_type(template, TABLE_TYPE).items():
        props = resource.get("Properties") or {}
        spec = resolve(props.get("TimeToLiveSpecification") or {}, logical_id)
        if _truthy(spec.get("Enabled")) and spec.get("AttributeName"):
            attributes[logical_id] = str(spec["AttributeName"])
    return attributes


def create_tables(
    client: DynamoDBClient,
    template_path: str | Path | None = None,
    *,
    prefix: str = "",
    parameters: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Create the template's tables with ``client`` and enable their TTL.

    A table that already exists (a restarted dev server on a persistent DynamoDB Local) is
    reused as it is. Returns logical id -> table name, e.g. ``{"CallsTable": "CallsTable"}``.
    """
    template = load_template(template_path)
    ttl = ttl_attributes(template, parameters=parameters)
    names: dict[str, str] = {}
    for logical_id, kwargs in table_definitions(
        template, prefix=prefix, parameters=parameters
    ).items():
        name = kwargs["TableName"]
        try:
            client.create_table(**kwargs)
        except client.exceptions.ResourceInUseException:
            pass
        client.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        if logical_id in ttl:
            status = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
            if status.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                client.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl[logical_id]},
                )
        names[logical_id] = name
    return names


def sample_events(directory: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """The API Gateway sample events (``infra/events/*.json``): file stem -> event."""
    events_dir = Path(directory) if directory is not None else REPO_ROOT / "infra" / "events"
    events: dict[str, dict[str, Any]] = {}
    for path in sorted(events_dir.glob("*.json")):
        events[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return events


class _Resolver:
    """Resolves ``Ref`` to template parameters; any other intrinsic is an error."""

    def __init__(self, template: Mapping[str, Any], overrides: Mapping[str, str]) -> None:
        self._parameters: Mapping[str, Any] = template.get("Parameters") or {}
        self._overrides = overrides

    def __call__(self, value: Any, where: str) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                (key, arg), *_ = value.items()
                if key == "Ref":
                    return self._ref(arg, where)
                if key.startswith("Fn::") or key == "Condition":
                    raise TemplateError(f"{where}: cannot resolve {key} locally")
            return {key: self(item, where) for key, item in value.items()}
        if isinstance(value, list):
            return [self(item, where) for item in value]
        return value

    def _ref(self, name: Any, where: str) -> Any:
        if name in self._overrides:
            return self._overrides[name]
        parameter = self._parameters.get(name)
        if isinstance(parameter, Mapping) and "Default" in parameter:
            return parameter["Default"]
        raise TemplateError(f"{where}: cannot resolve Ref {name} locally (not a parameter)")


def _throughput(props: Mapping[str, Any], where: str) -> dict[str, int]:
    throughput = props.get("ProvisionedThroughput")
    if not isinstance(throughput, Mapping):
        raise TemplateError(f"{where}: PROVISIONED billing needs ProvisionedThroughput")
    return {
        "ReadCapacityUnits": int(throughput["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(throughput["WriteCapacityUnits"]),
    }


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")
