from __future__ import annotations

import datetime
import enum
import logging
from typing import Annotated, Literal, Optional

import pytest
from pydantic import BaseModel, Field

from aiflow import AssistantDefinitionError, Call, hangup
from aiflow.agents import Tool, Toolbox, ToolEffect, ToolError, tool, tool_result
from aiflow.agents.tools import parse_docstring


class Address(BaseModel):
    """A postal address."""

    street: str
    zip_code: str = Field(description="five digits")


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@tool
def book(
    day: Literal["mon", "tue"],
    hour: int,
    note: Optional[str] = None,  # noqa: UP045 - the old spelling must work too
    tags: list[str] | None = None,
    price: float = 1.5,
    urgent: bool = False,
) -> dict[str, object]:
    """Book an appointment.

    The second paragraph is not sent to the model.

    Args:
        day: the weekday.
        hour (int): the hour, 8 to 18,
            full hours only.
        note: anything the caller wants us to know.

    Returns:
        the booking.
    """
    return {"day": day, "hour": hour, "note": note, "tags": tags, "price": price, "u": urgent}


def test_tool_spec_from_signature_and_docstring() -> None:
    assert book.spec() == {
        "toolSpec": {
            "name": "book",
            "description": "Book an appointment.",
            "inputSchema": {
                "json": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "day": {
                            "description": "the weekday.",
                            "enum": ["mon", "tue"],
                            "type": "string",
                        },
                        "hour": {
                            "description": "the hour, 8 to 18, full hours only.",
                            "type": "integer",
                        },
                        "note": {
                            "type": "string",
                            "description": "anything the caller wants us to know.",
                        },
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "price": {"default": 1.5, "type": "number"},
                        "urgent": {"default": False, "type": "boolean"},
                    },
                    "required": ["day", "hour"],
                }
            },
        }
    }


def test_decorated_function_still_callable() -> None:
    assert book("mon", 9)["hour"] == 9
    assert isinstance(book, Tool)
    assert repr(book) == "Tool('book')"


def test_invoke_validates_and_coerces_arguments() -> None:
    result = book.invoke({"day": "tue", "hour": "10", "tags": ["x"]}, tool_use_id="t1")
    assert result == {
        "toolResult": {
            "toolUseId": "t1",
            "content": [
                {
                    "json": {
                        "day": "tue",
                        "hour": 10,
                        "note": None,
                        "tags": ["x"],
                        "price": 1.5,
                        "u": False,
                    }
                }
            ],
        }
    }


def test_invalid_arguments_are_an_error_result_not_an_exception() -> None:
    result = book.invoke({"day": "sun", "extra": 1}, tool_use_id="t2")
    block = result["toolResult"]
    assert block["status"] == "error"
    text = block["content"][0]["text"]
    assert text.startswith("invalid arguments: ")
    assert "day: Input should be 'mon' or 'tue'" in text
    assert "hour: Field required" in text
    assert "extra: Extra inputs are not permitted" in text


def test_raising_tool_gives_error_result_and_logs_type_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @tool
    def lookup(customer: str) -> str:
        """Look a customer up."""
        raise KeyError(f"no customer {customer}")

    with caplog.at_level(logging.INFO, logger="aiflow.agents"):
        result = lookup.invoke({"customer": "Erika Mustermann"}, tool_use_id="t3")
    assert result == {
        "toolResult": {
            "toolUseId": "t3",
            "content": [{"text": "KeyError: 'no customer Erika Mustermann'"}],
            "status": "error",
        }
    }
    assert "Mustermann" not in caplog.text
    assert "lookup raised KeyError" in caplog.text


def test_nested_models_enums_dates_and_annotated_constraints() -> None:
    @tool(name="send-letter", description="Send a letter.")
    def send(
        to: Address,
        color: Color = Color.RED,
        on: datetime.date | None = None,
        copies: Annotated[int, Field(ge=1, le=3, description="how many")] = 1,
    ) -> Address:
        return to

    schema = send.input_schema
    assert send.name == "send-letter"
    assert schema["properties"]["to"] == {
        "description": "A postal address.",
        "type": "object",
        "properties": {
            "street": {"type": "string"},
            "zip_code": {"description": "five digits", "type": "string"},
        },
        "required": ["street", "zip_code"],
    }
    assert schema["properties"]["color"] == {
        "enum": ["red", "blue"],
        "type": "string",
        "default": "red",
    }
    assert schema["properties"]["on"] == {"format": "date", "type": "string"}
    assert schema["properties"]["copies"] == {
        "default": 1,
        "description": "how many",
        "maximum": 3,
        "minimum": 1,
        "type": "integer",
    }
    assert "$defs" not in schema
    result = send.invoke({"to": {"street": "Hauptstr. 1", "zip_code": "40210"}}, tool_use_id="x")
    assert result["toolResult"]["content"] == [
        {"json": {"street": "Hauptstr. 1", "zip_code": "40210"}}
    ]
    assert send.invoke({"to": {}, "copies": 5}, tool_use_id="x")["toolResult"]["status"] == "error"


