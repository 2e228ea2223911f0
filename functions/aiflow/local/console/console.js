// The call console page: a phone line to the dev server's webhook (platform.js), the
// conversation, the events and actions, the call as stored, a timeline and past calls.
// Plain ES modules served by aiflow dev; no build step.

import { jsonTree, changedKeys } from "./jsontree.js";
import { PhoneLine } from "./platform.js";
import { buildTimeline, renderTimeline } from "./timeline.js";
import { listen, offers, played, spoken, timed } from "./voice.js";

const $ = (id) => document.getElementById(id);
const ui = {
  assistant: $("assistant-name"),
  status: $("line-status"),
  caller: $("caller-number"),
  called: $("called-number"),
  speed: $("speed"),
  tokenField: $("token-field"),
  token: $("token"),
  start: $("start"),
  conversation: $("conversation"),
  playing: $("playing"),
  progress: $("playing-progress"),
  sayForm: $("say-form"),
  says: $("caller-says"),
  say: $("say"),
  talk: $("talk"),
  sayHint: $("say-hint"),
  keys: [...document.querySelectorAll("[data-key]")],
  silent: $("silent"),
  hangup: $("hangup"),
  transferFail: $("transfer-fail"),
  transferAnswer: $("transfer-answer"),
  speakAloud: $("speak-aloud"),
  useMic: $("use-mic"),
  voiceHint: $("voice-hint"),
  viewing: $("viewing"),
  viewingText: $("viewing-text"),
  back: $("back-to-call"),
  timeline: $("timeline"),
  stateMeta: $("state-meta"),
  state: $("state"),
  events: $("events"),
  refresh: $("refresh-calls"),
  past: $("past-calls"),
};

const page = {
  session: null, // GET /__aiflow/session
  line: null, // the PhoneLine of the current call
  viewing: null, // the session id of a past call shown in the panels, or null
  viewed: [], // that call's exchanges, rebuilt from the dev server's turn reports
  lastDoc: null, // the stored document after the previous turn (to mark what changed)
  stopListening: null,
};

// --- the phone line ------------------------------------------------------------------

function playback(action, text, durationMs) {
  const factor = Number(ui.speed.value);
  if (ui.speakAloud.checked && offers.synthesis) {
    if (action.type === "speak") return spoken(text, action.tts?.language, durationMs * 3 + 3000);
    if (action.type === "audio" && action.audio) return played(action.audio);
  }
  return timed(durationMs * factor);
}

function newLine() {
  return new PhoneLine({
    webhook: page.session.webhook,
    token: page.session.token || ui.token.value.trim(),
    numbers: {
      caller: ui.caller.value.trim() || page.session.caller,
      called: ui.called.value.trim() || page.session.called,
      account_id: page.session.account_id,
    },
    playback,
    hooks: {
      onChange: refreshControls,
      onLine: addLine,
      onExchange: (exchange) => {
        if (!page.viewing) {
          addExchange(exchange);
          drawTimeline();
        }
      },
      onSettled: () => {
        if (page.viewing || !page.line) return;
        drawTimeline();
        showState(page.line.sessionId);
        loadPastCalls();
      },
    },
  });
}

function startCall() {
  if (!page.session) return;
  if (page.line && (page.line.state === "active" || page.line.state === "transferring")) {
    page.line.hangUp();
  }
  leavePastCall();
  page.line = newLine();
  page.lastDoc = null;
  ui.conversation.replaceChildren();
  ui.events.replaceChildren();
  ui.state.replaceChildren();
  ui.stateMeta.textContent = "Waiting for the first turn to be stored…";
  page.line.start();
  ui.says.focus();
}

function act(fn) {
  try {
    fn(page.line);
  } catch (error) {
    hint(String(error.message || error));
  }
  refreshControls();
}

function hint(text, kind = "") {
  ui.sayHint.textContent = text;
  ui.sayHint.dataset.kind = kind;
}

// --- the conversation ----------------------------------------------------------------

function addLine(line) {
  ui.conversation.querySelector(".empty")?.remove();
  const entry = document.createElement("p");
  entry.className = `line line-${line.who}${line.kind === "error" ? " line-error" : ""}`;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = { caller: "Caller", assistant: "Assistant", platform: "Platform" }[line.who];
  const words = document.createElement("span");
  words.className = "words";
  words.textContent = line.text;
  entry.append(who, words);
  if (line.bargedIn) entry.append(badge("barges in"));
  ui.conversation.append(entry);
  line.element = entry;
  ui.conversation.scrollTop = ui.conversation.scrollHeight;
}

