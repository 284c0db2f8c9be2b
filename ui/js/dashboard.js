// Dashboard: one card per job (last result, next run, Emergency backup with
// live progress and the result line), Back up all, Pause/Resume schedules.
// With no job yet it shows "Get started" (start.js); after the first good
// backup it offers "start at login" once.

import * as ipc from './ipc.js';
import * as start from './start.js';
import { runBars, dayStrip, legend } from './charts.js';
import { $, h, show, size, duration, when, basename, progressText, stageText, navigate, toast } from './util.js';
import { t, tp } from './i18n.js';

/** Jobs this page started, so global progress events for them are ignored. */
const mine = new Set();
/** Last outcome per job, kept across reloads of the cards. @type {Map<string, {ok: boolean, text: string, code?: string}>} */
const outcomes = new Map();
let paused = false;
/** The "start at login" offer was answered (or is not to be made) in this window. */
let offerDone = false;

/** @param {boolean} enable */
async function answerOffer(enable) {
  try {
    const on = await ipc.autostartOfferAnswer(enable);
    offerDone = true;
    $('autostart-offer').hidden = true;
    toast(on ? t('dashboard.offer_yes_done') : t('dashboard.offer_no_done'));
  } catch (e) {
    toast(/** @type {any} */ (e).message);
  }
}

export function init() {
  start.init(async (job) => {
    await load();
    await backup(job);
  });
  $('autostart-offer-yes').addEventListener('click', () => answerOffer(true));
  $('autostart-offer-no').addEventListener('click', () => answerOffer(false));
  $('backup-all').addEventListener('click', () => backup(null));
  $('dashboard-add-job').addEventListener('click', () => navigate('settings', { add: true }));
  $('schedules-toggle').addEventListener('click', async () => {
    try {
      await ipc.setPaused(!paused);
      await load();
    } catch (e) {
      toast(/** @type {any} */ (e).message);
    }
  });
}

/** The card's line for a failed or refused backup, by the error's code. @param {string} code @param {string} message */
function failureText(code, message) {
  switch (code) {
    case 'busy': return t('dashboard.backup_skipped', { message });
    default: return t('dashboard.backup_failed', { message });
  }
}

/** @param {ipc.JobCard} j */
function lastText(j) {
  const r = j.lastRun;
  if (!r) return t('dashboard.no_backup_yet');
  const at = when(r.started_at);
  if (r.status === 'success') return t('dashboard.last_ok', { at, size: size(r.size), duration: duration(r.duration_ms) });
  if (r.status === 'running') return t('dashboard.running_since', { at });
  const error = r.error || t('dashboard.no_reason');
  if (r.status === 'failed') return t('dashboard.last_failed', { at, error });
  if (r.status === 'interrupted') return t('dashboard.last_interrupted', { at, error });
  return t('dashboard.last_other', { at, status: r.status, error });
}

/** @param {ipc.JobCard} j */
function nextText(j) {
  if (!j.enabled) return t('dashboard.schedule_off');
  if (!j.schedule) return t('dashboard.manual_only');
  if (paused) return t('dashboard.schedules_paused_short');
  return j.nextRuns.length ? t('dashboard.next_run', { at: when(j.nextRuns[0]), schedule: j.schedule, zone: j.timezone }) : t('dashboard.no_upcoming_run');
}

/** Whether OneDrive holds the last good backup of a synced-folder job. @param {NonNullable<ipc.JobCard['cloud']>} c */
function cloudText(c) {
  switch (c.state) {
    case 'in-cloud': return t('dashboard.cloud_in', { at: when(c.at) });
    case 'late': return t('dashboard.cloud_late', { at: when(c.at) });
    case 'gone': return t('dashboard.cloud_gone');
    default: return t('dashboard.cloud_pending');
  }
}

/** The job's pictures: its last backups as bars, its last days as a strip. @param {string} id @param {import('./charts.js').JobChart|undefined} c */
function charts(id, c) {
  if (!c) return null;
  return h('div', { class: 'charts', testid: `job-charts-${id}` }, [
    h('p', { class: 'chart-label small muted', text: c.runs.length ? tp('dashboard.chart_runs', c.runs.length) : t('dashboard.no_backup_yet') }),
    runBars(c.runs, `chart-runs-${id}`, t('dashboard.chart_runs_of', { job: id })),
    h('p', { class: 'chart-label small muted', text: c.schedule ? tp('dashboard.chart_days', c.days.length, { zone: c.timezone }) : tp('dashboard.chart_days_manual', c.days.length, { zone: c.timezone }) }),
    dayStrip(c.days, `chart-days-${id}`, c.timezone),
    legend(),
  ]);
}

