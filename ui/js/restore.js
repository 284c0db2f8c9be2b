// Restore: pick a backup (the chosen job's backups in its destination —
// a folder, OneDrive or S3 —, the native picker, a typed path or address,
// a History row, or "Restore latest" on the Dashboard), see the plan, type
// the database name to confirm, follow the progress. A remote backup is
// downloaded (size and sha256 checked) before anything changes.

import * as ipc from './ipc.js';
import { t } from './i18n.js';
import { $, h, show, size, stamp, when, progressText, stageText } from './util.js';

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
  $('restore-file').addEventListener('change', markChosen);
  $('restore-job').addEventListener('change', () => listBackups($('restore-job').value));
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

/** The backup list's request in flight, so a late answer for another job is dropped. */
let listing = 0;

/** Whether an address is in OneDrive or S3 (downloaded to be checked). @param {string} file */
const isRemote = (file) => /^\s*(onedrive:|s3:\/\/)/.test(file);

/** Marks the list's row of the chosen file. */
function markChosen() {
  const file = $('restore-file').value.trim();
  for (const b of $('restore-backups-list').querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.path === file));
}

/** @param {ipc.BackupEntry} b @param {string|null} newestGood */
function backupRow(b, newestGood) {
  const good = b.size_matches;
  const note = b.path === newestGood ? t('restore.backups.newestGood') : good ? '' : t('restore.backups.sizeMismatch');
  return h('li', {}, [
    h('button', {
      type: 'button', class: 'backup-pick', testid: 'restore-backup', 'data-path': b.path, 'data-good': String(good), 'aria-pressed': 'false', title: b.path,
      onclick: () => choose(b.path),
    }, [
      h('span', { class: 'nowrap', title: stamp(b.taken_at), text: when(b.taken_at) }), ' · ',
      h('span', { class: 'nowrap', text: size(b.size) }), ' · ',
      h('span', { class: 'path', text: b.name }),
      b.encrypted ? h('span', { class: 'badge encrypted', text: t('restore.backups.encrypted') }) : null,
      note ? h('span', { class: good ? 'badge success' : 'badge failed', testid: b.path === newestGood ? 'restore-backup-newest' : undefined, text: note }) : null,
    ]),
  ]);
}

/**
 * Lists the backups of `job` in its destination (as `nightjar list --job`);
 * the list hides without a job. Resolves to the listing (null when none).
 * @param {string} job
 */
async function listBackups(job) {
  const box = $('restore-backups');
  const n = ++listing;
  if (!job) { box.hidden = true; return null; }
  box.hidden = false;
  $('restore-backups-title').textContent = t('restore.backups.title', { job });
  show($('restore-backups-status'), t('restore.backups.loading'));
  $('restore-backups-list').replaceChildren();
  try {
    const list = await ipc.jobBackups(job);
    if (n !== listing) return null;
    $('restore-backups-title').textContent = t('restore.backups.titleIn', { job, destination: list.destination });
    show($('restore-backups-status'), list.backups.length ? '' : t('restore.backups.none', { destination: list.destination }));
    $('restore-backups-list').replaceChildren(...list.backups.map((b) => backupRow(b, list.newestGood)));
    markChosen();
    return list;
  } catch (e) {
    if (n === listing) show($('restore-backups-status'), t('restore.backups.failed', { error: /** @type {ipc.UiError} */ (e).message }));
    return null;
  }
}

/** Picks a backup of the list and checks it. @param {string} path */
function choose(path) {
  $('restore-file').value = path;
  markChosen();
  invalidate();
  check();
}

/**
 * From a History row (`{file, job}`) or "Restore latest" on the Dashboard
 * (`{job, latest: true}`: the job's newest good backup, chosen from its list).
 * @param {{file?: string, job?: string, latest?: boolean}} x
 */
export async function open(x) {
  if (!x) return;
  if (x.job) $('restore-job').value = x.job;
  const listed = listBackups($('restore-job').value);
  if (x.latest) {
    $('restore-file').value = '';
    invalidate();
    clearResult();
    const list = await listed;
    if (!list) return;
    if (!list.newestGood) { show($('error-file'), t('restore.latest.none', { job: list.job, destination: list.destination })); return; }
    choose(list.newestGood);
    return;
  }
  if (!x.file) return;
  $('restore-file').value = x.file;
  markChosen();
  invalidate();
  check();
}

async function check() {
  clearResult();
  invalidate();
  const req = request();
  if (!req.file) { show($('error-file'), t('restore.error.noFile')); return; }
  if ($('restore-as-new').checked && !req.asNew) { show($('restore-plan-error'), t('restore.error.noNewName')); return; }
  $('restore-plan-button').disabled = true;
  $('restore-plan-button').textContent = isRemote(req.file) ? t('restore.checking.remote') : t('restore.checking');
  try {
    plan = await ipc.restorePlan(req);
    render(plan);
  } catch (e) {
    fieldError(e);
  } finally {
    $('restore-plan-button').disabled = false;
    $('restore-plan-button').textContent = t('restore.check');
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
  const mode = p.mode === 'as-new' ? t('restore.plan.target.asNew', { target: p.target }) : p.mode === 'create' ? t('restore.plan.target.create') : t('restore.plan.target.replace');
  $('plan-target').textContent = t('restore.plan.target', { database: p.database, server: p.server, mode });
  $('plan-safety').textContent = p.safetyBackup ? t('restore.plan.safety.yes', { destination: p.safetyDestination || t('restore.plan.safety.jobFolder') }) : p.mode === 'replace' ? t('restore.plan.safety.no') : t('restore.plan.safety.notNeeded');
  const warnings = [...p.warnings];
  if (p.sessions > 0) warnings.push(t('restore.plan.sessions', { count: p.sessions, database: p.database }));
  $('plan-warnings').replaceChildren(...warnings.map((w) => h('li', { text: w })));
  $('restore-confirm-hint').textContent = t('restore.confirm.hint', { database: p.database });
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
  $('restore-stage').textContent = t('restore.progress.starting');
  $('restore-bytes').textContent = '';
  $('restore-elapsed').textContent = '';
  try {
    const rep = await ipc.restoreRun(request(), $('restore-confirm-input').value.trim(), (e) => {
      if (e.kind === 'stage') $('restore-stage').textContent = stageText(e.stage, e.label);
      else if (e.kind === 'progress') {
        const p = progressText(e);
        $('restore-bytes').textContent = e.stage === 'downloading'
          ? t('restore.progress.download', { done: size(e.bytesIn), total: size(e.bytesOut) })
          : t('restore.progress.bytes', { bytes: p.bytes, rate: p.rate });
        $('restore-elapsed').textContent = p.elapsed;
      }
    });
    show($('restore-result'), t('restore.done', { message: rep.message }));
    $('restore-plan').hidden = true;
    plan = null;
  } catch (e) {
    const err = /** @type {ipc.UiError} */ (e);
    switch (err.code) {
      case 'needs-confirmation': show($('error-confirm'), err.message); break;
      case 'busy': show($('restore-error'), t('restore.notStarted', { error: err.message })); break;
      default: show($('restore-error'), t('restore.failed', { error: err.message }));
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
  sel.replaceChildren(h('option', { value: '', text: t('restore.job.fromFile') }), ...s.jobs.map((/** @type {any} */ j) => h('option', { value: j.form.name, title: j.form.database, text: t('restore.job.option', { job: j.form.name, database: dbName(j.form.database) }) })));
  sel.value = chosen;
  if (sel.value !== chosen) $('restore-backups').hidden = true;
  else if (!$('restore-backups').hidden) listBackups(sel.value);
}
