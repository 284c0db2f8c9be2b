// Small DOM and formatting helpers shared by the views.

/** @param {string} id @param {ParentNode} [root] @returns {any} */
export const $ = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

/**
 * Creates an element. Text is always set as text, never parsed as HTML.
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {(Node|string|null|undefined|false)[]} [children]
 */
export function h(tag, props = {}, children = []) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'testid') el.dataset.testid = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== 'string') /** @type {any} */ (el)[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c) el.append(c);
  return el;
}

/** Shows `el` with `text`, or hides it when text is empty. @param {HTMLElement} el @param {string|null|undefined} text */
export function show(el, text) {
  el.textContent = text || '';
  el.hidden = !text;
}

/**
 * "850 B", "1.5 KiB", "12.3 MiB": the twin of the core's `units::format_bytes`
 * (binary units, one decimal, halves rounded up, in whole tenths), so the page,
 * the CLI and the notifications write a size the same way.
 * @param {number|null|undefined} bytes
 */
export function size(bytes) {
  if (bytes === null || bytes === undefined) return '—';
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let unit = 1024;
  let i = 0;
  while (bytes >= unit * 1024 && i < units.length - 1) { unit *= 1024; i += 1; }
  const tenths = Math.floor((bytes * 10 + unit / 2) / unit);
  return `${Math.floor(tenths / 10)}.${tenths % 10} ${units[i]}`;
}

/** @param {number|null|undefined} ms */
export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60000);
  return `${m} min ${Math.round((ms % 60000) / 1000)} s`;
}

/** "today 02:00", "yesterday 23:10", "Nov 20 02:00". @param {string|null|undefined} iso */
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  const now = new Date();
  const day = (/** @type {Date} */ x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const diff = Math.round((day(d) - day(now)) / 86400000);
  const hm = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (diff === 0) return `today ${hm}`;
  if (diff === -1) return `yesterday ${hm}`;
  if (diff === 1) return `tomorrow ${hm}`;
  return `${d.toLocaleDateString([], { year: 'numeric', month: 'short', day: 'numeric' })} ${hm}`;
}

/** Full local date and time. @param {string|null|undefined} iso */
export function stamp(iso) {
  if (!iso) return '—';
  return new Date(iso).toLocaleString([], { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** @param {string} path */
export const basename = (path) => path.split(/[\\/]/).pop() || path;

let toastTimer = 0;
/** A short message at the bottom of the window. @param {string} text */
export function toast(text) {
  const el = $('toast');
  show(el, text);
  clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => { el.hidden = true; }, 6000);
}

/** Progress text pieces from a progress event. @param {{bytesIn:number, bytesOut:number, elapsedMs:number, rate:number}} p */
export function progressText(p) {
  return {
    bytes: `${size(p.bytesIn)} read, ${size(p.bytesOut)} written`,
    rate: `${size(Math.round(p.rate))}/s`,
    elapsed: duration(p.elapsedMs),
  };
}

/** Asks app.js to show a view; `extra` is handed to the view's `open()`. @param {string} view @param {any} [extra] */
export function navigate(view, extra) {
  window.dispatchEvent(new CustomEvent('nightjar-go', { detail: { view, extra } }));
}
