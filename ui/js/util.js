// Small DOM and formatting helpers shared by the views (formats in the
// window's language: see i18n.js).

import { t, number, dateTime, relativeDay } from './i18n.js';

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
 * the CLI and the notifications write a size the same way; the number in the
 * locale's format ("1,5 МиБ"), without grouping as the core writes it.
 * @param {number|null|undefined} bytes
 */
export function size(bytes) {
  if (bytes === null || bytes === undefined) return '—';
  if (bytes < 1024) return t('unit.bytes', { n: number(bytes, { useGrouping: false }) });
  let unit = 1024;
  let i = 0;
  while (bytes >= unit * 1024 && i < 3) { unit *= 1024; i += 1; }
  const tenths = Math.floor((bytes * 10 + unit / 2) / unit);
  const n = number(tenths / 10, { minimumFractionDigits: 1, maximumFractionDigits: 1, useGrouping: false });
  if (i === 0) return t('unit.kib', { n });
  if (i === 1) return t('unit.mib', { n });
  if (i === 2) return t('unit.gib', { n });
  return t('unit.tib', { n });
}

/** "425 ms", "1.5 s", "3 min 20 s". @param {number|null|undefined} ms */
export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return t('unit.ms', { n: number(ms, { useGrouping: false }) });
  if (ms < 60000) return t('unit.s', { n: number(ms / 1000, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) });
  const m = Math.floor(ms / 60000);
  return t('unit.min_s', { m: number(m), s: number(Math.round((ms % 60000) / 1000)) });
}

/** The time of day in the locale's format ("01:56 PM", "13:56"). @param {Date} d */
const hourMinute = (d) => dateTime(d, { hour: '2-digit', minute: '2-digit' });

/** "today 02:00", "yesterday 23:10", "Nov 20, 2026 02:00", in the language. @param {string|null|undefined} iso */
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  const now = new Date();
  const day = (/** @type {Date} */ x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const diff = Math.round((day(d) - day(now)) / 86400000);
  const time = hourMinute(d);
  if (diff >= -1 && diff <= 1) return t('when.day_time', { day: relativeDay(diff), time });
  return t('when.date_time', { date: dateTime(d, { year: 'numeric', month: 'short', day: 'numeric' }), time });
}

/** Full local date and time. @param {string|null|undefined} iso */
export function stamp(iso) {
  if (!iso) return '—';
  return dateTime(new Date(iso), { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
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
    bytes: t('progress.bytes', { read: size(p.bytesIn), written: size(p.bytesOut) }),
    rate: t('progress.rate', { size: size(Math.round(p.rate)) }),
    elapsed: duration(p.elapsedMs),
  };
}

/**
 * A run's stage in words ("dumping"), by its code from the core; `label` (the core's English) when the code is new.
 * @param {string} stage @param {string} [label]
 */
export function stageText(stage, label) {
  switch (stage) {
    case 'preparing': return t('stage.preparing');
    case 'dumping': return t('stage.dumping');
    case 'finishing': return t('stage.finishing');
    case 'pruning': return t('stage.pruning');
    case 'validating': return t('stage.validating');
    case 'safety-backup': return t('stage.safety_backup');
    case 'restoring': return t('stage.restoring');
    case 'swapping': return t('stage.swapping');
    case 'checking': return t('stage.checking');
    case 'downloading': return t('stage.downloading');
    default: return label || stage;
  }
}

/** Asks app.js to show a view; `extra` is handed to the view's `open()`. @param {string} view @param {any} [extra] */
export function navigate(view, extra) {
  window.dispatchEvent(new CustomEvent('nightjar-go', { detail: { view, extra } }));
}