function badge(text) {
  const span = document.createElement("span");
  span.className = "badge";
  span.textContent = text;
  return span;
}

function refreshLines() {
  for (const line of page.line?.lines || []) {
    if (!line.element) continue;
    line.element.classList.toggle("is-playing", Boolean(line.playing));
    if (line.cut && !line.element.querySelector(".badge-cut")) {
      const cut = badge(`cut off (${line.cut})`);
      cut.classList.add("badge-cut");
      line.element.append(cut);
    }
  }
}

// --- events and actions --------------------------------------------------------------

function addExchange(exchange) {
  const item = document.createElement("li");
  item.className = `exchange by-${exchange.by}${exchange.status >= 400 || exchange.error ? " failed" : ""}`;
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  const latency = exchange.receivedAt == null ? "" : `${exchange.receivedAt - exchange.sentAt} ms`;
  const answered = exchange.actions.length
    ? exchange.actions.map((a) => a.type).join(", ")
    : exchange.status === 204
      ? "no action"
      : exchange.error || `HTTP ${exchange.status}`;
  const type = span("type", exchange.type);
  type.title = exchange.by === "caller" ? "what the caller did" : "sent by the platform";
  summary.append(
    span("n", `#${exchange.n}`),
    type,
    span("status", String(exchange.status || "—")),
    span("answer", answered),
    span("latency", latency),
  );
  details.append(summary, labelled(`Event (${exchange.by})`, jsonTree(exchange.event, { open: 1 })));
  if (exchange.status === 200 && !exchange.error) {
    details.append(labelled("Actions", jsonTree(exchange.actions, { open: 2 })));
  } else if (exchange.body) {
    details.append(labelled(`Answer (HTTP ${exchange.status})`, jsonOrText(exchange.body)));
  } else {
    const text = exchange.error || `HTTP ${exchange.status}, no body`;
    details.append(labelled("Answer", document.createTextNode(text)));
  }
  item.append(details);
  ui.events.append(item);
  item.scrollIntoView({ block: "nearest" });
}

function addReport(turn, index) {
  const item = document.createElement("li");
  item.className = `exchange report${turn.fallback ? " failed" : ""}`;
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  const answered = turn.actions.length ? turn.actions.map((a) => a.type).join(", ") : "no action";
  summary.append(
    span("n", `#${index + 1}`),
    span("type", turn.event_type || "?"),
    span("answer", turn.fallback ? `fallback (${turn.reason})` : answered),
    span("latency", `${Math.round(turn.total_ms)} ms`),
  );
  details.append(summary, labelled("Turn report", jsonTree(turn, { open: 1 })));
  item.append(details);
  ui.events.append(item);
}

function addTranscriptLine(line) {
  // A call recorded before this dev server started: its record's transcript, line by line.
  const item = document.createElement("li");
  item.className = "exchange record";
  item.append(
    span("latency", `${(line.offset_ms / 1000).toFixed(1)} s`),
    span("type", line.who),
    span("answer", line.text),
  );
  if (line.note) item.append(span("note", line.note));
  ui.events.append(item);
}

function span(cls, text) {
  const node = document.createElement("span");
  node.className = cls;
  node.textContent = text;
  return node;
}

function labelled(label, content) {
  const box = document.createElement("div");
  box.className = "labelled";
  const heading = document.createElement("p");
  heading.className = "label";
  heading.textContent = label;
  box.append(heading, content);
  return box;
}

function jsonOrText(body) {
  try {
    return jsonTree(JSON.parse(body), { open: 2 });
  } catch {
    const pre = document.createElement("pre");
    pre.textContent = body;
    return pre;
  }
}

// --- the stored call -----------------------------------------------------------------

async function showState(sessionId) {
  if (!page.session.state) {
    ui.stateMeta.textContent = "The served handler has no call store the console can read.";
    return;
  }
  const response = await fetch(`/__aiflow/calls/${encodeURIComponent(sessionId)}/state`);
  const data = await response.json();
  if (!response.ok) {
    ui.stateMeta.textContent = `Not stored: ${data.message}`;
    ui.state.replaceChildren();
    return;
  }
  const marked = page.viewing ? new Set() : changedKeys(page.lastDoc, data.doc);
  if (!page.viewing) page.lastDoc = data.doc;
  const parts = [`version ${data.version}`, `status ${data.status ?? "?"}`];
  if (data.stored_bytes != null) {
    parts.push(`${data.stored_bytes} bytes${data.compressed ? " compressed (docz)" : " (doc)"}`);
  }
  if (data.expires_at != null) parts.push(`expires ${new Date(data.expires_at * 1000).toLocaleString()}`);
  ui.stateMeta.textContent = `${data.store} · ${parts.join(" · ")}`;
  if (marked.size) ui.stateMeta.append(badge(`changed: ${[...marked].join(", ")}`));
  ui.state.replaceChildren(jsonTree(data.doc, { open: 1, marked }));
}

