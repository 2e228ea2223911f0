"""The console's page and JSON endpoints over real HTTP, next to the webhook they leave alone."""

from __future__ import annotations

import json
import re
import tomllib
import uuid
from fnmatch import fnmatch
from typing import Any

import pytest

from aiflow.lambda_ import Settings, lambda_handler
from aiflow.local.console import CallConsole
from aiflow.local.console.app import STATIC_FILES
from aiflow.local.server import DevServer
from aiflow.local.template import REPO_ROOT
from aiflow.store.dynamodb import item_doc
from aiflow.store.memory import MemoryStore
from tests.examples.hello import assistant as hello

from .conftest import Served, request

pytestmark = pytest.mark.slow
CONSOLE_DIR = REPO_ROOT / "functions" / "aiflow" / "local" / "console"


def session_start(session_id: str) -> dict[str, Any]:
    return {
        "type": "session_start",
        "session": {
            "id": session_id,
            "account_id": "local-account",
            "phone_number": "+4921198765400",
            "from_phone_number": "+4917612345678",
            "to_phone_number": "+4921198765400",
        },
    }


def user_speak(session_id: str, text: str) -> dict[str, Any]:
    return {"type": "user_speak", "text": text, "session": {"id": session_id}}


# --- the page --------------------------------------------------------------------------------


def test_the_page_is_served_at_the_root_with_its_named_controls(served: Served) -> None:
    status, headers, body = request(served.url("/"))

    page = body.decode()
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert 'role="log"' in page
    assert re.search(r"<button[^>]*>Start call</button>", page)
    assert '<label for="caller-says">Caller says</label>' in page
    for key in "0123456789*#":
        assert f'data-key="{key}" disabled>{key}</button>' in page
    assert ">Stay silent</button>" in page and ">Hang up</button>" in page


def test_the_scripts_and_style_sheet_are_served_and_nothing_else(served: Served) -> None:
    for name, content_type in STATIC_FILES.items():
        status, headers, body = request(served.url(f"/__aiflow/console/{name}"))
        assert (status, headers["Content-Type"]) == (200, content_type), name
        assert body == (CONSOLE_DIR / name).read_bytes()

    for other in ("app.py", "..%2fapp.py", "../server.py", "index.html"):
        status, _, body = request(served.url(f"/__aiflow/console/{other}"))
        assert status == 404, other
        assert json.loads(body)["code"] == "not_found"


def test_every_module_the_page_imports_is_served(served: Served) -> None:
    sources = [(CONSOLE_DIR / name).read_text() for name in STATIC_FILES if name.endswith(".js")]
    imported = {m for text in sources for m in re.findall(r'from "\./([\w.]+)"', text)}

    assert imported and imported <= set(STATIC_FILES)


# --- the token, for this machine only ----------------------------------------------------


def test_the_page_gets_the_webhook_and_its_token_on_loopback(served: Served) -> None:
    status, headers, body = request(served.url("/__aiflow/session"))

    session = json.loads(body)
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert session["webhook"] == "/webhook"
    assert session["token"] == served.token
    assert session["assistant"] == "receptionist"


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "attacker.example:3000"},  # DNS rebinding: a foreign name for our address
        {"X-Forwarded-For": "203.0.113.7"},  # a tunnel or proxy in front of the dev server
        {"Forwarded": "for=203.0.113.7"},
        {"Sec-Fetch-Site": "cross-site"},  # another site's script in the developer's browser
    ],
)
def test_no_token_leaves_loopback(served: Served, headers: dict[str, str]) -> None:
    status, _, body = request(served.url("/__aiflow/session"), headers=headers)

    assert status == 403
    assert json.loads(body)["code"] == "loopback_only"
    assert served.token.encode() not in body


@pytest.mark.parametrize(
    ("client", "status"), [("192.168.1.5", 403), ("::ffff:127.0.0.1", 200), ("::1", 200)]
)
def test_only_loopback_addresses_are_answered(served: Served, client: str, status: int) -> None:
    headers = {"Host": f"127.0.0.1:{served.server.port}"}

    answer = served.console.respond("GET", "/__aiflow/session", headers, client)

    assert answer.status == status


def test_the_console_routes_take_get_only(served: Served) -> None:
    status, headers, body = request(served.url("/__aiflow/session"), method="POST", body={})

    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    assert json.loads(body)["code"] == "method_not_allowed"


def test_an_unknown_console_path_is_a_json_404(served: Served) -> None:
    status, _, body = request(served.url("/__aiflow/nothing-here"))

    assert status == 404
    assert json.loads(body)["code"] == "not_found"


# --- calls -------------------------------------------------------------------------------


def test_a_call_through_the_webhook_is_listed_with_its_turns_and_stored_state(
    served: Served,
) -> None:
    session_id = str(uuid.uuid4())
    auth = {"X-API-TOKEN": served.token}
    assert (
        request(
            served.url("/webhook"), method="POST", body=session_start(session_id), headers=auth
        )[0]
        == 200
    )
    question = user_speak(session_id, "Wo ist die Praxis?")
    assert request(served.url("/webhook"), method="POST", body=question, headers=auth)[0] == 200

    listing = json.loads(request(served.url("/__aiflow/calls"))[2])["calls"]
    turns = json.loads(request(served.url(f"/__aiflow/calls/{session_id}"))[2])["turns"]
    status, _, body = request(served.url(f"/__aiflow/calls/{session_id}/state"))

    assert listing[0]["session_id"] == session_id
    assert (listing[0]["turns"], listing[0]["last_event"], listing[0]["ended"]) == (
        2,
        "user_speak",
        False,
    )
    assert [t["event_type"] for t in turns] == ["session_start", "user_speak"]
    assert [a["type"] for a in turns[0]["actions"]] == ["configure_transcription", "speak"]
    assert "Königsallee" in turns[1]["actions"][0]["text"]
    assert all("session_id" not in a for t in turns for a in t["actions"])
    item = served.db.item(session_id)
    assert item is not None
    stored = json.loads(body)
    assert status == 200
    assert stored["doc"] == item_doc(item)
    assert stored["version"] == int(item["version"]["N"]) == 2
    assert stored["status"] == item["status"]["S"] == "active"
    assert stored["compressed"] == ("docz" in item)
    assert stored["store"] == f"DynamoDB table {served.db.table_name()}"


