// The sipgate AI Flow platform, played in the browser: one phone line to the webhook.
//
// It does what aiflow.testing.CallSimulator does, in real time: every event is a POST to the
// dev server's /webhook with the X-API-TOKEN (one at a time, in order), and the answer's
// actions are carried out. Speech "plays" for its duration (estimated like the simulator,
// 65 ms per character, or spoken aloud by the browser); when it starts the platform sends
// assistant_speak (text, duration_ms, speech_started_at), when it ends
// assistant_speech_ended. A barge_in action stops playback (no speech end is reported for
// speech that was cut off), a hangup ends the call at once (session_end), a transfer holds
// the call until it is answered (session_end) or fails (with a timeout: session_start again,
// the caller is back; without one: session_end). What the caller does: session_start,
// user_speak (barged_in while speech plays and its barge_in policy allows it),
// dtmf_received, user_input_timeout, session_end.

export const MS_PER_CHAR = 65; // aiflow.testing.CallOptions.ms_per_char
const SPEECH_ACTIONS = new Set(["speak", "audio"]);

export class PhoneLine {
  /**
   * @param {object} options
   * @param {string} options.webhook  the webhook path or URL
   * @param {string} options.token  the X-API-TOKEN
   * @param {object} options.numbers  {caller, called, account_id}
   * @param {object} options.hooks  onChange(), onLine(line), onExchange(ex), onSettled()
   * @param {function} options.playback  (action, text, durationMs) -> {ended: Promise, stop()}
   */
  constructor({ webhook, token, numbers, hooks, playback }) {
    this.webhook = webhook;
    this.token = token;
    this.numbers = numbers;
    this.hooks = hooks;
    this.playback = playback;
    this.state = "idle"; // idle | active | transferring | ended
    this.endedBy = null;
    this.sessionId = null;
    this.exchanges = [];
    this.lines = [];
    this.turn = 0;
    this.playing = null;
    this.queue = [];
    this.transfer = null;
    this.waitingFor = null; // seconds the platform would wait for the caller after speech
    this.silentAfterPlayback = false;
    this._chain = Promise.resolve();
    this._inFlight = 0;
  }

  get busy() {
    return this._inFlight > 0;
  }

  // --- what the caller does -----------------------------------------------------------

  start() {
    this._stopPlayback();
    this.sessionId = newId();
    this.state = "active";
    this.endedBy = null;
    this.exchanges = [];
    this.lines = [];
    this.turn = 0;
    this.transfer = null;
    this.waitingFor = null;
    this._caller("calls", "session_start", {}, { full: true });
  }

  /** The caller says `text`; returns null, or why it was not said (speech not interruptible). */
  say(text) {
    this._requireActive();
    if (!this.playing) {
      this._caller(text, "user_speak", { text }, { said: true });
      return null;
    }
    const refusal = interruptRefusal(this.playing, text);
    if (refusal) return refusal;
    this._cut("the caller talks over it");
    this._caller(text, "user_speak", { text, barged_in: true }, { said: true, bargedIn: true });
    return null;
  }

  press(key) {
    this._requireActive();
    // Keys reach the assistant while speech plays; its answer starts with barge_in.
    this._caller(`(presses ${key})`, "dtmf_received", { digit: key });
  }

  staySilent() {
    this._requireActive();
    if (this.playing || this.queue.length) {
      this.silentAfterPlayback = true; // the input timeout starts when playback ends
      this._line("platform", "the caller stays silent once the assistant has finished");
      this._changed();
      return;
    }
    this._silence();
  }

  hangUp() {
    if (this.state !== "active" && this.state !== "transferring") return;
    this._stopPlayback();
    this.state = "ended";
    this.endedBy = "caller";
    this._caller("(hangs up)", "session_end", {});
  }

  /** The transfer is not answered in time: with a timeout the caller is back. */
  failTransfer() {
    if (this.state !== "transferring" || !this.transfer) return;
    const target = this.transfer.target_phone_number;
    if (this.transfer.timeout == null) {
      this.state = "ended";
      this.endedBy = "failed transfer";
      this._line("platform", `nobody answers at ${target}; without a timeout the call ends`);
      this._caller("(transfer fails)", "session_end", {});
      return;
    }
    this.state = "active";
    this._line("platform", `nobody answers at ${target}: the caller is back`);
    this._caller("(transfer fails, back)", "session_start", {}, { full: true });
    this.transfer = null;
  }