/** @param {ipc.JobCard} j @param {import('./charts.js').JobChart} [chart] */
function card(j, chart) {
  const id = j.name;
  const outcome = outcomes.get(id);
  const status = j.running ? 'running' : j.stale ? 'stale' : j.lastRun ? j.lastRun.status : 'none';
  const badge = { running: t('dashboard.badge_running'), stale: t('dashboard.badge_stale'), success: t('dashboard.badge_ok'), failed: t('dashboard.badge_failed'), interrupted: t('dashboard.badge_interrupted'), none: t('dashboard.badge_new') }[status] || status;
  return h('article', { class: `card job ${status}`, testid: `job-card-${id}`, 'aria-labelledby': `job-title-${id}` }, [
    h('header', {}, [
      h('h2', { id: `job-title-${id}`, text: id }),
      h('span', { class: `badge ${status}`, testid: `job-status-${id}`, text: badge }),
    ]),
    h('p', { class: 'muted small', text: `${j.database} → ${j.destination}` }),
    h('p', { testid: `job-last-${id}`, text: lastText(j) }),
    h('p', { class: 'muted', testid: `job-next-${id}`, text: nextText(j) }),
    ...j.health.map((msg, i) => h('p', { class: 'warn', testid: i === 0 ? `job-health-${id}` : undefined, text: msg })),
    j.cloud ? h('p', { class: j.cloud.state === 'late' ? 'warn' : 'muted', testid: `job-cloud-${id}`, text: cloudText(j.cloud) }) : null,
    j.copies && j.copies.length ? h('p', { class: j.copies.every((c) => c.good) ? 'muted small' : 'warn small', testid: `job-copies-${id}` },
      j.copies.flatMap((c, i) => [i ? ' · ' : '', h('span', { testid: `job-copy-${id}`, title: c.error || '', text: `${c.destination} ${c.good ? '✓' : '✗'}` })])) : null,
    j.stale ? h('p', { class: 'warn', testid: `job-stale-${id}`, text: t('dashboard.stale') }) : null,
    charts(id, chart),
    h('div', { class: 'progress', testid: `progress-${id}`, hidden: !j.running }, [
      h('span', { testid: `progress-stage-${id}`, text: j.running ? t('dashboard.stage_running') : '' }), ' · ',
      h('span', { testid: `progress-bytes-${id}` }), ' · ',
      h('span', { testid: `progress-rate-${id}` }), ' · ',
      h('span', { testid: `progress-elapsed-${id}` }),
    ]),
    h('p', { class: 'result ok', testid: `backup-result-${id}`, role: 'status', hidden: !(outcome && outcome.ok), text: outcome && outcome.ok ? outcome.text : '' }),
    h('p', { class: 'error-line', testid: `backup-error-${id}`, role: 'alert', hidden: !(outcome && !outcome.ok), text: outcome && !outcome.ok ? outcome.text : '' }),
    h('button', { type: 'button', testid: `backup-sign-in-${id}`, hidden: !(outcome && outcome.code === 'auth-expired'), onclick: () => navigate('settings'), text: t('dashboard.sign_in_onedrive') }),
    h('div', { class: 'buttons' }, [
      h('button', { type: 'button', class: 'primary', testid: `backup-now-${id}`, disabled: j.running, onclick: () => backup(id), text: t('dashboard.backup_now') }),
      h('button', { type: 'button', testid: `cancel-${id}`, hidden: !j.running, onclick: () => ipc.cancelRun(id), text: t('dashboard.stop') }),
      // The job's newest good backup, wherever it is, preselected in the Restore view.
      h('button', { type: 'button', testid: `restore-latest-${id}`, onclick: () => navigate('restore', { job: id, latest: true }), text: t('dashboard.restoreLatest'), 'aria-label': t('dashboard.restoreLatest.aria', { job: id }) }),
    ]),
  ]);
}

