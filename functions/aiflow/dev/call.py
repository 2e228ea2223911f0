"""``aiflow call``: a phone call in the terminal, against the dev server or any webhook URL.

What the caller types becomes events, what the assistant answers is printed; in between
the platform's part is played by :class:`aiflow.testing.CallSimulator` (speech started and
ended, ``session_end`` after a hangup, a repeated ``session_start`` after a failed
transfer). Lines:

    plain text         the caller says it (user_speak)
    #123               key presses, one dtmf_received each
    /silence           the caller says nothing (user_input_timeout)
    /interrupt text    the caller interrupts the assistant (user_speak, barged_in: true)
    /send {json}       any event, as it is
    /hangup            the caller hangs up (session_end)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..errors import AiflowError
from ..protocol.actions import (
    Action,
    AudioAction,
    HangupAction,
    SpeakAction,
    TransferAction,
)
from ..testing.describe import (
    audio_duration_ms,
    describe_action,
    speech_settings,
    speech_text,
    where_raised,
)
from ..testing.results import TurnResult
from ..testing.simulator import CallSimulator, SimulatorError

HELP = (
    "[bold]text[/] say it · [bold]#12[/] press keys · [bold]/silence[/] stay silent · "
    "[bold]/interrupt text[/] barge in · [bold]/send {json}[/] raw event · [bold]/hangup[/]"
)


class TerminalCall:
    """Runs one call: turns caller lines into simulator verbs and prints what comes back.

    Args:
        call: the simulator (already pointing at a URL or an assistant).
        console: where to print.
        echo: print the caller's lines (they were not typed at a prompt).
    """

    def __init__(self, call: CallSimulator, console: Console, *, echo: bool) -> None:
        self.call = call
        self.console = console
        self.echo = echo
        self.problems = 0

    # --- the call -----------------------------------------------------------------------

    def begin(self) -> bool:
        """Connect the call; False if it is already over."""
        options = self.call.options
        self.console.print(f"[bold]Calling[/] {escape(self.call.target)}")
        self.console.print(
            f"[dim]          from {options.caller} to {options.called}, "
            f"call {self.call.session_id[:8]}[/]"
        )
        self._run(self.call.start)
        if self.call.turns and self.call.turns[0].status in (401, 403):
            self.console.print(
                "[bold red]The webhook refused the token.[/] Pass [bold]--token[/] or set "
                "AIFLOW_API_TOKEN (aiflow dev prints its token when it starts; in the "
                "folder of the project it serves, aiflow call finds it by itself)."
            )
            self.call.state, self.call.ended_by = "ended", "refused token"
        return self.live

    def line(self, text: str) -> bool:
        """Handle one caller line; False once the call is over."""
        text = text.strip()
        if not text or text.startswith("//"):
            return self.live
        if self.echo:
            self.console.print(f"[cyan]caller    ›[/] {escape(text)}")
        if text.startswith("#"):
            self._run(self.call.press, text[1:].replace(" ", ""))
        elif text.startswith("/"):
            command, _, rest = text[1:].partition(" ")
            self._command(command.lower(), rest.strip())
        else:
            self._run(self.call.say, text)
        return self.live

    def end(self) -> None:
        """End the call if it is still up: a transfer in progress connects, else the
        caller hangs up."""
        if self.call.state == "transferring":
            self._run(self.call.complete_transfer)
        elif self.call.state == "active":
            self._run(self.call.hang_up)

    @property
    def live(self) -> bool:
        """Whether the caller can still talk to the assistant."""
        return self.call.state == "active"

    def _command(self, command: str, rest: str) -> None:
        if command == "silence":
            self._run(self.call.stay_silent)
        elif command == "interrupt" and rest:
            self._run(self.call.say, rest, barged_in=True)
        elif command in ("hangup", "quit", "exit", "bye"):
            self._run(self.call.hang_up)
        elif command == "send" and rest:
            try:
                raw = json.loads(rest)
            except ValueError as exc:
                self.console.print(f"[red]/send needs a JSON object: {exc}[/]")
                return
            if not isinstance(raw, dict):
                self.console.print("[red]/send needs a JSON object[/]")
                return
            self._run(self.call.send, raw)
        elif command == "fail-transfer":
            self._run(self.call.fail_transfer)
        else:
            self.console.print(HELP)

    def _run(self, verb: Any, *args: Any, **kwargs: Any) -> None:
        frames: list[float | None] | None = getattr(self.call.transport, "first_frame_ms", None)
        posted = len(frames) if frames is not None else 0
        try:
            with self.console.status("[dim]waiting for the assistant…[/]", spinner="dots"):
                turn: TurnResult = verb(*args, **kwargs)
        except SimulatorError as exc:
            if exc.code == "unreachable":
                raise
            self.console.print(f"[red]{escape(exc.message)}[/]")
            return
        # Over a WebSocket an answer has no end: the caller waits for its first frame.
        first = frames[posted] if frames is not None and len(frames) > posted else None
        self.show(turn, first_frame_ms=first)

    # --- output -------------------------------------------------------------------------

    def show(self, turn: TurnResult, *, first_frame_ms: float | None = None) -> None:
        """Print what the assistant did in ``turn`` (over a WebSocket: with the time to the
        first frame of the answer instead of the time the answer was collected in)."""
        for exchange in turn.exchanges:
            kind = exchange.event.get("type")
            if exchange.by == "platform" and kind == "session_start":
                self.console.print("[yellow]transfer failed: the caller is back[/]")
            if exchange.error or exchange.status >= 400:
                self.problems += 1
                problem = exchange.error or f"HTTP {exchange.status} {exchange.body}"
                self.console.print(f"[bold red]✗ {kind}:[/] [red]{escape(problem)}[/]")
            error = exchange.handler_error
            if error is not None:
                self.problems += 1
                where = where_raised(error)
                raised = f"{type(error).__name__}: {error}" + (f" (at {where})" if where else "")
                self.console.print(
                    f"[bold red]✗ {kind}: the handler raised[/] [red]{escape(raised)}[/] "
                    "[dim]— the caller hears the fallback[/]"
                )
            for action in exchange.actions:
                self.console.print(self._action_line(action))
        caller = [e for e in turn.exchanges if e.by == "caller"]
        if caller:
            statuses = ",".join(sorted({str(e.status) for e in caller}))
            if first_frame_ms is not None:
                timing = f"first frame in {first_frame_ms:.0f} ms"
            else:
                timing = f"in {turn.latency_ms:.0f} ms"
            self.console.print(f"[dim]          {statuses} {timing}[/]")
        if self.call.state == "ended":
            ended = self.call.ended_by or "?"
            how = ended if ended.startswith("transferred") else f"ended by {ended}"
            self.console.print(f"[bold]Call over[/] [dim]({how})[/]")

    def _action_line(self, action: Action) -> str:
        if isinstance(action, SpeakAction | AudioAction):
            if isinstance(action, SpeakAction):
                text = speech_text(action)
            else:
                text = f"(audio {audio_duration_ms(action.audio) / 1000:.1f} s)"
            extras = speech_settings(action)
            suffix = f"  [dim]{escape(extras)}[/]" if extras else ""
            return f"[green]assistant ›[/] {escape(text)}{suffix}"
        if isinstance(action, HangupAction):
            return "[magenta]assistant ✆ hangs up[/]"
        if isinstance(action, TransferAction):
            if self.call.options.transfer_fails:
                outcome = "" if action.timeout else " — fails, and without a timeout the call ends"
            else:
                outcome = " — the caller leaves the assistant"
            return f"[magenta]assistant ↪[/] {escape(describe_action(action))}{outcome}"
        return f"[magenta]assistant ·[/] {escape(describe_action(action))}"

    def transcript_table(self) -> Table:
        """The whole call as a table (who, what, latency of the caller's turns)."""
        ended_by = self.call.ended_by or ""
        ended = (
            f", {ended_by}"
            if ended_by.startswith("transferred")
            else (f", ended by {ended_by}" if ended_by else "")
        )
        table = Table(
            title=f"Transcript — call {self.call.session_id[:8]}{ended}",
            show_lines=False,
            title_justify="left",
        )
        table.add_column("#", justify="right", style="dim")
        table.add_column("who")
        table.add_column("what")
        table.add_column("ms", justify="right", style="dim")
        for turn in self.call.turns:
            said = turn.said if turn.said is not None else f"({turn.label})"
            table.add_row(str(turn.number), "caller", escape(said), f"{turn.latency_ms:.0f}")
            for exchange in turn.exchanges:
                for action in exchange.actions:
                    text = (
                        speech_text(action)
                        if isinstance(action, SpeakAction)
                        else describe_action(action)
                    )
                    table.add_row("", "assistant", escape(text), "")
        return table


def run_call(
    call: CallSimulator,
    *,
    console: Console,
    lines: Iterable[str] | None,
    transcript: Path | None = None,
) -> int:
    """Run a terminal call; ``lines`` None means ask at a prompt. Returns the exit status:
    0, or 1 if the webhook gave a non-2xx or invalid answer, 2 if it was unreachable."""
    terminal = TerminalCall(call, console, echo=lines is not None)
    try:
        if terminal.begin():
            if lines is None:
                console.print(f"[dim]{HELP}[/]")
                _prompt_loop(terminal, console)
            else:
                for text in lines:
                    if not terminal.line(text):
                        break
        terminal.end()
    except SimulatorError as exc:
        console.print(f"[bold red]{escape(exc.message)}[/]")
        return 2
    except AiflowError as exc:
        console.print(f"[bold red]{escape(exc.message)}[/]")
        return 1
    finally:
        call.transport.close()
    console.print()
    console.print(terminal.transcript_table())
    if transcript is not None:
        transcript.write_text(
            json.dumps(call.transcript(), ensure_ascii=False, indent=2) + "\n", "utf-8"
        )
        console.print(f"[dim]transcript saved to {escape(str(transcript))}[/]")
    return 1 if terminal.problems else 0


def _prompt_loop(terminal: TerminalCall, console: Console) -> None:
    while terminal.live:
        try:
            text = console.input("[bold cyan]you       ›[/] ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        terminal.line(text)
