"""What the receptionist's flows and responders return: what an aiflow handler may return."""

from __future__ import annotations

from collections.abc import Sequence

from aiflow import BaseAction

Item = str | BaseAction
Answer = Item | Sequence[Item] | None
"""A str (spoken in the call's voice), an action, a list of these, or None."""