class Node(BaseModel):
    name: str
    children: list[Node] = []


def test_recursive_model_keeps_references() -> None:
    @tool
    def tree(root: Node) -> int:
        """Count nodes."""
        return 1 + len(root.children)

    schema = tree.input_schema
    assert "$defs" in schema and "Node" in schema["$defs"]
    assert "title" not in schema["$defs"]["Node"]
    result = tree.invoke({"root": {"name": "a", "children": [{"name": "b"}]}}, tool_use_id="r")
    assert result["toolResult"]["content"] == [{"json": {"result": 2}}]


def test_call_parameter_is_injected_and_hidden_from_the_model() -> None:
    @tool
    def my_number(call: Call, formatted: bool = True) -> str:
        """The caller's own number."""
        return f"{call.caller} {formatted}"

    assert my_number.input_schema == {
        "type": "object",
        "additionalProperties": False,
        "properties": {"formatted": {"default": True, "type": "boolean"}},
    }
    call = Call("s")
    call.caller = "+491701234567"
    result = my_number.invoke({}, tool_use_id="n", call=call)
    assert result["toolResult"]["content"] == [{"text": "+491701234567 True"}]


def test_parameter_names_that_shadow_basemodel_attributes() -> None:
    @tool
    def store(json: str, copy: int, /, schema: bool = False) -> str:
        """Store a document."""
        return f"{json}-{copy}-{schema}"

    assert list(store.input_schema["properties"]) == ["json", "copy", "schema"]
    result = store.invoke({"json": "a", "copy": 2}, tool_use_id="s")
    assert result["toolResult"]["content"] == [{"text": "a-2-False"}]


def test_no_parameters() -> None:
    @tool
    def now() -> None:
        """The current time."""

    assert now.input_schema == {"type": "object", "additionalProperties": False, "properties": {}}
    assert now.invoke(None, tool_use_id="n")["toolResult"]["content"] == [{"text": "OK"}]


@pytest.mark.parametrize(
    ("value", "content"),
    [
        ("hello", {"text": "hello"}),
        ("", {"text": "(empty)"}),
        (None, {"text": "OK"}),
        ({"a": 1}, {"json": {"a": 1}}),
        ([1, 2], {"json": {"result": [1, 2]}}),
        (3.5, {"json": {"result": 3.5}}),
        (True, {"json": {"result": True}}),
        (datetime.date(2025, 1, 2), {"json": {"result": "2025-01-02"}}),
        (Address(street="a", zip_code="1"), {"json": {"street": "a", "zip_code": "1"}}),
    ],
)
def test_result_conversion(value: object, content: dict[str, object]) -> None:
    assert tool_result("id", value) == {"toolResult": {"toolUseId": "id", "content": [content]}}


def test_long_results_are_cut() -> None:
    text = tool_result("id", "x" * 5000, max_chars=100)["toolResult"]["content"][0]["text"]
    assert len(text) == 100 and text.endswith(" [truncated]")
    big = tool_result("id", {"k": "y" * 500}, max_chars=100)["toolResult"]["content"][0]
    assert set(big) == {"text"} and big["text"].startswith('{"k":"yyy')


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("async def f(x: int) -> int:\n    'Doc.'\n    return x", "synchronous"),
        ("def f(x: int) -> int:\n    return x", "needs a description"),
        ("def f(x) -> int:\n    'Doc.'\n    return x", "needs a type annotation"),
        ("def f(*args: int) -> int:\n    'Doc.'\n    return 1", r"\*args or \*\*kwargs"),
        ("def f(**kw: int) -> int:\n    'Doc.'\n    return 1", r"\*args or \*\*kwargs"),
        ("def f(x: 'Missing') -> int:\n    'Doc.'\n    return 1", "cannot resolve"),
    ],
)
def test_definition_errors(source: str, message: str) -> None:
    namespace: dict[str, object] = {}
    exec(source, namespace)
    with pytest.raises(AssistantDefinitionError, match=message) as info:
        tool(namespace["f"])  # type: ignore[arg-type]
    assert info.value.code == "bad_tool"


