"""YAML call scenarios (``*.call.yaml``): a call written down as turns and expectations.

    name: the caller says goodbye
    assistant: receptionist.app:assistant   # an Assistant or a Router
    called: "+49 211 98765400"      # the AI Flow number (a Router picks by it; optional)
    max_latency_ms: 1000            # budget of every turn (optional)
    turns:
      - start:
        expect:
          - speak: Praxis             # text contains (case-insensitive)
      - say: Tschüss
        expect:
          - speak: {contains: Wiederhören, voice: de-DE-KatjaNeural}
          - hangup
          - no_more_actions

A file may hold several scenarios as YAML documents (``---``). Mistakes in a scenario are
reported before the call starts, naming the file, line, turn and expectation and listing
the valid keys. A handler that raises fails the scenario with its exception (type, message
and where it was raised), named by file and turn.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import AiflowError
from .describe import where_raised
from .expect import Expect
from .results import TurnResult
from .simulator import CallOptions, CallSimulator

if TYPE_CHECKING:
    from ..store.base import CallStore

SCENARIO_KEYS = {
    "name": "a title for the test (default: the file name)",
    "description": "free text",
    "assistant": "the assistant (or Router) to call, as module:object",
    "caller": "the caller's number (of an outbound call: the number called)",
    "called": "the AI Flow number (a Router picks the assistant by it)",
    "direction": "inbound (default) or outbound: the AI Flow calls `caller`",
    "outbound_data": "an outbound call's data, as aiflow.outbound.dial(data=...) attaches it",
    "transfer_fails": "every transfer fails (the caller comes back after its timeout)",
    "max_latency_ms": "time budget of every turn",
    "turns": "the list of turns",
}
# verb -> (what its value is, whether the value is required)
VERBS: dict[str, tuple[str, bool]] = {
    "start": ("nothing: the call connects (session_start)", False),
    "say": ("what the caller says (user_speak)", True),
    "interrupt": ("what the caller says, interrupting (user_speak, barged_in: true)", True),
    "press": ("keys, e.g. '12#' (one dtmf_received each)", True),
    "silence": ("nothing: the caller stays silent (user_input_timeout)", False),
    "hangup": ("nothing: the caller hangs up (session_end)", False),
    "fail_transfer": ("nothing: the transfer fails, the caller is back (session_start)", False),
    "send": ("a raw event object", True),
}
TURN_OPTIONS = {"expect": "a list of expectations", "max_latency_ms": "time budget of this turn"}
# expectation -> (valid keys of its mapping form, the key its scalar form means, or None)
EXPECTATIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "speak": (("text", "contains", "regex", "voice", "barge_in", "timeout"), "contains"),
    "audio": (("barge_in",), None),
    "hangup": ((), None),
    "transfer": (("target", "timeout"), "target"),
    "barge_in": ((), None),
    "action": (("type", "<any wire field>"), None),
    "skip": (("count",), "count"),
    "no_more_actions": ((), None),
    "nothing": ((), None),
    "status": (("code",), "code"),
    "speech_ended": ((), None),
}


class ScenarioError(AiflowError, ValueError):
    """A scenario file that cannot be run as written (the message says where and why)."""

    code = "bad_scenario"


@dataclass(frozen=True)
class Expectation:
    """One check of a turn, e.g. ``speak`` with ``{"contains": "Hallo"}``."""

    kind: str
    args: dict[str, Any]
    source: str

    def apply(self, cursor: Expect) -> None:
        """Run the check on ``cursor``."""
        __tracebackhide__ = True
        args = dict(self.args)
        if self.kind == "action":
            kind = args.pop("type")
            cursor.action(kind, **args)
        elif self.kind == "skip":
            cursor.skip(int(args.get("count", 1)))
        elif self.kind == "status":
            cursor.status(int(args["code"]))
        else:
            method: Callable[..., Expect] = getattr(cursor, self.kind)
            method(**args)


@dataclass(frozen=True)
class Step:
    """One turn: what the caller does and what must happen."""

    number: int
    verb: str
    value: Any
    expectations: list[Expectation]
    max_latency_ms: float | None
    line: int | None

    def where(self) -> str:
        """``turn 3 (say 'Hallo')``."""
        shown = f" {self.value!r}" if self.value is not None else ""
        return f"turn {self.number} ({self.verb}{shown})"

    def perform(self, call: CallSimulator) -> TurnResult:
        """Do the caller's part of the turn."""
        __tracebackhide__ = True
        if self.verb == "start":
            return call.start()
        if self.verb == "say":
            return call.say(str(self.value))
        if self.verb == "interrupt":
            return call.say(str(self.value), barged_in=True)
        if self.verb == "press":
            return call.press(str(self.value))
        if self.verb == "silence":
            return call.stay_silent()
        if self.verb == "hangup":
            return call.hang_up()
        if self.verb == "fail_transfer":
            return call.fail_transfer()
        return call.send(self.value)