// --- the timeline --------------------------------------------------------------------

function drawTimeline(exchanges) {
  renderTimeline(ui.timeline, buildTimeline(exchanges || page.line?.exchanges || []));
}

/** A past call's turn reports as exchanges (times and event types; no event fields). */
function reportExchanges(turns) {
  let turn = 0;
  let previous = null;
  return turns.map((report, index) => {
    const type = report.event_type || "?";
    const platformEvent =
      type === "assistant_speak" ||
      type === "assistant_speech_ended" ||
      (type === "session_end" && previous?.actions.some((a) => a.type === "hangup"));
    if (!platformEvent) turn += 1;
    previous = report;
    return {
      n: index + 1,
      turn,
      by: platformEvent ? "platform" : "caller",
      type,
      event: { type },
      sentAt: report.at - report.total_ms,
      receivedAt: report.at,
      status: report.fallback ? 200 : report.actions.length ? 200 : 204,
      actions: report.actions,
    };
  });
}

// --- past calls ----------------------------------------------------------------------

async function loadPastCalls() {
  const response = await fetch("/__aiflow/calls");
  if (!response.ok) return;
  const { calls } = await response.json();
  ui.past.replaceChildren();
  if (!calls.length) {
    const empty = document.createElement("li");
    empty.className = "empty";
    empty.textContent = "No calls yet in this dev session.";
    ui.past.append(empty);
  }
  for (const call of calls) {
    const item = document.createElement("li");
    const open = document.createElement("button");
    open.type = "button";
    open.className = "small";
    open.textContent = "Open";
    open.setAttribute("aria-label", `Open call ${call.session_id.slice(0, 8)}`);
    open.addEventListener("click", () => openPastCall(call));
    const when = new Date(call.first_at).toLocaleTimeString();
    const ending = call.outcome ? `ended: ${call.outcome}` : call.ended ? "ended" : `last: ${call.last_event}`;
    const what = `${call.turns} event${call.turns === 1 ? "" : "s"} · ${ending}`;
    item.append(open, span("id", call.session_id.slice(0, 8)), span("when", when), span("what", what));
    if (call.session_id === page.line?.sessionId) item.append(badge("this call"));
    ui.past.append(item);
  }
}

async function openPastCall(call) {
  const response = await fetch(`/__aiflow/calls/${encodeURIComponent(call.session_id)}`);
  if (!response.ok) return;
  const { turns, transcript } = await response.json();
  page.viewing = call.session_id;
  ui.viewing.hidden = false;
  ui.viewingText.textContent = `Showing past call ${call.session_id} as the dev server reported it.`;
  ui.events.replaceChildren();
  turns.forEach(addReport);
  if (!turns.length && transcript) transcript.forEach(addTranscriptLine);
  page.viewed = reportExchanges(turns);
  drawTimeline(page.viewed);
  await showState(call.session_id);
  ui.back.focus();
}

function leavePastCall() {
  if (!page.viewing) return;
  page.viewing = null;
  ui.viewing.hidden = true;
  ui.events.replaceChildren();
  for (const exchange of page.line?.exchanges || []) if (exchange.receivedAt) addExchange(exchange);
  drawTimeline();
  if (page.line?.sessionId) showState(page.line.sessionId);
  else {
    ui.state.replaceChildren();
    ui.stateMeta.textContent = "The call as stored after each turn appears here.";
  }
}

// --- controls ------------------------------------------------------------------------

const STATUS = {
  idle: "No call",
  active: "In call",
  transferring: "Transferring",
  ended: "Call ended",
};

