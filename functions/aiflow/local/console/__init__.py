"""The browser call console of ``aiflow dev`` (``http://127.0.0.1:3000/``).

A page on which you hold a call with the served assistant (start it, speak by typing, press
keys, stay silent, interrupt, hang up, let a transfer fail), next to the events and actions,
the call as stored after each turn and a timeline of the call. Plain HTML, CSS and ES
modules shipped as package data; :mod:`~aiflow.local.console.app` serves them and the JSON
endpoints, :mod:`~aiflow.local.console.calls` keeps what the turn engine reported and reads
the stored call. Local-only, like the rest of :mod:`aiflow.local`.
"""

from .app import CallConsole, past_calls
from .calls import SeenCalls, stored_call

__all__ = ["CallConsole", "SeenCalls", "past_calls", "stored_call"]