@dataclass(frozen=True)
class Scenario:
    """A parsed ``*.call.yaml`` document."""

    name: str
    path: Path
    line: int
    assistant: str | None
    options: CallOptions
    steps: list[Step] = field(default_factory=list)

    def where(self, step: Step | None = None) -> str:
        """``path:line`` of the scenario or of one of its turns."""
        line = step.line if step is not None and step.line else self.line
        return f"{self.path}:{line}"


class ScenarioFailure(AssertionError):
    """A scenario's expectation was not met (the message has the whole turn)."""


def load_scenarios(path: str | Path) -> list[Scenario]:
    """Parse every scenario of a ``*.call.yaml`` file.

    Raises:
        ScenarioError: the file is not valid YAML or not a valid scenario.
    """
    path = Path(path)
    try:
        documents = [d for d in yaml.load_all(path.read_text("utf-8"), Loader=_Loader) if d]
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    if not documents:
        raise ScenarioError(f"{path}: the file holds no scenario")
    return [_scenario(path, doc, i, len(documents)) for i, doc in enumerate(documents)]


def run_scenario(
    scenario: Scenario,
    *,
    url: str | None = None,
    token: str | None = None,
    store: CallStore | None = None,
) -> list[TurnResult]:
    """Play ``scenario``: in process against its ``assistant``, or against ``url``.

    Raises:
        ScenarioFailure: an expectation was not met; the message names the file, the
            turn and the expectation and shows the turn.
        ScenarioError: the scenario has no assistant and no URL was given.
    """
    __tracebackhide__ = True
    if url is None and not scenario.assistant:
        raise ScenarioError(
            f"{scenario.where()}: scenario {scenario.name!r} names no `assistant` "
            "(module:object), and no URL was given to run it against"
        )
    target = url or scenario.assistant
    assert target is not None
    results: list[TurnResult] = []
    with CallSimulator(target, store=store, token=token, options=scenario.options) as call:
        for step in scenario.steps:
            try:
                turn = step.perform(call)
            except AiflowError as exc:
                raise ScenarioFailure(
                    f"{scenario.where(step)}: {step.where()}: {exc.message}"
                ) from None
            except Exception as exc:  # the assistant's handler raised (CallSimulator)
                raise ScenarioFailure(
                    f"{scenario.where(step)}: {step.where()}: the handler raised "
                    f"{type(exc).__name__}: {exc}{_raised_at(exc)}"
                ) from exc
            results.append(turn)
            cursor = turn.expect
            for number, expectation in enumerate(step.expectations, start=1):
                try:
                    expectation.apply(cursor)
                except AssertionError as exc:
                    raise ScenarioFailure(
                        f"{scenario.where(step)}: {step.where()}, expectation {number} "
                        f"({expectation.source}) failed\n{exc}"
                    ) from None
            if step.max_latency_ms is not None:
                try:
                    cursor.within(step.max_latency_ms)
                except AssertionError as exc:
                    raise ScenarioFailure(f"{scenario.where(step)}: {exc}") from None
    return results


