"""The call console in a real browser: headless Chromium (the system's, e.g. Debian's
``chromium``) driven by Playwright holds a call with the receptionist through the page,
against a real dev server on loopback with DynamoDB embedded.

Without Chromium (or without the ``playwright`` package of the dev extra) these tests are
skipped and say how to run them. The screenshot lands in ``tests/artifacts/console.png``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aiflow.local.template import REPO_ROOT
from aiflow.store.dynamodb import item_doc

from .conftest import Served

pytestmark = pytest.mark.slow

SCREENSHOT = REPO_ROOT / "tests" / "artifacts" / "console.png"
# Debian's chromium, headless, with nothing that reaches out to the network on its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOW_TO_RUN = (
    "install Debian's chromium (apt-get install -y chromium; .ci/run does it as root) "
    "or set AIFLOW_TEST_CHROMIUM to a Chromium binary"
)


def chromium() -> str | None:
    """The system's Chromium (never a browser Playwright downloads)."""
    configured = os.environ.get("AIFLOW_TEST_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the browser test needs playwright: pip install -e '.[dev]'")
    executable = chromium()
    if executable is None:
        pytest.skip(f"no Chromium for the browser test of the call console: {HOW_TO_RUN}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(served.url("/"))
    yield opened
    context.close()
    assert errors == [], errors  # no script error on the page, whatever the test checked


def eventually(page: Any, check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for ``check``; the page's events (its requests) arrive while Playwright waits."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)


def posted_events(page: Any) -> list[tuple[str | None, dict[str, Any]]]:
    """The page's webhook requests as they go out: (X-API-TOKEN, event)."""
    events: list[tuple[str | None, dict[str, Any]]] = []

    def seen(request: Any) -> None:
        if request.url.endswith("/webhook"):
            events.append((request.headers.get("x-api-token"), json.loads(request.post_data)))

    page.on("request", seen)
    return events


def test_a_call_through_the_page_reaches_the_receptionist_and_is_drawn(
    page: Any, served: Served
) -> None:
    from playwright.sync_api import expect

    posted = posted_events(page)
    log = page.get_by_role("log")
    says = page.get_by_label("Caller says")
    speed = page.get_by_label("Speech plays")
    status = page.locator("#line-status")
    speed.select_option("0")  # speech "plays" at once

    page.get_by_role("button", name="Start call").click()
    expect(log).to_contain_text("Praxis Dr. Weber, guten Tag")

    says.fill("Wie bekomme ich einen Termin?")
    says.press("Enter")
    expect(log).to_contain_text("online auf praxis-weber.de")

    # Interrupting: the answer plays as long as spoken; the caller talks over it.
    speed.select_option("1")
    says.fill("Wo ist die Praxis?")
    says.press("Enter")
    expect(status).to_have_text("Assistant speaking")
    page.wait_for_timeout(700)  # the receptionist allows barge-in after 400 ms
    says.fill("Kann ich ein Rezept bestellen?")
    says.press("Enter")
    expect(log).to_contain_text("Folgerezepte")
    expect(log.locator(".line-caller", has_text="Rezept")).to_contain_text("barges in")
    expect(log.locator(".line-assistant", has_text="Königsallee")).to_contain_text("cut off")
    speed.select_option("0")

    # Key 0 stops what plays (barge_in) and puts the caller through to the reception.
    page.get_by_role("button", name="0", exact=True).click()
    expect(log).to_contain_text("Einen Moment bitte, ich verbinde Sie mit unserem Empfang.")
    expect(status).to_have_text("Transferring to 4921198765411")
    page.get_by_role("button", name="Make transfer fail").click()
    expect(log).to_contain_text("bei unserem Empfang ist gerade niemand erreichbar")
    page.get_by_role("button", name="Stay silent").click()
    expect(log).to_contain_text("Bitte sprechen Sie jetzt Ihre Nachricht")

    session_id = posted[0][1]["session"]["id"]
    reported = lambda: served.console.seen.turns(session_id) or []  # noqa: E731
    expect(status).to_have_text("Waiting for the caller (8 s)")  # the last speech ended
    eventually(page, lambda: posted[-1][1]["type"] == "assistant_speech_ended")
    eventually(page, lambda: len(reported()) == len(posted))
    # The real gateway: every request had the token and reached the engine in the page's order.
    assert {token for token, _ in posted} == {served.token}
    assert [t["event_type"] for t in reported()] == [event["type"] for _, event in posted]
    barge_ins = [e for _, e in posted if e.get("barged_in")]
    assert [e["text"] for e in barge_ins] == ["Kann ich ein Rezept bestellen?"]
    speeches = [e for _, e in posted if e["type"] == "assistant_speak"]
    assert all(e["duration_ms"] >= 400 and e["speech_started_at"] > 0 for e in speeches)

    # The state panel shows the call as DynamoDB has it after the last turn.
    item = served.db.item(session_id)
    assert item is not None
    doc = item_doc(item)
    meta = page.locator("#state-meta")
    expect(meta).to_contain_text(f"version {item['version']['N']}")
    expect(meta).to_contain_text(f"status {doc['status']}")
    expect(meta).to_contain_text(f"DynamoDB table {served.db.table_name()}")
    state = page.locator("#state")
    expect(state).to_contain_text(session_id)
    expect(state).to_contain_text('"transferred_to": "4921198765411"')
    assert "Wie bekomme ich einen Termin?" in json.dumps(doc["history"], ensure_ascii=False)

    # The timeline: one numbered mark per caller turn, the barge-ins, the transfer, latencies.
    timeline = page.locator("#timeline svg")
    callers = [
        e for token, e in posted if e["type"] not in ("assistant_speak", "assistant_speech_ended")
    ]
    expect(timeline.locator("g.turn")).to_have_count(len(callers))
    expect(timeline.locator("g.turn.barged-in")).to_have_count(1)
    expect(timeline.locator("g.mark-transfer")).to_have_count(1)
    assert timeline.locator("g.mark-barge-in").count() >= 2  # the caller's, then key 0's
    assert timeline.locator("g.speech.cut").count() == 2
    assert timeline.locator("text.latency").count() >= 3
    barge_marks = timeline.locator("g.mark-barge-in").count()
    expect(timeline).to_have_attribute(
        "aria-label",
        f"Timeline of the call: {len(callers)} caller turns, {len(speeches)} assistant "
        f"speeches, {barge_marks} barge-ins, {len(posted)} requests",
    )
    expect(page.locator("#events > li")).to_have_count(len(posted))

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    print(f"\nscreenshot of the call console: {SCREENSHOT}")

    # Hanging up ends the call; it is listed under past calls and can be opened again.
    page.get_by_role("button", name="Hang up").click()
    expect(status).to_have_text("Call ended by caller")
    opener = page.get_by_role("button", name=f"Open call {session_id[:8]}")
    opener.click()
    expect(page.locator("#viewing")).to_contain_text(session_id)
    eventually(page, lambda: posted[-1][1]["type"] == "session_end" == reported()[-1]["event_type"])
    expect(page.locator("#events > li")).to_have_count(len(posted))
    expect(page.locator("#state-meta")).to_contain_text("status ended")
    expect(page.locator("#timeline svg g.turn")).to_have_count(len(callers) + 1)
    page.get_by_role("button", name="Back to the current call").click()
    expect(page.locator("#viewing")).to_be_hidden()


def test_the_call_can_be_held_with_the_keyboard(page: Any) -> None:
    from playwright.sync_api import expect

    log = page.get_by_role("log")
    page.get_by_label("Speech plays").select_option("0")
    # Web Speech is off until asked for: no microphone button, nothing spoken aloud.
    expect(page.get_by_label("Speak replies aloud")).not_to_be_checked()
    expect(page.get_by_role("button", name="Talk")).to_be_hidden()

    page.get_by_role("button", name="Start call").focus()
    page.keyboard.press("Enter")
    expect(log).to_contain_text("Praxis Dr. Weber, guten Tag")
    expect(page.get_by_label("Caller says")).to_be_focused()
    page.keyboard.type("Wo ist die Praxis?")
    page.keyboard.press("Enter")
    expect(log).to_contain_text("Königsallee 12")

    page.get_by_label("Speech plays").select_option("1")  # as long as spoken
    page.get_by_label("Caller says").focus()
    page.keyboard.press("Tab")  # to the Say button: keys now press the keypad
    focused = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused != "none"  # focus is visible
    page.keyboard.press("0")
    expect(log).to_contain_text("ich verbinde Sie mit unserem Empfang")

    # The handoff sentence cannot be interrupted (barge_in: none): the platform keeps playing.
    page.get_by_label("Caller says").fill("Hallo?")
    page.keyboard.press("Enter")
    expect(page.locator("#say-hint")).to_have_text(
        "This speech cannot be interrupted (barge_in: none)."
    )
    expect(page.get_by_label("Caller says")).to_have_value("Hallo?")
    expect(page.get_by_role("button", name="Make transfer fail")).to_be_enabled(timeout=10_000)
    page.get_by_role("button", name="Hang up").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#line-status")).to_have_text("Call ended by caller")