export async function load() {
  // The charts are drawn when they can be read; a broken config already says so in the banner.
  const [o, chartList] = await Promise.all([ipc.overview(), ipc.jobCharts().catch(() => [])]);
  const byJob = new Map(chartList.map((c) => [c.job, c]));
  paused = o.paused;
  show($('banner-error'), o.configError ? t('dashboard.config_error', { error: o.configError }) : '');
  $('schedules-toggle').textContent = paused ? t('dashboard.resume_schedules') : t('dashboard.pause_schedules');
  $('schedules-state').textContent = paused ? t('dashboard.schedules_paused') : '';
  const firstRun = o.jobs.length === 0 && !o.configError;
  $('dashboard-empty').hidden = !firstRun;
  $('schedules-toggle').hidden = firstRun && !paused;
  if (firstRun) start.showPanel();
  if (o.jobs.length && !offerDone) {
    ipc.autostartOffer().then((offer) => {
      $('autostart-offer').hidden = !offer;
      if (!offer && o.jobs.some((j) => j.lastSuccess)) offerDone = true;
    }).catch(() => {});
  }
  show($('dashboard-onedrive'), o.onedriveFolders.length ? t('dashboard.onedrive_found', { folder: o.onedriveFolders[0] }) : '');
  $('backup-all').hidden = o.jobs.length < 2;
  const cards = $('job-cards');
  cards.replaceChildren(...o.jobs.map((j) => card(j, byJob.get(j.name))));
}

/** Shows one progress event on the job's card. @param {ipc.ProgressEvent} e */
function apply(e) {
  const c = $(`job-card-${e.job}`);
  if (!c) return;
  const p = $(`progress-${e.job}`, c);
  if (e.kind === 'started') {
    p.hidden = false;
    $(`progress-stage-${e.job}`, c).textContent = t('dashboard.stage_starting');
    $(`progress-bytes-${e.job}`, c).textContent = '';
    $(`progress-rate-${e.job}`, c).textContent = '';
    $(`progress-elapsed-${e.job}`, c).textContent = '';
    show($(`backup-result-${e.job}`, c), '');
    show($(`backup-error-${e.job}`, c), '');
    $(`backup-now-${e.job}`, c).disabled = true;
    $(`cancel-${e.job}`, c).hidden = false;
  } else if (e.kind === 'stage') {
    p.hidden = false;
    $(`progress-stage-${e.job}`, c).textContent = stageText(e.stage, e.label);
  } else if (e.kind === 'progress') {
    p.hidden = false;
    const x = progressText(e);
    $(`progress-bytes-${e.job}`, c).textContent = x.bytes;
    $(`progress-rate-${e.job}`, c).textContent = x.rate;
    $(`progress-elapsed-${e.job}`, c).textContent = x.elapsed;
  } else if (e.kind === 'warning') {
    toast(`${e.job}: ${e.message}`);
  } else if (e.kind === 'finished' || e.kind === 'failed') {
    p.hidden = true;
    const outcome = e.kind === 'finished'
      ? { ok: true, text: t('dashboard.backup_finished', { file: e.name || basename(e.file), size: size(e.size), duration: duration(e.durationMs) }) }
      : { ok: false, text: failureText(e.code, e.message), code: e.code };
    outcomes.set(e.job, outcome);
    show($(`backup-result-${e.job}`, c), outcome.ok ? outcome.text : '');
    show($(`backup-error-${e.job}`, c), outcome.ok ? '' : outcome.text);
    $(`backup-sign-in-${e.job}`, c).hidden = outcome.code !== 'auth-expired';
    $(`backup-now-${e.job}`, c).disabled = false;
    $(`cancel-${e.job}`, c).hidden = true;
  }
}

/** Progress of runs this page did not start (scheduler, tray). @param {ipc.ProgressEvent} e */
export function onProgress(e) {
  if (!mine.has(e.job)) apply(e);
}

/** @param {string|null} job */
async function backup(job) {
  const jobs = job ? [job] : [...document.querySelectorAll('[data-testid^="job-card-"]')].map((c) => /** @type {HTMLElement} */ (c).dataset.testid?.slice('job-card-'.length) || '');
  jobs.forEach((j) => mine.add(j));
  try {
    await ipc.backupNow(job, apply);
  } catch (e) {
    const err = /** @type {ipc.UiError} */ (e);
    // A job that is gone from the config has no card left once reloaded.
    if (job && err.code !== 'not-found') {
      const text = failureText(err.code, err.message);
      outcomes.set(job, { ok: false, text, code: err.code });
      const c = $(`job-card-${job}`);
      if (c) show($(`backup-error-${job}`, c), text);
    } else {
      toast(err.message);
    }
  } finally {
    jobs.forEach((j) => mine.delete(j));
    await load();
  }
}