# --- parsing ------------------------------------------------------------------------------


class _Map(dict[str, Any]):
    """A mapping that remembers its line in the file."""

    line: int = 0


class _Loader(yaml.SafeLoader):
    pass


def _construct_map(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Iterator[_Map]:
    data = _Map()
    data.line = node.start_mark.line + 1
    yield data
    data.update({str(k): v for k, v in loader.construct_mapping(node).items()})


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def _keys(valid: Any) -> str:
    return ", ".join(valid)


def _scenario(path: Path, doc: Any, index: int, count: int) -> Scenario:
    where = f"{path}" + (f" (scenario {index + 1})" if count > 1 else "")
    if not isinstance(doc, dict):
        raise ScenarioError(
            f"{where}: a scenario must be a mapping with keys {_keys(SCENARIO_KEYS)}"
        )
    line = getattr(doc, "line", 1)
    where = f"{path}:{line}"
    unknown = [k for k in doc if k not in SCENARIO_KEYS]
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key {unknown[0]!r}. Valid keys: {_keys(SCENARIO_KEYS)}"
        )
    turns = doc.get("turns")
    if not isinstance(turns, list) or not turns:
        raise ScenarioError(f"{where}: `turns` must be a non-empty list of turns")
    options = CallOptions(transfer_fails=bool(doc.get("transfer_fails", False)))
    if "caller" in doc:
        options = replace(options, caller=str(doc["caller"]))
    if "called" in doc:
        options = replace(options, called=str(doc["called"]))
    direction = doc.get("direction", "inbound")
    if direction not in ("inbound", "outbound"):
        raise ScenarioError(f"{where}: `direction` must be inbound or outbound, got {direction!r}")
    data = doc.get("outbound_data")
    if data is not None and (direction != "outbound" or not isinstance(data, dict)):
        raise ScenarioError(f"{where}: `outbound_data` takes a mapping, on an outbound call")
    options = replace(options, direction=direction, outbound_data=dict(data) if data else None)
    default_name = path.name.removesuffix(".call.yaml") + (f"[{index + 1}]" if count > 1 else "")
    default_budget = _number(doc.get("max_latency_ms"), f"{where}: max_latency_ms")
    assistant = doc.get("assistant")
    if assistant is not None and (not isinstance(assistant, str) or ":" not in assistant):
        raise ScenarioError(f"{where}: `assistant` must be 'module:object', got {assistant!r}")
    steps = [
        _step(path, turn, number, default_budget, line)
        for number, turn in enumerate(turns, start=1)
    ]
    return Scenario(
        name=str(doc.get("name") or default_name),
        path=path,
        line=line,
        assistant=assistant,
        options=options,
        steps=steps,
    )


def _step(path: Path, raw: Any, number: int, budget: float | None, parent_line: int) -> Step:
    line = getattr(raw, "line", None)
    where = f"{path}:{line or parent_line}: turn {number}"
    if isinstance(raw, str):
        raw = {raw: None}
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: a turn must be a mapping; one of: {_keys(VERBS)}")
    verbs = [k for k in raw if k in VERBS]
    unknown = [k for k in raw if k not in VERBS and k not in TURN_OPTIONS]
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key {unknown[0]!r}. Valid keys: one of {_keys(VERBS)}, "
            f"plus {_keys(TURN_OPTIONS)}"
        )
    if len(verbs) != 1:
        found = f"found {', '.join(verbs)}" if verbs else "found none"
        raise ScenarioError(f"{where}: a turn needs exactly one of {_keys(VERBS)} ({found})")
    verb = verbs[0]
    value = raw[verb]
    what, required = VERBS[verb]
    if verb == "send" and not isinstance(value, dict):
        raise ScenarioError(f"{where}: `send` takes {what}")
    if required and verb != "send" and (value is None or isinstance(value, dict | list)):
        raise ScenarioError(f"{where}: `{verb}` takes {what}")
    if verb == "press" and not re.fullmatch(r"[0-9*#]+", str(value)):
        raise ScenarioError(f"{where}: `press` takes keys from 0-9, * and #, got {value!r}")
    if not required and value not in (None, True):
        raise ScenarioError(f"{where}: `{verb}` takes {what}; write `- {verb}`")
    if verb == "send":
        value = dict(value)
    elif value is True or value is None:
        value = None
    else:
        value = str(value)
    step_where = f"{where} ({verb})"
    expectations = _expectations(step_where, raw.get("expect"))
    turn_budget = _number(raw.get("max_latency_ms"), f"{step_where}: max_latency_ms")
    return Step(
        number=number,
        verb=verb,
        value=value,
        expectations=expectations,
        max_latency_ms=turn_budget if turn_budget is not None else budget,
        line=line,
    )


