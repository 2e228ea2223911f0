"""aiflow's botocore session finds a service's model without listing every service.

botocore's loader checks a service name against a listing of all ~440 service directories
of its data path (about 15 ms of a cold start); aiflow's loader checks the one directory.
Everything else must stay botocore's: the same models, the same error for an unknown name,
the same full list when one is asked for, and ``AWS_DATA_PATH`` honoured.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import botocore.loaders
import botocore.session
import pytest
from botocore.exceptions import UnknownServiceError

from aiflow import awsclients


@pytest.fixture
def full_scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The model types botocore listed every service directory for."""
    scans: list[str] = []
    original = botocore.loaders.Loader.list_available_services

    def spy(self: botocore.loaders.Loader, type_name: str) -> list[str]:
        scans.append(type_name)
        return original(self, type_name)  # type: ignore[no-any-return]

    monkeypatch.setattr(botocore.loaders.Loader, "list_available_services", spy)
    return scans


@pytest.fixture
def fresh_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """aiflow's process-wide session, made anew for one test."""
    monkeypatch.setattr(awsclients, "_session", None)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    yield


def test_a_client_of_aiflows_session_never_lists_every_service(
    fresh_session: None, full_scans: list[str]
) -> None:
    dynamodb = awsclients.session().create_client("dynamodb")
    secrets = awsclients.session().create_client("secretsmanager")

    assert full_scans == []
    assert "GetItem" in dynamodb.meta.service_model.operation_names
    assert dynamodb.meta.region_name == "eu-central-1"
    assert "GetSecretValue" in secrets.meta.service_model.operation_names


def test_the_model_is_botocores_own(fresh_session: None) -> None:
    ours = awsclients.session().get_service_model("dynamodb")
    theirs = botocore.session.get_session().get_service_model("dynamodb")

    assert ours.api_version == theirs.api_version
    assert ours.operation_names == theirs.operation_names


def test_an_unknown_service_is_refused_as_botocore_refuses_it(fresh_session: None) -> None:
    with pytest.raises(UnknownServiceError) as raised:
        awsclients.session().create_client("dynamodbb")

    assert "Unknown service: 'dynamodbb'" in str(raised.value)
    known = str(raised.value).split("Valid service names are: ")[1].rstrip(".").split(", ")
    assert known == botocore.session.get_session().get_available_services()


def test_the_full_list_is_botocores_when_asked_for(fresh_session: None) -> None:
    ours = awsclients.session().get_available_services()
    theirs = botocore.session.get_session().get_available_services()

    assert list(ours) == theirs
    assert ours == theirs
    assert len(ours) == len(theirs)
    assert ours[0] == theirs[0]


def test_membership_is_decided_by_the_named_directory() -> None:
    names = awsclients.data_loader().list_available_services("service-2")

    assert "dynamodb" in names
    assert "secretsmanager" in names
    assert "no-such-service" not in names
    assert "" not in names
    assert "../dynamodb" not in names
    assert ".." not in names
    assert 42 not in names
    # a service without models of this type is not one of them
    assert "dynamodb" not in awsclients.data_loader().list_available_services("nope-1")


def test_aws_data_path_is_searched_as_botocore_searches_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_session: None
) -> None:
    model = {"version": "2.0", "metadata": {"apiVersion": "2026-01-01"}, "operations": {}}
    folder = tmp_path / "aiflow-test" / "2026-01-01"
    folder.mkdir(parents=True)
    (folder / "service-2.json").write_text(json.dumps(model), encoding="utf-8")
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))

    loader = awsclients.session().get_component("data_loader")

    assert "aiflow-test" in loader.list_available_services("service-2")
    assert loader.load_service_model("aiflow-test", "service-2") == model
    assert "dynamodb" in loader.list_available_services("service-2")  # the builtin data too


# What aiflow's functions read: the endpoint and retry data, and the models of the services
# they call (DynamoDB, Secrets Manager, Lambda, API Gateway's management API, Bedrock).
DATA = ("endpoints", "partitions", "sdk-default-configuration", "_retry")
SERVICES = ("dynamodb", "secretsmanager", "lambda", "apigatewaymanagementapi", "bedrock-runtime")


@pytest.mark.parametrize("name", DATA)
def test_data_decodes_to_what_botocore_decodes_in_the_same_order(name: str) -> None:
    ours = awsclients.data_loader().load_data(name)
    theirs = botocore.loaders.create_loader().load_data(name)

    assert json.dumps(ours) == json.dumps(theirs)  # same keys, values and order
    assert type(ours) is dict


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("type_name", ["service-2", "endpoint-rule-set-1"])
def test_models_decode_to_what_botocore_decodes_in_the_same_order(
    service: str, type_name: str
) -> None:
    ours = awsclients.data_loader().load_service_model(service, type_name)
    theirs = botocore.loaders.create_loader().load_service_model(service, type_name)

    assert json.dumps(ours) == json.dumps(theirs)


def test_a_data_file_in_another_format_is_left_to_botocore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(
        botocore.loaders.JSONFileLoader, "load_file", lambda self, path: asked.append(path)
    )

    assert awsclients.data_loader().file_loader.load_file(str(tmp_path / "nothing")) is None
    assert asked == [str(tmp_path / "nothing")]


def test_the_full_list_is_scanned_once_per_model_type(full_scans: list[str]) -> None:
    loader = awsclients.data_loader()
    first = list(loader.list_available_services("service-2"))
    again = list(loader.list_available_services("service-2"))

    assert first == again
    assert full_scans == ["service-2"]
