// History: statistics per job, every run with filters, and row actions
// (reveal, restore, verify, test restore, save a copy, delete) for backups
// in a folder, OneDrive or S3 alike: a remote backup is downloaded to be
// restored, verified or saved, with its size and sha256 checked.

import * as ipc from './ipc.js';
import { t } from './i18n.js';
import { $, h, show, size, duration, stamp, when, basename, navigate, stageText } from './util.js';
import { runBars } from './charts.js';

/** Bars in the History's chart: the newest runs of the filter. */
const CHART_RUNS = 60;

export function init() {
  for (const id of ['history-filter-job', 'history-filter-kind', 'history-filter-status', 'history-filter-trigger']) {
    $(id).addEventListener('change', () => load());
  }
  $('history-confirm-no').addEventListener('click', () => closeConfirm(false));
  $('history-confirm-yes').addEventListener('click', () => closeConfirm(true));
}

/** When the last row action wrote its message (a reload right after, on `runs-changed`, keeps it). */
let messageAt = 0;

/** @param {string} text */
function message(text) {
  messageAt = text ? Date.now() : 0;
  show($('history-message'), text);
}

/** Where a backup address is: 'onedrive', 's3' or 'folder'. @param {string} file */
export function place(file) {
  const f = file.trimStart();
  return f.startsWith('onedrive:') ? 'onedrive' : f.startsWith('s3://') ? 's3' : 'folder';
}

/** Why "Reveal" cannot show a backup in S3 ('' when it can). @param {string} file */
const revealReason = (file) => (place(file) === 's3' ? t('history.reveal.s3') : '');

/** @param {ipc.RunRecord} r */
function row(r) {
  const hasFile = r.kind === 'backup' && r.status === 'success' && r.file;
  const name = r.file ? basename(r.file) : t('history.run', { id: r.id });
  /** @param {string} label @param {string} testid @param {() => void} fn @param {string} [why] a reason the action is not offered */
  const act = (label, testid, fn, why) =>
    h('button', { type: 'button', class: 'small', testid, onclick: fn, text: label, disabled: Boolean(why), title: why || undefined, 'aria-label': t('history.action.aria', { action: label, name }) });
  const status = { success: t('history.status.success'), failed: t('history.status.failed'), interrupted: t('history.status.interrupted'), running: t('history.status.running') }[r.status] || r.status;
  return h('tr', { testid: 'history-row', 'data-run-id': String(r.id), 'data-job': r.job, 'data-status': r.status, 'data-place': r.file ? place(r.file) : undefined, class: r.status }, [
    h('td', { testid: 'history-time', class: 'nowrap', title: stamp(r.started_at), text: when(r.started_at) }),
    h('td', { testid: 'history-job', text: r.job }),
    h('td', { testid: 'history-kind', text: { backup: t('history.kind.backup'), restore: t('history.kind.restore'), verify: t('history.kind.verify') }[r.kind] || r.kind }),
    h('td', { testid: 'history-trigger', text: { scheduled: t('history.trigger.scheduled'), manual: t('history.trigger.manual'), 'catch-up': t('history.trigger.catchUp'), 'pre-restore': t('history.trigger.preRestore') }[r.trigger] || r.trigger }),
    h('td', { testid: 'history-status' }, [
      h('span', { class: `badge ${r.status}`, text: status }),
      r.error ? h('div', { class: 'error-text small wrap', testid: 'history-error', title: r.error, text: r.error }) : null,
    ]),
    h('td', { testid: 'history-duration', class: 'nowrap', text: duration(r.duration_ms) }),
    h('td', { testid: 'history-size', class: 'nowrap', text: size(r.size) }),
    h('td', { testid: 'history-file', class: 'path one-line', title: r.file || '' }, [
      h('span', { text: r.file ? basename(r.file) : '—' }),
      // An age-encrypted backup (`….age`): restoring it needs the job's key.
      r.file && r.file.endsWith('.age') ? h('span', { class: 'badge encrypted', testid: 'history-encrypted', title: t('history.encrypted.title'), text: t('history.encrypted') }) : null,
    ]),
    h('td', { testid: 'history-destination', class: 'path one-line', title: r.destination, text: basename(r.destination.replace(/[\\/]+$/, '')) || r.destination }),
    h('td', { testid: 'history-verified', text: r.verified_at ? t('history.verified.yes', { at: stamp(r.verified_at) }) : t('history.verified.no') }),
    h('td', { class: 'row-actions' }, hasFile ? [
      r.file && place(r.file) === 'onedrive'
        ? h('button', { type: 'button', class: 'small', testid: 'history-reveal', title: t('history.reveal.onedrive'), onclick: (/** @type {Event} */ ev) => reveal(r, /** @type {HTMLButtonElement} */ (ev.currentTarget)), text: t('history.action.reveal'), 'aria-label': t('history.action.aria', { action: t('history.action.reveal'), name }) })
        : act(t('history.action.reveal'), 'history-reveal', () => reveal(r), revealReason(r.file || '')),
      act(t('history.action.restore'), 'history-restore', () => navigate('restore', { file: r.file, job: r.job })),
      act(t('history.action.verify'), 'history-verify', () => verify(r, false)),
      act(t('history.action.testRestore'), 'history-test-restore', () => verify(r, true)),
      act(t('history.action.saveCopy'), 'history-save-copy', () => saveCopy(r)),
      act(t('history.action.delete'), 'history-delete', () => remove(r)),
    ] : [act(t('history.action.remove'), 'history-delete', () => remove(r))]),
  ]);
}

