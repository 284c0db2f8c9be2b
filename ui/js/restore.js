// Restore: pick a file (native picker, typed path, or a History row), see
// the plan, type the database name to confirm, follow the progress.

import * as ipc from './ipc.js';
import { $, h, show, size, stamp, progressText } from './util.js';

/** @type {any} */
let plan = null;
let running = false;

function request() {
  const asNew = $('restore-as-new').checked;
  return {
    file: $('restore-file').value.trim(),
    job: $('restore-job').value || null,
    asNew: asNew ? $('restore-new-name').value.trim() || null : null,
    safetyBackup: $('restore-safety').checked,
    // Only a plan that says the file is not ours shows (and sends) the box.
    trustFile: !$('restore-trust-row').hidden && $('restore-trust').checked,
    identity: $('restore-identity').value.trim() || null,
  };
}

function clearResult() {
  show($('restore-result'), '');
  show($('restore-error'), '');
  show($('restore-plan-error'), '');
  for (const f of ['file', 'job', 'confirm', 'identity']) show($(`error-${f}`), '');
}

/** Any change to the inputs invalidates the plan. */
function invalidate() {
  if (running) return;
  plan = null;
  $('restore-plan').hidden = true;
  $('restore-confirm-input').value = '';
  $('restore-trust').checked = false;
  $('restore-trust-row').hidden = true;
  $('restore-start').disabled = true;
}

/** Restore is enabled by the right database name, and for a file not made here by the trust box too. */
function updateStart() {
  const trusted = !plan || plan.origin !== 'not-ours' || $('restore-trust').checked;
  $('restore-start').disabled = running || !plan || !trusted || $('restore-confirm-input').value.trim() !== plan.database;
}

/** @param {any} e */
function fieldError(e) {
  // An encrypted backup no kept key opens: ask for its key file.
  if (e.field === 'identity') { $('restore-identity-row').hidden = false; $('restore-identity').focus(); }
  if (e.field && $(`error-${e.field}`)) show($(`error-${e.field}`), e.message);
  else show($('restore-plan-error'), e.message);
}

export function init() {
  $('restore-browse').addEventListener('click', () => browse());
  $('restore-form').addEventListener('submit', (/** @type {Event} */ ev) => { ev.preventDefault(); check(); });
  $('restore-as-new').addEventListener('change', () => {
    $('restore-new-name').hidden = !$('restore-as-new').checked;
    $('restore-safety').disabled = $('restore-as-new').checked;
    invalidate();
  });
  for (const id of ['restore-file', 'restore-job', 'restore-new-name', 'restore-safety', 'restore-identity']) $(id).addEventListener('change', invalidate);
  $('restore-identity-browse').addEventListener('click', async () => {
    try {
      const key = await ipc.pickKeyFile();
      if (key) { $('restore-identity').value = key; invalidate(); await check(); }
    } catch (e) { fieldError(e); }
  });
  $('restore-confirm-input').addEventListener('input', updateStart);
  $('restore-trust').addEventListener('change', updateStart);
  $('restore-start').addEventListener('click', () => start());
  $('restore-confirm-input').addEventListener('keydown', (/** @type {KeyboardEvent} */ e) => {
    if (e.key === 'Enter' && !$('restore-start').disabled) start();
  });
  $('restore-cancel').addEventListener('click', () => { if (plan) ipc.cancelRun(plan.job); });
}

/** Opens the native file picker, then checks the chosen file. */
export async function browse() {
  try {
    const file = await ipc.pickBackupFile();
    if (file) {
      $('restore-file').value = file;
      invalidate();
      await check();
    }
  } catch (e) {
    fieldError(e);
  }
}

/** From a History row: `{file, job}`. @param {{file?: string, job?: string}} x */
export function open(x) {
  if (!x || !x.file) return;
  $('restore-file').value = x.file;
  if (x.job) $('restore-job').value = x.job;
  invalidate();
  check();
}