def _expectations(where: str, raw: Any) -> list[Expectation]:
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    return [_expectation(f"{where}, expectation {i}", item) for i, item in enumerate(items, 1)]


def _expectation(where: str, item: Any) -> Expectation:
    valid = f"Valid expectations: {_keys(EXPECTATIONS)}"
    if isinstance(item, str):
        item = {item: None}
    if not isinstance(item, dict) or len(item) != 1:
        raise ScenarioError(f"{where}: write one expectation per list item. {valid}")
    ((kind, value),) = item.items()
    if kind not in EXPECTATIONS:
        raise ScenarioError(f"{where}: unknown expectation {kind!r}. {valid}")
    keys, scalar_key = EXPECTATIONS[kind]
    source = f"{kind}: {value!r}" if value is not None else kind
    if value is None or value is True:
        args: dict[str, Any] = {}
        if kind in ("action", "status"):
            raise ScenarioError(f"{where}: `{kind}` needs a value; keys: {_keys(keys)}")
    elif isinstance(value, dict):
        args = dict(value)
        if kind == "action":
            if not isinstance(args.get("type"), str):
                raise ScenarioError(f"{where}: `action` needs `type`, e.g. {{type: barge_in}}")
        else:
            unknown = [k for k in args if k not in keys]
            if unknown:
                allowed = _keys(keys) if keys else "none (write just `- " + kind + "`)"
                raise ScenarioError(
                    f"{where}: unknown key {unknown[0]!r} for `{kind}`. Valid keys: {allowed}"
                )
    elif scalar_key is not None and isinstance(value, str | int | float) and value is not False:
        args = {scalar_key: value}
    else:
        raise ScenarioError(f"{where}: `{kind}` takes {_keys(keys) or 'no value'}; got {value!r}")
    _check_types(where, kind, args)
    return Expectation(kind, args, source)


def _check_types(where: str, kind: str, args: dict[str, Any]) -> None:
    for key in ("text", "regex", "voice", "barge_in", "target"):
        if key in args and not isinstance(args[key], str):
            raise ScenarioError(f"{where}: `{kind}.{key}` must be a string")
    if "contains" in args:
        value = args["contains"]
        if not (isinstance(value, str) or (isinstance(value, list) and value)):
            raise ScenarioError(f"{where}: `{kind}.contains` must be a string or list of them")
        args["contains"] = value if isinstance(value, str) else [str(v) for v in value]
    if "regex" in args:
        try:
            re.compile(args["regex"])
        except re.error as exc:
            raise ScenarioError(f"{where}: `{kind}.regex` is not a valid pattern: {exc}") from None
    for key in ("timeout", "count", "code"):
        if key in args and (isinstance(args[key], bool) or not isinstance(args[key], int | float)):
            raise ScenarioError(f"{where}: `{kind}.{key}` must be a number")


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ScenarioError(f"{where} must be a positive number of milliseconds, got {value!r}")
    return float(value)


def _raised_at(exc: BaseException) -> str:
    """`` (at app.py:12 in answer)``: where in the assistant's code it was raised."""
    where = where_raised(exc)
    return f" (at {where})" if where else ""
