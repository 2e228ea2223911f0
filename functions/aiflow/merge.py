"""Three-way merge of call documents, for saves that lost a race.

Two events of one call can be processed at the same time (``assistant_speech_ended`` while
a ``user_speak`` is in flight). The loser's conditional save fails; rerunning its handler
would cost a second model call and repeat side effects. When the two changed disjoint parts
of the call, their changes are merged instead:

* the history is a union: turns the other event added stay, turns we added are appended,
  turns we removed or rewrote (bounding, barge-in trimming) are removed, in time order;
* ``state`` (a dict, or a state model stored as a dict) merges key by key;
* every other field, and each ``state`` key, takes the side that changed it.

If both changed the same field or ``state`` key (even to the same value: both may have
consumed the same held action), there is no safe merge: :func:`merge_docs` returns None and
the engine reruns the handler on the newer record (``prefer_ours=True`` instead lets our
value win, for a turn the caller already heard part of, which must not run twice).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MISSING: Any = object()
# Written anew by every save (the save's id): never a conflict, ours is kept.
_VOLATILE = frozenset({"turn"})
# Lists whose entries are only ever appended (by key), so both sides' additions are kept.
_APPEND_ONLY = ("history",)
MERGERS: dict[str, Callable[[Any, Any, Any], Any]] = {}
"""Fields of framework features (``call.extras``) that both sides may change and that know
how to merge: name -> merger(loaded, ours, fresh) returning the merged value, or None when
they cannot be merged. The call record registers one (``aiflow.records``)."""


def merge_docs(
    loaded: dict[str, Any],
    ours: dict[str, Any],
    fresh: dict[str, Any],
    *,
    prefer_ours: bool = False,
) -> dict[str, Any] | None:
    """Our changes since ``loaded`` applied to ``fresh`` (the newer stored document).

    Returns None when both changed the same part differently (unless ``prefer_ours``).
    """
    merged = dict(fresh)
    for name in set(ours) | set(loaded):
        if name in _APPEND_ONLY or name == "state":
            continue
        if name in _VOLATILE:
            _assign(merged, name, ours.get(name, _MISSING))
            continue
        mine, old = ours.get(name, _MISSING), loaded.get(name, _MISSING)
        if mine == old:
            continue  # we did not change it: keep the newer value
        theirs = fresh.get(name, _MISSING)
        merger = MERGERS.get(name)
        both = mine is not _MISSING and theirs is not _MISSING
        if theirs != old and merger is not None and both:
            value = merger(None if old is _MISSING else old, mine, theirs)
            if value is not None:
                merged[name] = value
                continue
        if theirs != old and not prefer_ours:
            # Both changed it: even to the same value, two events may have consumed the same
            # thing (two speech ends releasing one held hangup). Only a rerun can tell.
            return None
        _assign(merged, name, mine)
    for name in _APPEND_ONLY:
        merged[name] = _union(loaded.get(name) or [], ours.get(name) or [], fresh.get(name) or [])
    state = _merge_state(loaded.get("state"), ours.get("state"), fresh.get("state"), prefer_ours)
    if state is _MISSING:
        return None
    merged["state"] = state
    return merged


def changed_parts(before: dict[str, Any] | None, after: dict[str, Any]) -> set[str]:
    """The fields (``state.<key>`` for state keys) that differ between two documents."""
    before = before or {}
    parts = {
        name
        for name in set(before) | set(after)
        if name != "state" and before.get(name, _MISSING) != after.get(name, _MISSING)
    }
    old, new = before.get("state"), after.get("state")
    if isinstance(old, dict) and isinstance(new, dict):
        parts |= {
            f"state.{key}"
            for key in set(old) | set(new)
            if old.get(key, _MISSING) != new.get(key, _MISSING)
        }
    elif old != new:
        parts.add("state")
    return parts


def _merge_state(old: Any, mine: Any, theirs: Any, prefer_ours: bool) -> Any:
    if mine == old:
        return theirs
    if theirs == old:
        return mine
    if not (isinstance(old, dict) and isinstance(mine, dict) and isinstance(theirs, dict)):
        return mine if prefer_ours else _MISSING
    state = dict(theirs)
    for key in set(mine) | set(old):
        mine_value, old_value = mine.get(key, _MISSING), old.get(key, _MISSING)
        if mine_value == old_value:
            continue
        their_value = theirs.get(key, _MISSING)
        if their_value != old_value and not prefer_ours:
            return _MISSING  # both changed this key
        _assign(state, key, mine_value)
    return state


def _assign(target: dict[str, Any], key: str, value: Any) -> None:
    if value is _MISSING:
        target.pop(key, None)
    else:
        target[key] = value


def _union(loaded: list[Any], ours: list[Any], fresh: list[Any]) -> list[Any]:
    def key(entry: Any) -> str:
        return repr(sorted(entry.items())) if isinstance(entry, dict) else repr(entry)

    before = {key(e) for e in loaded}
    kept = {key(e) for e in ours}
    removed = before - kept
    present = {key(e) for e in fresh}
    result = [e for e in fresh if key(e) not in removed]
    result += [e for e in ours if key(e) not in before and key(e) not in present]
    if all(isinstance(e, dict) and isinstance(e.get("at"), int) for e in result):
        result.sort(key=lambda e: e["at"])  # stable: equal times keep their order
    return result
