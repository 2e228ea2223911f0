// How speech "plays", and the browser's own voice (Web Speech API) where it offers one.
//
// Every player is {ended: Promise, stop()}: `ended` resolves when playback finished by
// itself; stop() ends it early (then `ended` never resolves: speech that was cut off
// reports no end). Speaking aloud and listening are off by default and feature-detected.

const Recognition = globalThis.SpeechRecognition || globalThis.webkitSpeechRecognition;

export const offers = {
  synthesis: "speechSynthesis" in globalThis && "SpeechSynthesisUtterance" in globalThis,
  recognition: typeof Recognition === "function",
};

/** Speech that plays silently for `ms` milliseconds. */
export function timed(ms) {
  let timer;
  const ended = new Promise((resolve) => {
    timer = setTimeout(resolve, Math.max(0, ms));
  });
  return { ended, stop: () => clearTimeout(timer) };
}

/**
 * Speech the browser says aloud (speechSynthesis), in `lang` when it has such a voice. A
 * browser without voices may never report the end: after `latestMs` it counts as ended.
 */
export function spoken(text, lang, latestMs) {
  let stopped = false;
  let timer;
  const utterance = new SpeechSynthesisUtterance(text);
  if (lang) utterance.lang = lang;
  const ended = new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      if (!stopped) resolve();
    };
    utterance.onend = done;
    utterance.onerror = done;
    timer = setTimeout(done, latestMs);
  });
  speechSynthesis.speak(utterance);
  return {
    ended,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      speechSynthesis.cancel();
    },
  };
}

/** An audio action's WAV, played by the browser. */
export function played(base64) {
  let stopped = false;
  const audio = new Audio(`data:audio/wav;base64,${base64}`);
  const ended = new Promise((resolve) => {
    audio.onended = () => stopped || resolve();
    audio.onerror = () => stopped || resolve();
  });
  audio.play().catch(() => stopped || audio.onerror());
  return {
    ended,
    stop: () => {
      stopped = true;
      audio.pause();
    },
  };
}

/**
 * Listen for one utterance; `onText` gets the final transcript, `onDone` is called at the end
 * (with an error message if it failed). Returns stop().
 */
export function listen(lang, onText, onDone) {
  const recognition = new Recognition();
  recognition.lang = lang || navigator.language;
  recognition.interimResults = false;
  recognition.maxAlternatives = 1;
  recognition.onresult = (event) => {
    const result = event.results[event.results.length - 1];
    if (result.isFinal) onText(result[0].transcript.trim());
  };
  recognition.onerror = (event) => onDone(event.error || "recognition failed");
  recognition.onend = () => onDone(null);
  recognition.start();
  return () => recognition.stop();
}
