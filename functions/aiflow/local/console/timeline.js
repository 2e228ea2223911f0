// The timeline of a call as an SVG picture: who spoke when, barge-ins, and each request's
// latency. Built from the call's exchanges (one per webhook request, in order):
//   {n, turn, by: "caller"|"platform", type, event, sentAt, receivedAt, status, actions}
// The page's own call has them as it sent them; a past call gets them from the dev server's
// turn reports (then only the event types and times are known).

const SVG = "http://www.w3.org/2000/svg";
const CUTTING_ACTIONS = new Set(["barge_in", "hangup", "transfer"]);

/** What the picture shows, from the exchanges; `now` closes speech that still plays. */
export function buildTimeline(exchanges, now = Date.now()) {
  const sent = exchanges.filter((ex) => ex.sentAt != null);
  const model = { requests: [], caller: [], speech: [], marks: [], t0: null, t1: null };
  if (!sent.length) return model;
  model.t0 = sent[0].sentAt;
  sent.forEach((ex, index) => {
    const end = ex.receivedAt ?? now;
    model.requests.push({
      n: ex.n,
      start: ex.sentAt,
      end,
      type: ex.type,
      status: ex.status,
      byCaller: ex.by === "caller",
      latency: ex.receivedAt == null ? null : ex.receivedAt - ex.sentAt,
    });
    if (ex.by === "caller") {
      const bargedIn = ex.event?.barged_in === true;
      model.caller.push({ at: ex.sentAt, turn: ex.turn, type: ex.type, label: callerLabel(ex), bargedIn });
    }
    if (ex.type === "assistant_speak") model.speech.push(speechOf(sent, index, now, model.marks));
    for (const action of ex.actions || []) {
      if (action.type === "transfer" || action.type === "hangup") {
        model.marks.push({ at: end, kind: action.type, label: action.type });
      }
    }
  });
  const last = Math.max(...model.requests.map((r) => r.end), ...model.speech.map((s) => s.end));
  model.t1 = Math.max(last, model.t0 + 2000);
  return model;
}

function speechOf(sent, index, now, marks) {
  const start = sent[index].sentAt;
  const text = sent[index].event?.text ?? "";
  for (let j = index + 1; j < sent.length; j += 1) {
    const ex = sent[j];
    if (ex.type === "assistant_speech_ended") return { start, end: ex.sentAt, text, cut: false };
    if (ex.type === "user_speak" || ex.type === "session_end" || ex.type === "assistant_speak") {
      if (ex.type === "user_speak") marks.push({ at: ex.sentAt, kind: "barge-in", label: "caller barges in" });
      return { start, end: ex.sentAt, text, cut: true };
    }
    const cutting = (ex.actions || []).find((a) => CUTTING_ACTIONS.has(a.type));
    if (cutting && ex.receivedAt != null) {
      if (cutting.type === "barge_in") {
        marks.push({ at: ex.receivedAt, kind: "barge-in", label: "barge_in stops playback" });
      }
      return { start, end: ex.receivedAt, text, cut: true };
    }
  }
  return { start, end: now, text, cut: false, ongoing: true };
}

function callerLabel(ex) {
  const event = ex.event || {};
  switch (ex.type) {
    case "session_start":
      return ex.turn > 1 ? "back (transfer failed)" : "calls";
    case "user_speak":
      return event.text != null ? `“${event.text}”` : "speaks";
    case "dtmf_received":
      return event.digit != null ? `key ${event.digit}` : "key";
    case "user_input_timeout":
      return "silent";
    case "session_end":
      return "hangs up";
    default:
      return ex.type;
  }
}