  /** Somebody answers the transfer: the AI Flow session is over. */
  answerTransfer() {
    if (this.state !== "transferring" || !this.transfer) return;
    this.state = "ended";
    this.endedBy = "transfer";
    this._line("platform", `${this.transfer.target_phone_number} answers; the assistant is done`);
    this._caller("(transferred)", "session_end", {});
  }

  // --- the platform -------------------------------------------------------------------

  _requireActive() {
    if (this.state !== "active") throw new Error(`the call is ${this.state}`);
  }

  _caller(label, type, fields, { full = false, said = false, bargedIn = false } = {}) {
    this.turn += 1;
    this.waitingFor = null;
    this.silentAfterPlayback = false;
    if (said) this._line("caller", label, { bargedIn });
    else this._line("caller", label, { kind: type });
    this._send("caller", this._event(type, fields, full));
  }

  _silence() {
    const asked = this.waitingFor;
    this.turn += 1;
    this.waitingFor = null;
    this.silentAfterPlayback = false;
    const note = asked == null ? " (the last speech asked for no timeout)" : "";
    this._line("caller", `(stays silent${note})`, { kind: "user_input_timeout" });
    this._send("caller", this._event("user_input_timeout", {}, false));
  }

  _event(type, fields, full) {
    const session = {
      id: this.sessionId,
      account_id: this.numbers.account_id,
      phone_number: this.numbers.called,
    };
    if (full) {
      session.direction = "inbound";
      session.from_phone_number = this.numbers.caller;
      session.to_phone_number = this.numbers.called;
    }
    return { type, ...fields, session };
  }

  /** POST one event after every earlier one has been answered; then carry out the answer. */
  _send(by, event) {
    const exchange = {
      n: this.exchanges.length + 1,
      turn: this.turn,
      by,
      type: event.type,
      event,
      sentAt: null,
      receivedAt: null,
      status: 0,
      body: "",
      actions: [],
      error: null,
    };
    this.exchanges.push(exchange);
    this._inFlight += 1;
    const sessionId = this.sessionId;
    this._chain = this._chain
      .then(() => this._post(exchange))
      .then(() => {
        this.hooks.onExchange(exchange);
        if (sessionId === this.sessionId) this._carryOut(exchange);
      })
      .catch((error) => console.error(error))
      .finally(() => {
        this._inFlight -= 1;
        this._changed();
        if (this._inFlight === 0) this.hooks.onSettled();
      });
    this._changed();
  }