def test_an_unknown_call_is_a_404(served: Served) -> None:
    for path in ("/__aiflow/calls/no-such-call", "/__aiflow/calls/no-such-call/state"):
        status, _, body = request(served.url(path))
        assert status == 404, path
        assert json.loads(body)["code"] == "no_such_call"


def test_a_once_claim_item_is_no_call(served: Served) -> None:
    session_id = str(uuid.uuid4())
    store = served.db.store()
    assert store.once_claim(session_id, "sms", "owner-1")

    status, _, _ = request(served.url(f"/__aiflow/calls/once%23{session_id}%23sms/state"))

    assert status == 404


def test_an_unreachable_store_is_a_503_naming_the_problem() -> None:
    import boto3
    from botocore.config import Config

    from aiflow.store.dynamodb import DynamoDBStore

    client = boto3.client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        region_name="eu-central-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(connect_timeout=0.5, read_timeout=0.5, retries={"total_max_attempts": 1}),
    )
    handler = lambda_handler(hello, store=DynamoDBStore("calls", client=client), token="t" * 20)
    console = CallConsole(handler, token="t" * 20)

    answer = console.respond("GET", "/__aiflow/calls/abc/state", {"Host": "127.0.0.1"}, "127.0.0.1")

    assert answer.status == 503
    assert json.loads(answer.body) == {
        "code": "store_unavailable",
        "message": "DynamoDB GetItem failed: EndpointConnectionError",
    }


def test_a_memory_store_shows_what_it_loads() -> None:
    store = MemoryStore()
    handler = lambda_handler(hello, store=store, token="t" * 20, settings=Settings())
    console = CallConsole(handler, token="t" * 20)
    with DevServer(handler, port=0, console=console) as server:
        session_id = str(uuid.uuid4())
        request(
            f"{server.url}/webhook",
            method="POST",
            body=session_start(session_id),
            headers={"X-API-TOKEN": "t" * 20},
        )

        status, _, body = request(f"{server.url}/__aiflow/calls/{session_id}/state")

    stored = json.loads(body)
    assert status == 200
    assert (stored["store"], stored["version"], stored["status"]) == ("MemoryStore", 1, "active")
    assert stored["doc"]["history"][0]["text"] == "Hello! Say something."


def test_a_handler_without_an_engine_still_gets_the_page_but_no_state() -> None:
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"statusCode": 204}

    console = CallConsole(handler, token=None)
    with DevServer(handler, port=0, console=console) as server:
        page = request(f"{server.url}/")
        session = json.loads(request(f"{server.url}/__aiflow/session")[2])
        status, _, body = request(f"{server.url}/__aiflow/calls/abc/state")

    assert page[0] == 200
    assert (session["token"], session["assistant"], session["state"]) == (None, None, False)
    assert (status, json.loads(body)["code"]) == (404, "no_store")


def test_without_a_console_the_root_is_the_routers_404() -> None:
    handler = lambda_handler(hello, store=MemoryStore(), token="t" * 20, settings=Settings())
    with DevServer(handler, port=0) as server:
        status, _, body = request(f"{server.url}/")

    assert status == 404
    assert json.loads(body)["code"] == "not_found"


# --- packaging ---------------------------------------------------------------------------


def test_the_page_is_package_data_and_stays_out_of_the_lambda_artifact() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["aiflow.local.console"]
    files = [p.name for p in CONSOLE_DIR.iterdir() if p.is_file() and p.suffix != ".py"]
    makefile = (REPO_ROOT / "functions" / "Makefile").read_text()
    local_only = re.search(r"^LOCAL_ONLY\s*:=(.*)$", makefile, re.MULTILINE)

    assert sorted(files) == sorted([*STATIC_FILES, "index.html"])
    for name in files:
        assert any(fnmatch(name, pattern) for pattern in patterns), name
    assert local_only is not None and "aiflow/local" in local_only.group(1).split()


def test_aiflow_dev_serves_the_console_and_says_where() -> None:
    from tests.functional.dev.test_cli import TOKEN, Process, environment

    process = Process(["dev", "tests.examples.hello:assistant", "--port", "0"], env=environment())
    try:
        url = process.wait_for(r"console\s+(http://127\.0\.0\.1:\d+/)\s").group(1)
        page = request(url)
        session = json.loads(request(f"{url}__aiflow/session")[2])
    finally:
        process.stop()

    assert page[0] == 200 and b'role="log"' in page[2]
    assert (session["token"], session["assistant"]) == (TOKEN, "hello")


def test_a_server_on_every_address_names_its_console_by_loopback() -> None:
    from aiflow.dev.run import console_url

    handler = lambda_handler(hello, store=MemoryStore(), token="t" * 20, settings=Settings())
    with DevServer(handler, host="0.0.0.0", port=0) as server:
        assert console_url(server) == f"http://127.0.0.1:{server.port}/"
