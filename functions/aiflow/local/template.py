"""Read ``template.yaml`` locally, so tests and the dev server cannot drift from it.

* :func:`load_template` parses the SAM/CloudFormation template, short tags included
  (``!Ref x`` becomes ``{"Ref": "x"}``, ``!Sub s`` becomes ``{"Fn::Sub": "s"}``, ...).
* :func:`table_definitions` turns every ``AWS::DynamoDB::Table`` into ``create_table`` kwargs.
* :func:`create_tables` creates those tables (TTL included) in any DynamoDB endpoint: moto,
  DynamoDB Local, or a real account.
* :func:`sample_events` loads the API Gateway sample events of ``infra/events/``.
* :func:`deployed_assistant`, :func:`code_directory` and :func:`function_environment`: what
  the template deploys (the ``Assistant`` parameter), from where (``CodeUri``) and with which
  environment, so ``aiflow dev`` and ``aiflow invoke`` run what Lambda runs.

Local-only code: it is not shipped to Lambda (functions/Makefile leaves ``aiflow/dev`` out).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import AiflowError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "ASSISTANT_PARAMETER",
    "REPO_ROOT",
    "TemplateError",
    "TemplateLoader",
    "code_directory",
    "create_tables",
    "default_template_path",
    "deployed_assistant",
    "find_project_template",
    "function_environment",
    "load_template",
    "locate_function",
    "resources_of_type",
    "sample_events",
    "table_definitions",
    "ttl_attributes",
]

REPO_ROOT = Path(__file__).resolve().parents[3]
"""The repository root, when running from a source checkout (``pip install -e .``)."""

TABLE_TYPE = "AWS::DynamoDB::Table"
ASSISTANT_PARAMETER = "Assistant"
"""The template parameter naming the deployed assistant (``module:object``)."""
ASSISTANT_ENV = "AIFLOW_ASSISTANT"
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
    A table's ``Condition`` is not evaluated: every table is defined, so a feature switched
    on locally (e.g. ``aiflow dev --record`` and ``CallRecordsTable``) finds its table.
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


def find_project_template(start: Path | None = None) -> Path | None:
    """``template.yaml`` in ``start`` (default: the working directory) or a parent, or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "template.yaml"
        if candidate.is_file():
            return candidate
    return None


def deployed_assistant(path: str | Path | None = None) -> str:
    """The assistant the template deploys: the ``Default`` of its ``Assistant`` parameter,
    else a literal ``AIFLOW_ASSISTANT`` in ``Globals`` (``module:object``).

    Raises:
        TemplateError: the template names no assistant.
    """
    template_path = Path(path) if path is not None else default_template_path()
    template = load_template(template_path)
    parameter = (template.get("Parameters") or {}).get(ASSISTANT_PARAMETER)
    if isinstance(parameter, Mapping) and isinstance(parameter.get("Default"), str):
        return str(parameter["Default"])
    variables = _global_environment(template)
    if isinstance(variables.get(ASSISTANT_ENV), str):
        return str(variables[ASSISTANT_ENV])
    raise TemplateError(
        f"{template_path} names no assistant: add a parameter {ASSISTANT_PARAMETER} "
        f"(Default: module:object) passed to the functions as {ASSISTANT_ENV}"
    )


def code_directory(path: str | Path | None = None, logical_id: str = "WebhookFunction") -> Path:
    """The folder Lambda puts on ``sys.path`` for ``logical_id``: its ``CodeUri`` (or the
    ``Globals`` one), relative to the template."""
    template_path = Path(path) if path is not None else default_template_path()
    template = load_template(template_path)
    function = (template.get("Resources") or {}).get(logical_id) or {}
    code_uri = (function.get("Properties") or {}).get("CodeUri")
    if code_uri is None:
        code_uri = ((template.get("Globals") or {}).get("Function") or {}).get("CodeUri")
    if not isinstance(code_uri, str):
        raise TemplateError(f"{template_path}: {logical_id} has no local CodeUri")
    return (template_path.parent / code_uri).resolve()


