// JSON as a collapsible tree (<details> per object and array), built with DOM nodes only:
// the values are the assistant's and the caller's words, never markup.

/**
 * @param {*} value  any JSON value
 * @param {object} [options]
 * @param {number} [options.open]  levels shown unfolded (default 2)
 * @param {Set<string>} [options.marked]  top-level keys to highlight (changed since last time)
 */
export function jsonTree(value, { open = 2, marked = new Set() } = {}) {
  const root = document.createElement("div");
  root.className = "json";
  root.append(node(value, open, 0, marked));
  return root;
}

function node(value, open, depth, marked) {
  if (value === null || typeof value !== "object") return scalar(value);
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  if (!entries.length) return scalar(value);
  const details = document.createElement("details");
  details.open = depth < open;
  const summary = document.createElement("summary");
  summary.className = "json-summary";
  summary.textContent = Array.isArray(value)
    ? `[${entries.length} item${entries.length === 1 ? "" : "s"}]`
    : `{${entries.length} key${entries.length === 1 ? "" : "s"}}`;
  details.append(summary);
  const list = document.createElement("ul");
  for (const [key, child] of entries) {
    const item = document.createElement("li");
    if (depth === 0 && marked.has(String(key))) item.className = "json-changed";
    const name = document.createElement("span");
    name.className = Array.isArray(value) ? "json-index" : "json-key";
    name.textContent = Array.isArray(value) ? `${key}` : JSON.stringify(String(key));
    item.append(name, document.createTextNode(": "), node(child, open, depth + 1, marked));
    list.append(item);
  }
  details.append(list);
  return details;
}

function scalar(value) {
  const span = document.createElement("span");
  const type = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
  span.className = `json-${type}`;
  span.textContent = JSON.stringify(value);
  return span;
}

/** The top-level keys whose values differ between two documents. */
export function changedKeys(before, after) {
  const keys = new Set();
  if (!before || !after) return keys;
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) keys.add(key);
  }
  return keys;
}