  async _post(exchange) {
    exchange.sentAt = Date.now();
    try {
      const response = await fetch(this.webhook, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-API-TOKEN": this.token },
        body: JSON.stringify(exchange.event),
      });
      exchange.status = response.status;
      exchange.body = await response.text();
    } catch (error) {
      exchange.error = `the webhook could not be reached: ${error.message}`;
    }
    exchange.receivedAt = Date.now();
    if (exchange.status === 200) {
      try {
        exchange.actions = parseActions(exchange.body);
      } catch (error) {
        exchange.error = `the 200 answer is not valid actions: ${error.message}`;
      }
    }
  }

  _carryOut(exchange) {
    if (exchange.error || exchange.status >= 400) {
      const problem = exchange.error || `HTTP ${exchange.status} ${exchange.body}`;
      this._line("platform", problem, { kind: "error" });
    }
    for (const action of exchange.actions) {
      if (this.state === "ended" || this.state === "transferring") {
        this._line("platform", `(ignored after the call ${this.state}: ${action.type})`);
        continue;
      }
      if (action.type === "barge_in") {
        this._cut("barge_in");
      } else if (SPEECH_ACTIONS.has(action.type)) {
        this.queue.push(action);
        this._playNext();
      } else if (action.type === "hangup") {
        this._stopPlayback();
        this._line("assistant", "(hangs up)", { kind: "hangup" });
        this.state = "ended";
        this.endedBy = "assistant";
        this._send("platform", this._event("session_end", {}, false));
      } else if (action.type === "transfer") {
        this._stopPlayback();
        this.transfer = action;
        this.state = "transferring";
        const timeout = action.timeout == null ? "no timeout" : `timeout ${action.timeout} s`;
        this._line("assistant", `(transfers to ${action.target_phone_number}, ${timeout})`, {
          kind: "transfer",
        });
      } else {
        this._line("assistant", `(${describe(action)})`, { kind: action.type });
      }
    }
  }

  _playNext() {
    if (this.playing || !this.queue.length || this.state !== "active") return;
    const action = this.queue.shift();
    const text = action.type === "speak" ? speechText(action) : "(audio)";
    const durationMs =
      action.type === "speak" ? Math.max(400, text.length * MS_PER_CHAR) : wavDurationMs(action);
    const line = this._line("assistant", text, { kind: action.type, playing: true });
    const fields = { duration_ms: durationMs, speech_started_at: Date.now() };
    if (action.text != null) fields.text = action.text;
    if (action.ssml != null) fields.ssml = action.ssml;
    this._send("platform", this._event("assistant_speak", fields, false));
    const player = this.playback(action, text, durationMs);
    const playing = { action, text, line, durationMs, startedAt: Date.now(), player };
    this.playing = playing;
    this._changed();
    player.ended.then(() => {
      if (this.playing !== playing) return; // cut off meanwhile
      this.playing = null;
      line.playing = false;
      this._send("platform", this._event("assistant_speech_ended", {}, false));
      if (action.user_input_timeout_seconds != null) this.waitingFor = action.user_input_timeout_seconds;
      if (this.queue.length) {
        this._playNext();
      } else if (this.silentAfterPlayback && this.state === "active") {
        this._silence();
      }
      this._changed();
    });
  }

  _cut(why) {
    if (!this.playing && !this.queue.length) return;
    if (this.playing) {
      this.playing.line.cut = why;
      this.playing.line.playing = false;
    }
    this._stopPlayback();
    this._changed();
  }

  _stopPlayback() {
    const playing = this.playing;
    this.playing = null;
    this.queue = [];
    if (playing) {
      playing.line.playing = false;
      playing.player.stop();
    }
  }

  _line(who, text, extra = {}) {
    const line = { who, text, at: Date.now(), turn: this.turn, ...extra };
    this.lines.push(line);
    this.hooks.onLine(line);
    return line;
  }

  _changed() {
    this.hooks.onChange();
  }
}

/** Why the caller cannot talk over the speech playing now, or null (its barge_in policy). */
export function interruptRefusal(playing, text) {
  const policy = playing.action.barge_in || { strategy: "minimum_characters" };
  const strategy = policy.strategy || "minimum_characters";
  if (strategy === "none") return "This speech cannot be interrupted (barge_in: none).";
  if (strategy === "manual") return "Only the assistant can stop this speech (barge_in: manual).";
  const elapsed = Date.now() - playing.startedAt;
  if (policy.allow_after_ms && elapsed < policy.allow_after_ms) {
    return `Interrupting is allowed after ${policy.allow_after_ms} ms of playback.`;
  }
  const minimum = policy.minimum_characters ?? 3;
  if (strategy === "minimum_characters" && text.length < minimum) {
    return `Interrupting needs at least ${minimum} characters.`;
  }
  return null;
}

export function parseActions(body) {
  const data = JSON.parse(body);
  const items = Array.isArray(data) ? data : [data];
  for (const item of items) {
    if (!item || typeof item !== "object" || typeof item.type !== "string") {
      throw new Error("every action is an object with a type");
    }
  }
  return items;
}

export function speechText(action) {
  if (action.text != null) return action.text;
  if (action.ssml != null) {
    const doc = new DOMParser().parseFromString(action.ssml, "application/xml");
    return (doc.documentElement.textContent || "").replace(/\s+/g, " ").trim();
  }
  return "";
}

function wavDurationMs(action) {
  // 16 kHz mono 16-bit PCM (the protocol's only format): 32 000 bytes a second after the header.
  const bytes = Math.floor(((action.audio || "").length * 3) / 4) - 44;
  return Math.max(0, Math.round((bytes / 32000) * 1000));
}

export function describe(action) {
  switch (action.type) {
    case "configure_transcription":
      return `configures transcription${action.languages ? ": " + action.languages.join(", ") : ""}`;
    case "mix_audio":
      return action.stop ? "stops the background audio" : "mixes in background audio";
    case "send_sms":
      return "sends a text message";
    default:
      return action.type;
  }
}

function newId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  const hex = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16));
  return hex.map((h) => h.padStart(2, "0")).join("");
}
