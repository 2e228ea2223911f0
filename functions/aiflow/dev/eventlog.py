"""The lines ``aiflow dev`` prints: one per request or frame, and one per slow turn the
worker finishes. When the caller hears the fallback the line says why; a handler's exception
(:attr:`aiflow.report.TurnReport.error`, kept from the turn engine's reports) is printed with
its traceback. Local only: in Lambda the logs stay redacted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape

from ..lambda_.websocket import WebSocketHandler
from ..local.requestlog import RequestLog
from ..report import TurnReport
from ..testing.describe import format_error


class TurnReports:
    """The turn engines' reports, for the event lines: a fallback is marked with its reason
    and a handler's exception printed with its traceback; the worker gets lines of its own.

    The engine reports in the thread that runs the request, the same that prints its line
    afterwards, so reports are kept per thread until :meth:`take`.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self._by_thread: dict[int, TurnReport] = {}
        self._lock = threading.Lock()

    def watch(self, handler: Any) -> None:
        """Listen to the engine of a Lambda handler (HTTP or WebSocket), if it has one."""
        engine = getattr(handler, "engine", None)
        if isinstance(handler, WebSocketHandler):
            engine = handler.transport.engine  # built now, not on the first frame
        if engine is not None:
            engine.listeners.append(self._remember)

    def watch_worker(self, worker: Any) -> None:
        """Print a line for each slow turn the worker finishes."""
        engine = getattr(worker, "engine", None)
        if engine is not None:
            engine.listeners.append(self._worker_line)

    def _remember(self, report: TurnReport) -> None:
        with self._lock:
            self._by_thread[threading.get_ident()] = report

    def take(self) -> TurnReport | None:
        """The report of the request this thread just answered."""
        with self._lock:
            return self._by_thread.pop(threading.get_ident(), None)

    def problem(self, report: TurnReport | None) -> str | None:
        """``fallback: RuntimeError: bug`` for a line, or None when all went well."""
        if report is None or not report.fallback:
            return None
        if report.error is not None:
            return f"fallback: {type(report.error).__name__}: {report.error}"
        return f"fallback: {report.reason or 'unknown reason'}"

    def show_traceback(self, report: TurnReport | None) -> None:
        """The handler's traceback, indented under the line."""
        if report is None or report.error is None:
            return
        for text in format_error(report.error):
            self.console.print(f"[dim]          {escape(text)}[/]", highlight=False, soft_wrap=True)

    def _worker_line(self, report: TurnReport) -> None:
        at = time.time()
        clock = time.strftime("%H:%M:%S", time.localtime(at)) + f".{int((at % 1) * 1000):03d}"
        call = (report.session_id or "-")[:8]
        what = f"{report.event_type} (worker)"
        if report.abandoned:
            result = "abandoned: answered otherwise meanwhile"
        elif report.reason:
            result = f"[red]failed[/] {escape(report.reason)}"
        else:
            result = "[green]delivered[/] on the next speech end"
        problem = self.problem(report)
        if problem:
            result = f"[red]✗ {escape(problem)}[/]"
        self.console.print(
            f"{clock}  {call:<8}  {escape(what):<24} {result}  {report.total_ms:7.1f} ms",
            highlight=False,
            soft_wrap=True,
        )
        self.show_traceback(report)


def printer(console: Console, reports: TurnReports) -> Callable[[RequestLog], None]:
    """One line per request or frame; a fallback marked, a handler's traceback under it."""

    def show(log: RequestLog) -> None:
        report = reports.take()
        colour = "green" if log.status < 300 else "yellow" if log.status < 500 else "red"
        line = escape(log.line())
        status = str(log.status)
        line = line.replace(f" {status} ", f" [{colour}]{status}[/] ", 1)
        problem = reports.problem(report)
        if problem:
            line += f"  [bold red]✗ {escape(problem)}[/]"
        elif report is not None and report.deferred:
            line += "  [yellow]slow: the worker finishes the turn[/]"
        console.print(line, highlight=False, soft_wrap=True)
        reports.show_traceback(report)

    return show