/** Draw `model` into `container` (replacing what was there). */
export function renderTimeline(container, model) {
  container.replaceChildren();
  if (model.t0 == null) {
    const empty = document.createElement("p");
    empty.className = "empty";
    empty.textContent = "No call yet: the timeline fills as the call goes on.";
    container.append(empty);
    return;
  }
  const width = Math.max(480, Math.round(container.clientWidth || 720));
  const left = 84;
  const right = 16;
  const lanes = { caller: 34, assistant: 74, webhook: 112 };
  const height = 166;
  const span = model.t1 - model.t0;
  const x = (t) => left + ((t - model.t0) / span) * (width - left - right);

  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: "img",
    class: "timeline-svg",
  });
  const turns = model.caller.length;
  const bargeIns = model.marks.filter((m) => m.kind === "barge-in").length;
  svg.setAttribute(
    "aria-label",
    `Timeline of the call: ${turns} caller turn${turns === 1 ? "" : "s"}, ` +
      `${model.speech.length} assistant speech${model.speech.length === 1 ? "" : "es"}, ` +
      `${bargeIns} barge-in${bargeIns === 1 ? "" : "s"}, ${model.requests.length} requests`,
  );

  for (const [name, y] of Object.entries(lanes)) {
    svg.append(el("line", { x1: left, x2: width - right, y1: y, y2: y, class: "lane" }));
    svg.append(text(name === "webhook" ? "Webhook" : name[0].toUpperCase() + name.slice(1), 8, y + 4, "lane-label"));
  }
  axis(svg, model, x, height - 18, width - left - right);

  for (const mark of model.marks) {
    const g = el("g", { class: `mark mark-${mark.kind}` });
    g.append(el("line", { x1: x(mark.at), x2: x(mark.at), y1: 14, y2: lanes.webhook + 14 }));
    g.append(title(`${mark.label} at ${seconds(mark.at - model.t0)}`));
    svg.append(g);
  }

  for (const speech of model.speech) {
    const x1 = x(speech.start);
    const w = Math.max(3, x(speech.end) - x1);
    const kind = speech.cut ? " cut" : speech.ongoing ? " ongoing" : "";
    const g = el("g", { class: `speech${kind}` });
    g.append(el("rect", { x: x1, y: lanes.assistant - 9, width: w, height: 18, rx: 3 }));
    const state = speech.cut ? "cut off" : speech.ongoing ? "playing" : "heard";
    g.append(title(`assistant ${state}, ${seconds(speech.end - speech.start)}: ${speech.text}`));
    if (w > 60 && speech.text) {
      g.append(text(clip(speech.text, Math.floor((w - 8) / 6.5)), x1 + 4, lanes.assistant + 4, "speech-text"));
    }
    svg.append(g);
  }

  let labelEnd = -Infinity;
  for (const turn of model.caller) {
    const cx = x(turn.at);
    const g = el("g", { class: `turn${turn.bargedIn ? " barged-in" : ""}`, "data-turn": turn.turn });
    g.append(el("circle", { cx, cy: lanes.caller, r: 9 }));
    g.append(text(String(turn.turn), cx, lanes.caller + 4, "turn-number"));
    g.append(title(`turn ${turn.turn}: ${turn.label}${turn.bargedIn ? " (barges in)" : ""}`));
    // A label where there is room for it (the tooltip has every one); near the right edge
    // it goes left of its turn.
    const labelWidth = Math.min(22, turn.label.length) * 6.2;
    const flip = cx + 12 + labelWidth > width - right;
    const from = flip ? cx - 12 - labelWidth : cx + 12;
    if (from > labelEnd) {
      const label = text(clip(turn.label, 22), flip ? cx - 12 : cx + 12, lanes.caller - 6, "turn-label");
      if (flip) label.setAttribute("text-anchor", "end");
      g.append(label);
      labelEnd = flip ? cx + 12 : cx + 12 + labelWidth;
    }
    svg.append(g);
  }

  let latencyEnd = -Infinity;
  for (const request of model.requests) {
    const x1 = x(request.start);
    const w = Math.max(3, x(request.end) - x1);
    const status = request.status >= 400 || request.status === 0 ? "failed" : "ok";
    const g = el("g", { class: `request ${status}${request.byCaller ? " by-caller" : ""}` });
    g.append(el("rect", { x: x1, y: lanes.webhook - 7, width: w, height: 14, rx: 2 }));
    const latency = request.latency == null ? "waiting" : `${Math.round(request.latency)} ms`;
    g.append(title(`#${request.n} ${request.type} → ${request.status || "no answer"}, ${latency}`));
    if (request.byCaller && x1 > latencyEnd) {
      g.append(text(latency, x1, lanes.webhook + 20, "latency"));
      latencyEnd = x1 + latency.length * 6.2 + 6;
    }
    svg.append(g);
  }
  container.append(svg);
}

function axis(svg, model, x, y, pixels) {
  const span = model.t1 - model.t0;
  const steps = [100, 200, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000];
  const step = steps.find((s) => (pixels / span) * s >= 70) ?? 600000;
  for (let t = 0; t <= span; t += step) {
    const at = x(model.t0 + t);
    svg.append(el("line", { x1: at, x2: at, y1: y - 4, y2: y, class: "tick" }));
    svg.append(text(seconds(t), at, y + 12, "tick-label"));
  }
}

function seconds(ms) {
  return ms < 10000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function clip(value, chars) {
  return value.length > chars ? `${value.slice(0, Math.max(1, chars - 1))}…` : value;
}

function el(name, attributes) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

function text(value, x, y, cls) {
  const node = el("text", { x, y, class: cls });
  node.textContent = value;
  return node;
}

function title(value) {
  const node = el("title", {});
  node.textContent = value;
  return node;
}