async function check() {
  clearResult();
  invalidate();
  const req = request();
  if (!req.file) { show($('error-file'), 'Choose a backup file first (Browse… or type its path).'); return; }
  if ($('restore-as-new').checked && !req.asNew) { show($('restore-plan-error'), 'Type the name of the new database.'); return; }
  $('restore-plan-button').disabled = true;
  $('restore-plan-button').textContent = 'Checking…';
  try {
    plan = await ipc.restorePlan(req);
    render(plan);
  } catch (e) {
    fieldError(e);
  } finally {
    $('restore-plan-button').disabled = false;
    $('restore-plan-button').textContent = 'Check the file';
  }
}

/** @param {any} p */
function render(p) {
  $('plan-action').textContent = p.action;
  $('plan-file').textContent = p.file;
  $('plan-describe').textContent = p.describe;
  $('plan-size').textContent = size(p.size);
  $('plan-date').textContent = stamp(p.takenAt);
  $('plan-checksum').textContent = p.checksum;
  $('plan-encryption-label').hidden = !p.encrypted;
  $('plan-encryption').hidden = !p.encrypted;
  $('plan-encryption').textContent = p.keyNote || '';
  $('plan-origin').textContent = p.originMessage;
  $('restore-trust-text').textContent = p.originMessage;
  $('restore-trust').checked = false;
  $('restore-trust-row').hidden = p.origin !== 'not-ours';
  $('plan-target').textContent = `database “${p.database}” on ${p.server}` + (p.mode === 'as-new' ? ` (new; “${p.target}” is not touched)` : p.mode === 'create' ? ' (does not exist yet)' : ' (replaced)');
  $('plan-safety').textContent = p.safetyBackup ? `Yes, into ${p.safetyDestination || 'the job’s folder'} first.` : p.mode === 'replace' ? 'No: the current data is kept only under its old name.' : 'Not needed.';
  const warnings = [...p.warnings];
  if (p.sessions > 0) warnings.push(`${p.sessions} session(s) are connected to “${p.database}”; they will be closed at the swap.`);
  $('plan-warnings').replaceChildren(...warnings.map((w) => h('li', { text: w })));
  $('restore-confirm-hint').textContent = `Type “${p.database}” to confirm`;
  $('restore-plan').hidden = false;
  // The plan comes into view; the fields above stay reachable by scrolling back.
  $('restore-confirm-input').focus({ preventScroll: true });
  $('restore-plan').scrollIntoView({ block: 'nearest' });
}

async function start() {
  if (!plan || running) return;
  clearResult();
  running = true;
  $('restore-start').disabled = true;
  $('restore-cancel').hidden = false;
  const prog = $('restore-progress');
  prog.hidden = false;
  $('restore-stage').textContent = 'starting';
  $('restore-bytes').textContent = '';
  $('restore-elapsed').textContent = '';
  try {
    const rep = await ipc.restoreRun(request(), $('restore-confirm-input').value.trim(), (e) => {
      if (e.kind === 'stage') $('restore-stage').textContent = e.label;
      else if (e.kind === 'progress') {
        const t = progressText(e);
        $('restore-bytes').textContent = `${t.bytes} (${t.rate})`;
        $('restore-elapsed').textContent = t.elapsed;
      }
    });
    show($('restore-result'), `Restore finished: ${rep.message}`);
    $('restore-plan').hidden = true;
    plan = null;
  } catch (e) {
    const err = /** @type {ipc.UiError} */ (e);
    switch (err.code) {
      case 'needs-confirmation': show($('error-confirm'), err.message); break;
      case 'busy': show($('restore-error'), `Restore not started: ${err.message}`); break;
      default: show($('restore-error'), `Restore failed: ${err.message}`);
    }
  } finally {
    running = false;
    prog.hidden = true;
    $('restore-cancel').hidden = true;
    $('restore-confirm-input').value = '';
    $('restore-trust').checked = false;
    $('restore-start').disabled = true;
  }
}

export async function load() {
  const s = await ipc.settingsGet();
  const sel = $('restore-job');
  const chosen = sel.value;
  /** The database name of a URL (`postgres://u@h:5432/shop?host=…` → `shop`). @param {string} url */
  const dbName = (url) => url.split('?')[0].split('/').pop() || url;
  sel.replaceChildren(h('option', { value: '', text: 'The job that made the file' }), ...s.jobs.map((/** @type {any} */ j) => h('option', { value: j.form.name, title: j.form.database, text: `${j.form.name} — ${dbName(j.form.database)}` })));
  sel.value = chosen;
}