def test_bad_names() -> None:
    def f() -> None:
        """Doc."""

    with pytest.raises(AssistantDefinitionError, match="tool name"):
        tool(name="has space")(f)
    with pytest.raises(AssistantDefinitionError, match="tool name"):
        tool(name="x" * 65)(f)


def test_toolbox_registration_order_duplicates_and_reserved_names() -> None:
    box = Toolbox(reserved={"end_call"})

    @box.tool
    def first(a: int) -> int:
        """First."""
        return a

    @box.tool(description="Second one.")
    def second() -> None:
        pass

    def plain(q: str) -> str:
        """Plain function."""
        return q

    box.add(plain)
    assert [s["toolSpec"]["name"] for s in box.specs()] == ["first", "second", "plain"]
    assert len(box) == 3 and "plain" in box and box.get("nope") is None
    assert [t.name for t in box] == ["first", "second", "plain"]
    with pytest.raises(AssistantDefinitionError, match="already registered"):
        box.add(plain)
    with pytest.raises(AssistantDefinitionError, match="reserved"):
        box.add(tool(name="end_call")(plain))
    unknown = box.invoke("nope", {}, tool_use_id="u")["toolResult"]
    assert unknown["status"] == "error"
    assert unknown["content"] == [{"text": "unknown tool 'nope'; tools: first, second, plain"}]
    assert box.invoke("first", {"a": 4}, tool_use_id="f")["toolResult"]["content"] == [
        {"json": {"result": 4}}
    ]


def test_parse_docstring_sections() -> None:
    summary, args = parse_docstring(
        """Find a slot
        in the calendar.

        Args:
            day (str): weekday
                in English.
            *rest: ignored star.
            hour: the hour.

        Raises:
            KeyError: not an arg.
        """
    )
    assert summary == "Find a slot in the calendar."
    assert args == {"day": "weekday in English.", "rest": "ignored star.", "hour": "the hour."}
    assert parse_docstring("") == ("", {})
    assert parse_docstring("Args:\n    x: y")[1] == {"x": "y"}


def test_a_tool_refuses_with_tool_error_and_the_model_gets_the_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    @tool
    def cancel(booking: str) -> str:
        """Cancel a booking."""
        raise ToolError(f"booking {booking} is in the past; only future ones can be cancelled")

    with caplog.at_level(logging.INFO, logger="aiflow.agents"):
        result = cancel.invoke({"booking": "B-17"}, tool_use_id="c")["toolResult"]
    assert result["status"] == "error"
    assert result["content"] == [
        {"text": "booking B-17 is in the past; only future ones can be cancelled"}
    ]
    assert caplog.records == []  # a refusal is no failure


def test_a_tool_acts_on_the_call_by_returning_an_effect() -> None:
    @tool
    def goodbye() -> ToolEffect:
        """Say goodbye and hang up."""
        return ToolEffect({"ended": True}, say="Bye!", then=hangup())

    run = goodbye.run({}, tool_use_id="g")
    assert run.result == {"toolResult": {"toolUseId": "g", "content": [{"json": {"ended": True}}]}}
    assert run.effect is not None and run.effect.ends_turn and run.effect.then == hangup()
    assert goodbye.invoke({}, tool_use_id="g") == run.result
    assert not ToolEffect("sent").ends_turn


def test_an_explicit_schema_is_shown_and_unknown_arguments_are_ignored() -> None:
    schema = {"type": "object", "properties": {"room": {"enum": ["a", "b"]}}, "required": ["room"]}

    def reserve(room: str = "") -> str:
        """Reserve a room."""
        return f"reserved {room or 'none'}"

    reserved = Tool(reserve, input_schema=schema)
    assert reserved.spec()["toolSpec"]["inputSchema"] == {"json": schema}
    result = reserved.invoke({"room": "a", "floor": 2}, tool_use_id="r")["toolResult"]
    assert result["content"] == [{"text": "reserved a"}] and "status" not in result
