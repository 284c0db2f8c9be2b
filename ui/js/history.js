// History: statistics per job, every run with filters, and row actions
// (reveal file, restore, verify, delete).

import * as ipc from './ipc.js';
import { $, h, show, size, duration, stamp, when, basename, navigate } from './util.js';
import { runBars } from './charts.js';

/** Bars in the History's chart: the newest runs of the filter. */
const CHART_RUNS = 60;

export function init() {
  for (const id of ['history-filter-job', 'history-filter-kind', 'history-filter-status', 'history-filter-trigger']) {
    $(id).addEventListener('change', () => load());
  }
}

/** @param {string} text */
const message = (text) => show($('history-message'), text);

/** @param {ipc.RunRecord} r */
function row(r) {
  const hasFile = r.kind === 'backup' && r.status === 'success' && r.file;
  const act = (/** @type {string} */ label, /** @type {string} */ testid, /** @type {() => void} */ fn) =>
    h('button', { type: 'button', class: 'small', testid, onclick: fn, text: label, 'aria-label': `${label} ${r.file ? basename(r.file) : `run ${r.id}`}` });
  return h('tr', { testid: 'history-row', 'data-run-id': String(r.id), 'data-job': r.job, 'data-status': r.status, class: r.status }, [
    h('td', { testid: 'history-time', class: 'nowrap', title: stamp(r.started_at), text: when(r.started_at) }),
    h('td', { testid: 'history-job', text: r.job }),
    h('td', { testid: 'history-kind', text: r.kind }),
    h('td', { testid: 'history-trigger', text: r.trigger }),
    h('td', { testid: 'history-status' }, [
      h('span', { class: `badge ${r.status}`, text: r.status }),
      r.error ? h('div', { class: 'error-text small wrap', testid: 'history-error', title: r.error, text: r.error }) : null,
    ]),
    h('td', { testid: 'history-duration', class: 'nowrap', text: duration(r.duration_ms) }),
    h('td', { testid: 'history-size', class: 'nowrap', text: size(r.size) }),
    h('td', { testid: 'history-file', class: 'path one-line', title: r.file || '' }, [
      h('span', { text: r.file ? basename(r.file) : '—' }),
      // An age-encrypted backup (`….age`): restoring it needs the job's key.
      r.file && r.file.endsWith('.age') ? h('span', { class: 'badge encrypted', testid: 'history-encrypted', title: 'Encrypted with age: restoring it needs the job’s key', text: 'encrypted' }) : null,
    ]),
    h('td', { testid: 'history-destination', class: 'path one-line', title: r.destination, text: basename(r.destination.replace(/[\\/]+$/, '')) || r.destination }),
    h('td', { testid: 'history-verified', text: r.verified_at ? `yes, ${stamp(r.verified_at)}` : 'no' }),
    h('td', { class: 'row-actions' }, hasFile ? [
      act('Reveal', 'history-reveal', () => reveal(r)),
      act('Restore', 'history-restore', () => navigate('restore', { file: r.file, job: r.job })),
      act('Verify', 'history-verify', () => verify(r)),
      act('Delete', 'history-delete', () => remove(r)),
    ] : [act('Remove', 'history-delete', () => remove(r))]),
  ]);
}

/** Shows a row action's error; an entry or file that is gone reloads the list. @param {unknown} e @param {string} [prefix] */
async function failed(e, prefix = '') {
  const err = /** @type {ipc.UiError} */ (e);
  message(prefix + err.message);
  if (err.code === 'not-found') await load(false);
}

/** @param {ipc.RunRecord} r */
async function reveal(r) {
  try { await ipc.revealFile(r.id); } catch (e) { await failed(e); }
}

/** @param {ipc.RunRecord} r */
async function verify(r) {
  message(`Checking ${basename(r.file || '')}…`);
  try {
    const rep = await ipc.verifyBackup(r.id, (e) => { if (e.kind === 'stage') message(`Checking ${basename(r.file || '')}: ${e.label}…`); });
    message(`Verified: ${rep.message}`);
    await load(false);
  } catch (e) {
    await failed(e, 'Verify failed: ');
  }
}

/** @param {ipc.RunRecord} r */
async function remove(r) {
  const what = r.kind === 'backup' && r.status === 'success' && r.file
    ? `Delete the backup file ${basename(r.file)} and its history entry? This cannot be undone.`
    : 'Remove this entry from the history?';
  if (!window.confirm(what)) return;
  try {
    await ipc.deleteBackup(r.id);
    message(r.file ? `Deleted ${basename(r.file)}.` : 'Entry removed.');
    await load(false);
  } catch (e) {
    await failed(e);
  }
}

/** @param {any} s */
function statsRow(s) {
  return h('tr', { testid: 'stats-row', 'data-job': s.job }, [
    h('th', { scope: 'row', testid: 'stats-job', text: s.job }),
    h('td', { testid: 'stats-count', text: String(s.runs) }),
    h('td', { testid: 'stats-successes', text: String(s.successes) }),
    h('td', { testid: 'stats-failures', text: String(s.failures) }),
    h('td', { testid: 'stats-total-size', text: size(s.total_size) }),
    h('td', { testid: 'stats-oldest', text: stamp(s.oldest) }),
    h('td', { testid: 'stats-newest', text: stamp(s.newest) }),
  ]);
}

/**
 * The size chart over the current filter: its newest runs, oldest on the left.
 * @param {ipc.RunRecord[]} runs newest first @param {{job?: string, kind?: string, status?: string, trigger?: string}} filter
 */
function drawChart(runs, filter) {
  const shown = runs.slice(0, CHART_RUNS).reverse();
  const bars = shown.map((r) => ({ id: r.id, startedAt: r.started_at, status: r.status, trigger: r.trigger, size: r.size, durationMs: r.duration_ms, error: r.error }));
  const what = [filter.job || 'all jobs', filter.kind, filter.status, filter.trigger].filter(Boolean).join(', ');
  const fig = $('history-chart');
  fig.hidden = !runs.length;
  $('history-chart-caption').textContent = runs.length > shown.length ? `Size of the newest ${shown.length} of ${runs.length} runs (${what}); red: failed` : `Size of ${shown.length === 1 ? 'the run' : `the ${shown.length} runs`} (${what}); red: failed`;
  $('history-chart-svg').replaceChildren(runBars(bars, 'history-chart-bars', `Runs of ${what}`));
}

export async function load(clearMessage = true) {
  if (clearMessage) message('');
  const filter = {
    job: $('history-filter-job').value || undefined,
    kind: $('history-filter-kind').value || undefined,
    status: $('history-filter-status').value || undefined,
    trigger: $('history-filter-trigger').value || undefined,
    limit: 500,
  };
  const [runs, stats] = await Promise.all([ipc.historyList(filter), ipc.historyStats()]);
  const sel = $('history-filter-job');
  const chosen = sel.value;
  sel.replaceChildren(h('option', { value: '', text: 'All jobs' }), ...stats.map((/** @type {any} */ s) => h('option', { value: s.job, text: s.job })));
  sel.value = chosen;
  $('history-stats').querySelector('tbody').replaceChildren(...stats.map(statsRow));
  $('history-table').querySelector('tbody').replaceChildren(...runs.map(row));
  drawChart(runs, filter);
  const filtered = Boolean(filter.job || filter.kind || filter.status || filter.trigger);
  show($('history-empty'), runs.length ? '' : filtered ? 'No run matches these filters.' : 'No runs yet. Run a backup from the Dashboard and it shows up here.');
}