function refreshControls() {
  const line = page.line;
  const state = line?.state || "idle";
  const inCall = state === "active";
  let status = STATUS[state];
  if (line?.playing) status = "Assistant speaking";
  else if (state === "transferring") status = `Transferring to ${line.transfer.target_phone_number}`;
  else if (state === "ended") status = `Call ended by ${line.endedBy}`;
  else if (inCall && line.waitingFor != null) status = `Waiting for the caller (${line.waitingFor} s)`;
  ui.status.textContent = status;
  ui.status.dataset.state = line?.playing ? "speaking" : state;
  ui.start.disabled = !page.session;
  ui.says.disabled = !inCall;
  ui.say.disabled = !inCall;
  ui.talk.disabled = !inCall;
  for (const key of ui.keys) key.disabled = !inCall;
  ui.silent.disabled = !inCall;
  ui.hangup.disabled = !(inCall || state === "transferring");
  ui.transferFail.disabled = state !== "transferring";
  ui.transferAnswer.disabled = state !== "transferring";
  ui.playing.hidden = !line?.playing;
  if (line?.playing) animateProgress(line.playing);
  if (!inCall) hint(state === "transferring" ? "The caller is on hold while the transfer rings." : "");
  else if (line.playing) {
    if (ui.sayHint.dataset.kind !== "refusal") {
      hint("While the assistant speaks, what you say interrupts it (barge-in).", "playing");
    }
  } else if (ui.sayHint.dataset.kind) hint("");
  refreshLines();
}

let progressTimer = null;
function animateProgress(playing) {
  clearInterval(progressTimer);
  const factor = ui.speakAloud.checked ? 1 : Number(ui.speed.value);
  const total = Math.max(1, playing.durationMs * factor);
  const tick = () => {
    const done = Math.min(1, (Date.now() - playing.startedAt) / total);
    ui.progress.style.width = `${Math.round(done * 100)}%`;
    if (page.line?.playing !== playing) clearInterval(progressTimer);
    else if (!page.viewing) drawTimeline();
  };
  tick();
  progressTimer = setInterval(tick, 250);
}

function wire() {
  ui.start.addEventListener("click", startCall);
  ui.sayForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.says.value.trim();
    if (!text || !page.line) return;
    act((line) => {
      const refusal = line.say(text);
      if (refusal) hint(refusal, "refusal");
      else ui.says.value = "";
    });
  });
  for (const key of ui.keys) key.addEventListener("click", () => act((line) => line.press(key.dataset.key)));
  ui.silent.addEventListener("click", () => act((line) => line.staySilent()));
  ui.hangup.addEventListener("click", () => act((line) => line.hangUp()));
  ui.transferFail.addEventListener("click", () => act((line) => line.failTransfer()));
  ui.transferAnswer.addEventListener("click", () => act((line) => line.answerTransfer()));
  ui.refresh.addEventListener("click", loadPastCalls);
  ui.back.addEventListener("click", leavePastCall);
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLSelectElement) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = ui.keys.find((k) => k.dataset.key === event.key);
    if (key && !key.disabled) {
      event.preventDefault();
      key.click();
    }
  });
  window.addEventListener("resize", () => drawTimeline(page.viewing ? page.viewed : undefined));
  wireVoice();
}

function wireVoice() {
  const missing = [];
  if (!offers.synthesis) {
    ui.speakAloud.disabled = true;
    missing.push("speech synthesis");
  }
  if (!offers.recognition) {
    ui.useMic.disabled = true;
    missing.push("speech recognition");
  }
  ui.voiceHint.textContent = missing.length
    ? `This browser offers no ${missing.join(" and no ")} (Web Speech API).`
    : "Uses the browser's Web Speech API; recognition may send audio to the browser vendor.";
  ui.useMic.addEventListener("change", () => {
    ui.talk.hidden = !ui.useMic.checked;
  });
  ui.talk.addEventListener("click", () => {
    if (page.stopListening) {
      page.stopListening();
      return;
    }
    const lang = lastLanguage();
    ui.talk.setAttribute("aria-pressed", "true");
    hint("Listening…");
    let done = false;
    page.stopListening = listen(
      lang,
      (text) => {
        ui.says.value = text;
        ui.sayForm.requestSubmit();
      },
      (error) => {
        if (done) return;
        done = true;
        page.stopListening = null;
        ui.talk.setAttribute("aria-pressed", "false");
        if (error) hint(`Speech recognition: ${error}`);
      },
    );
  });
}

function lastLanguage() {
  const speeches = (page.line?.exchanges || []).flatMap((ex) => ex.actions).filter((a) => a.tts?.language);
  return speeches.length ? speeches[speeches.length - 1].tts.language : navigator.language;
}

async function init() {
  wire();
  refreshControls();
  drawTimeline([]);
  const response = await fetch("/__aiflow/session");
  const data = await response.json();
  if (!response.ok) {
    ui.assistant.textContent = "unavailable";
    ui.status.textContent = data.message;
    ui.start.disabled = true;
    return;
  }
  page.session = data;
  ui.assistant.textContent = data.assistant || "a Lambda handler";
  ui.caller.value = data.caller;
  ui.called.value = data.called;
  ui.tokenField.hidden = Boolean(data.token);
  refreshControls();
  loadPastCalls();
}

init();
