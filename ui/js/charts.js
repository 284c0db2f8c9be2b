// Pictures of the history, as inline SVG built with DOM calls (text is always
// set as text): the last runs as bars (height = size, failed runs marked,
// time, size and duration in each bar's <title>) and the last days as a strip
// of cells (good, failed, missed, paused, running, nothing to judge).
// Colours come from the stylesheet's variables, so light and dark both work.

import { size, duration, stamp } from './util.js';
import { t, tp, dateTime } from './i18n.js';

const NS = 'http://www.w3.org/2000/svg';

/**
 * @typedef {{ id: number, startedAt: string, status: string, trigger: string, size: (number|null),
 *   durationMs: (number|null), error: (string|null) }} RunBar
 * @typedef {{ day: string, state: ('good'|'failed'|'missed'|'paused'|'running'|'none'), slots: number,
 *   good: number, failed: number, missed: number, paused: number, runs: number }} DayCell
 * @typedef {{ job: string, schedule: (string|null), timezone: string, runs: RunBar[], days: DayCell[] }} JobChart
 */

/**
 * An SVG element; `title` becomes a <title> child (the hover text and the accessible name).
 * @param {string} tag @param {Record<string, string|number|undefined>} [attrs] @param {(Node|null)[]} [children]
 */
function s(tag, attrs = {}, children = []) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && k !== 'title') el.setAttribute(k, String(v));
  if (attrs.title !== undefined) {
    const t = document.createElementNS(NS, 'title');
    t.textContent = String(attrs.title);
    el.append(t);
  }
  for (const c of children) if (c) el.append(c);
  return el;
}

/** A run's status in words. @param {string} status */
const statusText = (status) => ({ success: t('charts.status_ok'), failed: t('charts.status_failed'), interrupted: t('charts.status_interrupted'), running: t('charts.status_running') })[status] || status;

/** One bar's hover text. @param {RunBar} r */
function barText(r) {
  const what = r.status === 'success' ? t('charts.bar_ok', { size: size(r.size), duration: duration(r.durationMs) })
    : r.status === 'running' ? statusText('running')
      : r.error ? t('charts.bar_failed_error', { status: statusText(r.status), duration: duration(r.durationMs), error: r.error })
        : t('charts.bar_failed', { status: statusText(r.status), duration: duration(r.durationMs) });
  return t('charts.bar', { at: stamp(r.startedAt), trigger: triggerText(r.trigger), what });
}

/**
 * The runs as bars, oldest on the left. Height is the size against the
 * largest; a failed or interrupted run is a pale red stripe the full height, with
 * a solid foot, so it stands out even with no size.
 * @param {RunBar[]} runs oldest first
 * @param {string} testid
 * @param {string} what what the runs are, for the accessible summary ("Last 30 backups of shop")
 */