/** Shows a row action's error; an entry or file that is gone reloads the list. @param {unknown} e @param {string} [key] catalog key of the message, with {error} */
async function failed(e, key) {
  const err = /** @type {ipc.UiError} */ (e);
  message(key ? t(key, { error: err.message }) : err.message);
  if (err.code === 'not-found') await load(false);
}

/**
 * The file manager for a backup in a folder; the OneDrive page of one in
 * OneDrive (a button that cannot open it is disabled with the reason).
 * @param {ipc.RunRecord} r @param {HTMLButtonElement} [button]
 */
async function reveal(r, button) {
  try {
    const url = await ipc.revealFile(r.id);
    if (url) message(t('history.reveal.opened', { name: basename(r.file || ''), url }));
  } catch (e) {
    if (button) { button.disabled = true; button.title = /** @type {ipc.UiError} */ (e).message; }
    await failed(e);
  }
}

/** The progress line of a check or a download. @param {string} name @param {ipc.ProgressEvent} e */
function progressLine(name, e) {
  if (e.kind === 'stage') return t('history.progress.stage', { name, stage: stageText(e.stage, e.label) });
  if (e.kind === 'progress' && e.stage === 'downloading') return t('history.progress.download', { name, done: size(e.bytesIn), total: size(e.bytesOut) });
  if (e.kind === 'progress') return t('history.progress.bytes', { name, stage: stageText(e.stage), done: size(e.bytesIn) });
  return '';
}

/** Verify, or with `testRestore` also restore into a scratch database and drop it. @param {ipc.RunRecord} r @param {boolean} testRestore */
async function verify(r, testRestore) {
  const name = basename(r.file || '');
  message(t(testRestore ? 'history.testRestore.start' : 'history.verify.start', { name }));
  try {
    const rep = await ipc.verifyBackup(r.id, testRestore, (e) => { const line = progressLine(name, e); if (line) message(line); });
    message(t(testRestore ? 'history.testRestore.done' : 'history.verify.done', { message: rep.message }));
    await load(false);
  } catch (e) {
    await failed(e, testRestore ? 'history.testRestore.failed' : 'history.verify.failed');
  }
}