def function_environment(
    template: Mapping[str, Any],
    logical_id: str,
    *,
    resources: Mapping[str, str] | None = None,
    parameters: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment variables of a function as the template sets them: ``Globals`` merged
    with the function's own, as SAM does.

    A ``Ref`` to a parameter becomes its value (``parameters``, else its ``Default``); a
    ``Ref`` to a resource becomes ``resources[logical id]`` if given, else ``""``; anything
    else a local run cannot know (``Fn::If``, ``Fn::GetAtt``, ...) becomes ``""`` too, like a
    variable that ``sam local`` leaves unset unless ``--env-vars`` fills it.
    """
    own = ((template.get("Resources") or {}).get(logical_id) or {}).get("Properties") or {}
    variables = {
        **_global_environment(template),
        **((own.get("Environment") or {}).get("Variables") or {}),
    }
    declared: Mapping[str, Any] = template.get("Parameters") or {}
    resolved: dict[str, str] = {}
    for name, value in variables.items():
        if isinstance(value, dict) and set(value) == {"Ref"}:
            ref = value["Ref"]
            if parameters is not None and ref in parameters:
                value = parameters[ref]
            elif isinstance(declared.get(ref), Mapping) and "Default" in declared[ref]:
                value = declared[ref]["Default"]
            else:
                value = (resources or {}).get(ref, "")
        resolved[str(name)] = value if isinstance(value, str) else ""
        if isinstance(value, int | float) and not isinstance(value, bool):
            resolved[str(name)] = str(value)
    return resolved


@dataclass(frozen=True)
class LocatedFunction:
    """A function of the template, or of a nested application it builds from a local file
    (``AWS::Serverless::Application`` with a ``Location`` path, like infra/websocket.yaml)."""

    logical_id: str
    template_path: Path
    template: dict[str, Any]
    parameters: dict[str, str]
    """Values of the (nested) template's parameters as the parent passes them."""

    @property
    def properties(self) -> dict[str, Any]:
        """The function's ``Properties``."""
        resource = self.template["Resources"][self.logical_id]
        return dict(resource.get("Properties") or {})

    def value(self, key: str) -> Any:
        """A property (``Globals`` as fallback) with a ``Ref`` to a parameter resolved."""
        value = self.properties.get(key)
        if value is None:
            value = ((self.template.get("Globals") or {}).get("Function") or {}).get(key)
        if isinstance(value, dict) and set(value) == {"Ref"}:
            name = value["Ref"]
            declared = (self.template.get("Parameters") or {}).get(name) or {}
            return self.parameters.get(name, declared.get("Default"))
        return value

    def environment(self, resources: Mapping[str, str] | None = None) -> dict[str, str]:
        """See :func:`function_environment`."""
        return function_environment(
            self.template, self.logical_id, resources=resources, parameters=self.parameters
        )

    def code_directory(self) -> Path:
        """The folder Lambda would run the function from (its ``CodeUri``)."""
        code_uri = self.value("CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{self.template_path}: {self.logical_id} has no local CodeUri")
        return (self.template_path.parent / code_uri).resolve()


def locate_function(path: str | Path, logical_id: str) -> LocatedFunction:
    """Find ``logical_id`` in the template at ``path`` or in its local nested applications.

    Raises:
        TemplateError: no such function.
    """
    template_path = Path(path)
    template = load_template(template_path)
    if logical_id in resources_of_type(template, "AWS::Serverless::Function"):
        return LocatedFunction(logical_id, template_path, template, {})
    declared: Mapping[str, Any] = template.get("Parameters") or {}
    for application in resources_of_type(template, "AWS::Serverless::Application").values():
        props = application.get("Properties") or {}
        location = props.get("Location")
        if not isinstance(location, str) or "://" in location:
            continue
        nested_path = (template_path.parent / location).resolve()
        nested = load_template(nested_path)
        if logical_id not in resources_of_type(nested, "AWS::Serverless::Function"):
            continue
        parameters: dict[str, str] = {}
        for name, value in (props.get("Parameters") or {}).items():
            if isinstance(value, dict) and set(value) == {"Ref"}:
                value = (declared.get(value["Ref"]) or {}).get("Default")
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                parameters[str(name)] = str(value)
        return LocatedFunction(logical_id, nested_path, nested, parameters)
    raise TemplateError(f"{template_path} has no function {logical_id}")


def _global_environment(template: Mapping[str, Any]) -> dict[str, Any]:
    function = ((template.get("Globals") or {}).get("Function")) or {}
    variables = (function.get("Environment") or {}).get("Variables") or {}
    return dict(variables)


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