export function runBars(runs, testid, what) {
  const W = 10;
  const H = 64;
  const max = Math.max(1, ...runs.map((r) => r.size || 0));
  const good = runs.filter((r) => r.status === 'success').length;
  const bad = runs.filter((r) => r.status === 'failed' || r.status === 'interrupted').length;
  const newest = runs.length ? runs[runs.length - 1] : null;
  const label = runs.length && newest
    ? t('charts.runs_label', { what, runs: tp('charts.runs', runs.length), good, bad, largest: size(max), newest: newest.status === 'success' ? size(newest.size) : statusText(newest.status) })
    : t('charts.runs_none', { what });
  // At least 30 places, so a new job's few bars are as wide as a busy job's.
  const width = Math.max(runs.length, 30) * W;
  const bars = runs.map((r, i) => {
    const x = i * W + 1;
    const failed = r.status === 'failed' || r.status === 'interrupted';
    const hgt = r.size ? Math.max(2, Math.round((r.size / max) * (H - 2))) : 0;
    const data = { 'data-run-id': r.id, 'data-status': r.status, 'data-size': r.size ?? '', 'data-duration-ms': r.durationMs ?? '', 'data-started-at': r.startedAt };
    if (failed) {
      return s('g', { class: 'bar failed', ...data, title: barText(r) }, [
        s('rect', { class: 'stripe', x, y: 0, width: W - 2, height: H }),
        s('rect', { class: 'foot', x, y: H - 8, width: W - 2, height: 8 }),
      ]);
    }
    return s('g', { class: `bar ${r.status}`, ...data, title: barText(r) }, [
      // A transparent full-height target, so a small bar is easy to hover.
      s('rect', { class: 'hit', x, y: 0, width: W - 2, height: H }),
      s('rect', { class: 'fill', x, y: H - Math.max(hgt, r.status === 'running' ? 4 : 2), width: W - 2, height: Math.max(hgt, r.status === 'running' ? 4 : 2) }),
    ]);
  });
  return s('svg', { class: 'chart bars', viewBox: `0 0 ${width} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label, 'data-testid': testid, 'data-runs': runs.length }, [
    s('line', { class: 'base', x1: 0, y1: H - 0.5, x2: width, y2: H - 0.5 }),
    ...bars,
  ]);
}

/** A day's state in words. @param {string} state */
const dayState = (state) => ({ good: t('charts.day_good'), failed: t('charts.day_failed'), missed: t('charts.day_missed'), paused: t('charts.day_paused'), running: t('charts.status_running'), none: t('charts.day_none') })[state] || state;

/** A run's trigger in words. @param {string} trigger */
const triggerText = (trigger) => ({ scheduled: t('charts.trigger_scheduled'), manual: t('charts.trigger_manual'), 'catch-up': t('charts.trigger_catch_up'), 'pre-restore': t('charts.trigger_pre_restore') })[trigger] || trigger;

/** "Dec 6" for "2026-12-06", a day in the job's zone. @param {string} day */
function dayName(day) {
  const [y, m, d] = day.split('-').map(Number);
  return dateTime(new Date(y, m - 1, d), { weekday: 'short', month: 'short', day: 'numeric' });
}

/** @param {DayCell} c */
function dayText(c) {
  const day = dayName(c.day);
  if (c.state === 'none') return c.runs ? t('charts.day_runs_no_slot', { day, runs: tp('charts.runs', c.runs) }) : t('charts.day_no_slot', { day });
  if (!c.slots) return t('charts.day_manual', { day, state: dayState(c.state), runs: tp('charts.runs', c.runs) });
  const parts = [];
  if (c.good) parts.push(t('charts.n_good', { n: c.good }));
  if (c.failed) parts.push(t('charts.n_failed', { n: c.failed }));
  if (c.missed) parts.push(t('charts.n_missed', { n: c.missed }));
  if (c.paused) parts.push(t('charts.n_paused', { n: c.paused }));
  const slots = tp('charts.slots', c.slots);
  return parts.length ? t('charts.day_slots_parts', { day, state: dayState(c.state), slots, parts: parts.join(', ') }) : t('charts.day_slots', { day, state: dayState(c.state), slots });
}

/**
 * The days as a strip of cells, today on the right.
 * @param {DayCell[]} days oldest first
 * @param {string} testid
 * @param {string} zone the job's zone, the days are cut in it
 */
export function dayStrip(days, testid, zone) {
  const W = 12;
  const H = 14;
  const count = (/** @type {string} */ st) => days.filter((d) => d.state === st).length;
  const label = t('charts.days_label', { days: tp('charts.days', days.length), zone, good: count('good'), failed: count('failed'), missed: count('missed'), paused: count('paused') });
  return s('svg', { class: 'chart strip', viewBox: `0 0 ${days.length * W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label, 'data-testid': testid, 'data-days': days.length }, days.map((c, i) =>
    s('rect', {
      class: `day ${c.state}`, x: i * W + 1, y: 1, width: W - 2, height: H - 2, rx: 2,
      'data-day': c.day, 'data-state': c.state, 'data-slots': c.slots, 'data-good': c.good, 'data-failed': c.failed, 'data-missed': c.missed, 'data-paused': c.paused, 'data-runs': c.runs,
      title: dayText(c),
    })));
}

/** The strip's key: one swatch per state. */
export function legend() {
  const item = (/** @type {string} */ st, /** @type {string} */ text) => {
    const span = document.createElement('span');
    span.className = 'key';
    span.append(s('svg', { class: 'chart swatch', viewBox: '0 0 10 10', 'aria-hidden': 'true' }, [s('rect', { class: `day ${st}`, x: 0, y: 0, width: 10, height: 10, rx: 2 })]), text);
    return span;
  };
  const p = document.createElement('p');
  p.className = 'legend small muted';
  p.append(item('good', t('charts.day_good')), item('failed', t('charts.day_failed')), item('missed', t('charts.day_missed')), item('paused', t('charts.day_paused')), item('none', t('charts.legend_none')));
  return p;
}