/** "Save a copy…": a save dialog, then the download with size and sha256 checked. @param {ipc.RunRecord} r */
async function saveCopy(r) {
  const name = basename(r.file || '');
  message(t('history.saveCopy.start', { name }));
  try {
    const d = await ipc.saveCopy(r.id);
    if (!d) { message(t('history.saveCopy.cancelled')); return; }
    message(t(d.checked ? 'history.saveCopy.done' : 'history.saveCopy.doneUnchecked', { name, path: d.saved_to, size: size(d.size) }));
  } catch (e) {
    await failed(e, 'history.saveCopy.failed');
  }
}

/** @type {((yes: boolean) => void)|null} */
let answer = null;

/**
 * Asks in the page (not a native box): `text`, a danger button `yes` and "Keep it".
 * @param {string} text @param {string} yes @returns {Promise<boolean>}
 */
function ask(text, yes) {
  if (answer) answer(false);
  $('history-confirm-text').textContent = text;
  $('history-confirm-yes').textContent = yes;
  $('history-confirm').hidden = false;
  $('history-confirm-no').focus();
  return new Promise((resolve) => { answer = resolve; });
}

/** @param {boolean} yes */
function closeConfirm(yes) {
  $('history-confirm').hidden = true;
  const a = answer;
  answer = null;
  if (a) a(yes);
}

/**
 * Deletes a backup and its entry; a job's newest good backup only after a
 * second, explicit "Delete anyway" (as `nightjar delete --force`).
 * @param {ipc.RunRecord} r
 */
async function remove(r) {
  const isBackup = r.kind === 'backup' && r.status === 'success' && r.file;
  const name = basename(r.file || '');
  const where = r.file ? { onedrive: t('history.place.onedrive'), s3: t('history.place.s3'), folder: t('history.place.folder') }[place(r.file)] : '';
  const first = isBackup ? ask(t('history.delete.ask', { name, where }), t('history.action.delete')) : ask(t('history.remove.ask'), t('history.action.remove'));
  if (!(await first)) return;
  try {
    try {
      await ipc.deleteBackup(r.id, false);
    } catch (e) {
      const err = /** @type {ipc.UiError} */ (e);
      if (err.code !== 'needs-confirmation') throw e;
      if (!(await ask(t('history.delete.newest', { reason: err.message }), t('history.delete.anyway')))) { message(t('history.delete.kept', { name })); return; }
      await ipc.deleteBackup(r.id, true);
    }
    message(isBackup ? t('history.delete.done', { name }) : t('history.remove.done'));
    await load(false);
  } catch (e) {
    await failed(e, 'history.delete.failed');
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
  const what = [filter.job || t('history.chart.allJobs'), filter.kind, filter.status, filter.trigger].filter(Boolean).join(', ');
  const fig = $('history-chart');
  fig.hidden = !runs.length;
  $('history-chart-caption').textContent = runs.length > shown.length
    ? t('history.chart.captionNewest', { shown: shown.length, total: runs.length, what })
    : shown.length === 1 ? t('history.chart.captionOne', { what }) : t('history.chart.captionAll', { shown: shown.length, what });
  $('history-chart-svg').replaceChildren(runBars(bars, 'history-chart-bars', t('history.chart.label', { what })));
}

/** @param {boolean} [clearMessage] drop the last action's message, unless it is only seconds old */
export async function load(clearMessage = true) {
  if (clearMessage && Date.now() - messageAt > 5000) message('');
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
  sel.replaceChildren(h('option', { value: '', text: t('history.filter.allJobs') }), ...stats.map((/** @type {any} */ s) => h('option', { value: s.job, text: s.job })));
  sel.value = chosen;
  $('history-stats').querySelector('tbody').replaceChildren(...stats.map(statsRow));
  $('history-table').querySelector('tbody').replaceChildren(...runs.map(row));
  drawChart(runs, filter);
  const filtered = Boolean(filter.job || filter.kind || filter.status || filter.trigger);
  show($('history-empty'), runs.length ? '' : filtered ? t('history.empty.filtered') : t('history.empty'));
}
