// Settings: the jobs in the config file (add, edit, enable, delete), the
// password in the keyring (write-only), connection test, schedule presets
// with the next 3 runs, retention, notifications; start at login, test
// notification, OneDrive application id, tenant and sign-in (browser or code).

import * as ipc from './ipc.js';
import * as alertsView from './alerts.js';
import { $, h, show, when, toast } from './util.js';
import { t, tp } from './i18n.js';
import { MORE_FIELDS, initMore, fillMore, collectMore } from './jobform-more.js';

/** @type {any} */
let data = null;
/** Name of the job being edited; null for a new one. @type {string|null} */
let editing = null;
let previewTimer = 0;

const FIELDS = ['name', 'database', 'docker_container', 'destination', 'schedule', 'timezone', 'format', 'compression',
  'tables', 'exclude_tables', 'schemas', 'exclude_schemas', 'keep_days', 'keep_last', 'daily', 'weekly', 'monthly', 'yearly', 'password',
  'passphrase', 'passphrase_again', 'encryption', 'max_backups'];
const RETENTION = ['keep_days', 'keep_last', 'daily', 'weekly', 'monthly', 'yearly', 'max_backups'];

function clearErrors() {
  for (const f of [...FIELDS, ...MORE_FIELDS]) { const el = $(`error-${f}`); if (el) show(el, ''); }
  show($('job-form-error'), '');
  show($('job-saved'), '');
  show($('encryption-result'), '');
}

/** Shows an error next to its field (or under the form). @param {any} e */
function showError(e) {
  const el = e.field ? $(`error-${e.field}`) : null;
  if (el) {
    show(el, e.message);
    const input = $(`field-${e.field}`);
    if (input && !input.hidden) input.focus();
  } else {
    show($('job-form-error'), e.message);
  }
}

/** @param {string[]} list */
const joinList = (list) => (list || []).join(', ');
/** @param {string} text */
const splitList = (text) => text.split(',').map((s) => s.trim()).filter(Boolean);

/** Which preset a schedule text matches. @param {string|null} s */
function presetOf(s) {
  const t = (s || '').trim();
  let m;
  if (!t) return { preset: 'manual' };
  if ((m = /^daily (\d{1,2}:\d{2})$/.exec(t))) return { preset: 'daily', time: m[1].padStart(5, '0') };
  if ((m = /^every (\d+)h$/.exec(t))) return { preset: 'every', hours: m[1] };
  if ((m = /^weekly (\w{3}) (\d{1,2}:\d{2})$/.exec(t))) return { preset: 'weekly', day: m[1], time: m[2].padStart(5, '0') };
  return { preset: 'cron' };
}

function presetChanged() {
  const preset = $('field-schedule-preset').value;
  const time = $('field-schedule-time').value || '00:00';
  const text = {
    manual: '',
    daily: `daily ${time}`,
    every: `every ${$('field-schedule-hours').value}h`,
    weekly: `weekly ${$('field-schedule-day').value} ${time}`,
    cron: $('field-schedule').value,
  }[preset];
  $('field-schedule').value = text ?? '';
  showPresetFields();
  preview();
}

function showPresetFields() {
  const preset = $('field-schedule-preset').value;
  for (const el of document.querySelectorAll('[data-preset]')) {
    /** @type {HTMLElement} */ (el).hidden = !(/** @type {HTMLElement} */ (el).dataset.preset || '').split(' ').includes(preset);
  }
}

/** Shows the next 3 runs of the schedule as typed. */
function preview() {
  clearTimeout(previewTimer);
  previewTimer = window.setTimeout(async () => {
    const list = $('next-runs');
    const schedule = $('field-schedule').value.trim();
    show($('error-schedule'), '');
    show($('error-timezone'), '');
    if (!schedule) { list.replaceChildren(h('li', { class: 'muted', text: t('settings.runs_manual') })); return; }
    try {
      const runs = await ipc.schedulePreview(schedule, $('field-timezone').value.trim() || null);
      list.replaceChildren(...runs.map((r) => h('li', { testid: 'next-run', text: t('settings.next_run', { at: when(r), local: r.slice(0, 16).replace('T', ' '), zone: $('field-timezone').value.trim() || data.systemTimezone }) })));
    } catch (e) {
      list.replaceChildren();
      showError(e);
    }
  }, 250);
}

/** @param {any} f */
function fill(f) {
  $('field-name').value = f.name;
  $('field-database').value = f.database;
  $('field-docker_container').value = f.docker_container || '';
  $('field-destination').value = f.destination;
  $('field-extra_destinations').value = (f.extra_destinations || []).join('\n');
  $('field-schedule').value = f.schedule || '';
  $('field-timezone').value = f.timezone || '';
  $('field-format').value = f.format;
  $('field-compression').value = f.compression;
  $('field-tables').value = joinList(f.tables);
  $('field-exclude_tables').value = joinList(f.exclude_tables);
  $('field-schemas').value = joinList(f.schemas);
  $('field-exclude_schemas').value = joinList(f.exclude_schemas);
  $('field-enabled').checked = f.enabled;
  for (const k of RETENTION) $(`field-${k}`).value = String(f.retention[k] ?? 0);
  $('field-on_success').checked = f.notify.on_success;
  $('field-on_failure').checked = f.notify.on_failure;
  $('field-on_stale').checked = f.notify.on_stale;
  const p = presetOf(f.schedule);
  $('field-schedule-preset').value = p.preset;
  if (p.time) $('field-schedule-time').value = p.time;
  if (p.hours) $('field-schedule-hours').value = p.hours;
  if (p.day) $('field-schedule-day').value = p.day;
  showPresetFields();
  preview();
  fillMore(f);
}

/** The form as the shell expects it (keys are the TOML keys), or null after showing an error. */
function collect() {
  /** @type {Record<string, number>} */
  const retention = {};
  for (const k of RETENTION) {
    const raw = $(`field-${k}`).value.trim();
    const n = raw === '' ? 0 : Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 100000) {
      showError({ field: k, message: t('settings.whole_number') });
      return null;
    }
    retention[k] = n;
  }
  const more = collectMore(showError);
  if (!more) return null;
  const opt = (/** @type {string} */ v) => v.trim() || null;
  return {
    ...more,
    name: $('field-name').value.trim(),
    database: $('field-database').value.trim(),
    docker_container: opt($('field-docker_container').value),
    destination: $('field-destination').value.trim(),
    extra_destinations: $('field-extra_destinations').value.split('\n').map((s) => s.trim()).filter(Boolean),
    schedule: opt($('field-schedule').value),
    timezone: opt($('field-timezone').value),
    format: $('field-format').value,
    compression: $('field-compression').value,
    tables: splitList($('field-tables').value),
    exclude_tables: splitList($('field-exclude_tables').value),
    schemas: splitList($('field-schemas').value),
    exclude_schemas: splitList($('field-exclude_schemas').value),
    enabled: $('field-enabled').checked,
    retention,
    notify: { on_success: $('field-on_success').checked, on_failure: $('field-on_failure').checked, on_stale: $('field-on_stale').checked },
  };
}

/** @param {string|null} name */
function passwordState(name) {
  const j = name && data.jobs.find((/** @type {any} */ x) => x.form.name === name);
  const stored = Boolean(j && j.passwordStored);
  $('password-state').textContent = data.keyringOff
    ? t('settings.keyring_off')
    : stored ? t('settings.password_stored') : t('settings.password_none');
  $('password-delete').hidden = !stored;
}

/** The Encryption part of the form: what the job's backups are encrypted to, and which keys this keyring holds.
 * @param {string|null} name */
function encryptionState(name) {
  const j = name && data.jobs.find((/** @type {any} */ x) => x.form.name === name);
  const e = j ? j.encryption : null;
  const list = $('encryption-recipients');
  list.hidden = true;
  list.replaceChildren();
  $('encryption-new-key').disabled = !j;
  $('encryption-use-passphrase').disabled = !j;
  $('encryption-new-key').textContent = e && e.mode === 'keys' ? t('settings.encryption_make_key') : t('settings.encryption_new_key');
  $('encryption-use-passphrase').textContent = e && e.mode === 'passphrase' ? t('settings.encryption_change_passphrase') : t('settings.encryption_use_passphrase');
  let text;
  if (!j) text = t('settings.encryption_save_first');
  else if (e.mode === 'off') text = t('settings.encryption_off');
  else if (e.mode === 'passphrase') {
    text = e.passphraseKept ? t('settings.encryption_passphrase_kept') : t('settings.encryption_passphrase_missing');
  } else {
    text = tp('settings.encryption_keys', e.recipients.length);
    list.hidden = false;
    list.replaceChildren(...e.recipients.map((/** @type {string} */ r) => h('li', { testid: 'encryption-recipient' }, [
      h('code', { text: r }),
      h('span', { class: 'muted small', text: ` ${e.kept.includes(r) ? t('settings.key_kept') : t('settings.key_not_here')}` }),
    ])));
  }
  $('encryption-state').textContent = text;
}

/** Opens the form for a job, or for a new one. @param {string|null} name */
function edit(name) {
  editing = name;
  clearErrors();
  const j = name ? data.jobs.find((/** @type {any} */ x) => x.form.name === name) : null;
  const first = data.onedriveFolders[0];
  fill(j ? j.form : {
    name: '', database: '', docker_container: null, destination: first ? `${first}/Backups/` : '', extra_destinations: [], schedule: 'daily 00:00', timezone: null,
    format: 'plain', compression: 'zstd', tables: [], exclude_tables: [], schemas: [], exclude_schemas: [], enabled: true,
    retention: { keep_days: 7, keep_last: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, max_backups: 0 },
    notify: { on_success: false, on_failure: true, on_stale: true },
    compression_level: null, tool_dir: null, catch_up: 'once', retries: 2, stale_after: null, verify_every: 0,
  });
  $('field-password').value = '';
  passwordState(name);
  encryptionState(name);
  $('encryption-passphrase-form').hidden = true;
  $('job-form-title').textContent = name ? t('settings.edit_job', { name }) : t('settings.new_job');
  $('test-connection-result').hidden = true;
  $('job-form').hidden = false;
  $('field-name').focus();
}

async function save() {
  clearErrors();
  const form = collect();
  if (!form) return;
  $('job-save').disabled = true;
  try {
    await ipc.jobSave(editing, form);
    const pw = $('field-password').value;
    if (pw) {
      try { await ipc.passwordSet(form.name, pw); } catch (e) { showError(e); }
      $('field-password').value = '';
    }
    editing = form.name;
    await load();
    $('job-form-title').textContent = t('settings.edit_job', { name: form.name });
    passwordState(form.name);
    encryptionState(form.name);
    show($('job-saved'), t('settings.saved'));
  } catch (e) {
    showError(e);
  } finally {
    $('job-save').disabled = false;
  }
}

/** @param {any} j */
function jobItem(j) {
  const f = j.form;
  const n = f.name;
  return h('li', { testid: `settings-job-${n}`, class: 'job-item' }, [
    h('div', {}, [h('strong', { text: n }), h('div', { class: 'muted small', text: `${f.database} → ${f.destination}` }), h('div', { class: 'muted small', text: `${f.schedule ? `${f.schedule}${f.timezone ? `, ${f.timezone}` : ''}` : t('settings.manual_only')}${j.encryption.mode === 'off' ? '' : ` · ${t('settings.encrypted')}`}` })]),
    h('label', { class: 'check' }, [
      h('input', { type: 'checkbox', testid: `settings-enabled-${n}`, checked: f.enabled, onchange: async (/** @type {Event} */ ev) => {
        try { await ipc.jobSetEnabled(n, /** @type {HTMLInputElement} */ (ev.target).checked); await load(); } catch (e) { toast(/** @type {any} */ (e).message); }
      } }),
      ` ${t('settings.enabled')}`,
    ]),
    h('button', { type: 'button', testid: `settings-edit-${n}`, onclick: () => edit(n), text: t('settings.edit') }),
    h('button', { type: 'button', class: 'danger', testid: `settings-delete-${n}`, text: t('settings.delete'), onclick: async () => {
      if (!window.confirm(t('settings.delete_confirm', { name: n }))) return;
      try { await ipc.jobDelete(n); if (editing === n) $('job-form').hidden = true; await load(); } catch (e) { toast(/** @type {any} */ (e).message); }
    } }),
  ]);
}

export function init() {
  initMore();
  alertsView.init();
  $('settings-add-job').addEventListener('click', () => editWhenLoaded(null));
  $('job-form').addEventListener('submit', (/** @type {Event} */ ev) => { ev.preventDefault(); save(); });
  $('job-cancel').addEventListener('click', () => { $('job-form').hidden = true; editing = null; });
  $('job-form').addEventListener('keydown', (/** @type {KeyboardEvent} */ e) => {
    if (e.key === 'Escape') { $('job-form').hidden = true; editing = null; $('settings-add-job').focus(); }
  });
  for (const id of ['field-schedule-preset', 'field-schedule-time', 'field-schedule-hours', 'field-schedule-day']) $(id).addEventListener('change', presetChanged);
  $('field-schedule').addEventListener('input', () => { $('field-schedule-preset').value = presetOf($('field-schedule').value).preset; showPresetFields(); preview(); });
  $('field-timezone').addEventListener('input', preview);
  $('field-destination-browse').addEventListener('click', async () => {
    try { const d = await ipc.pickFolder(); if (d) $('field-destination').value = d; } catch (e) { showError(e); }
  });
  $('password-save').addEventListener('click', async () => {
    show($('error-password'), '');
    const name = editing || $('field-name').value.trim();
    if (!editing) { showError({ field: 'password', message: t('settings.password_save_first') }); return; }
    try {
      await ipc.passwordSet(name, $('field-password').value);
      $('field-password').value = '';
      await load();
      passwordState(name);
    } catch (e) { showError(e); }
  });
  $('password-delete').addEventListener('click', async () => {
    if (!editing) return;
    try { await ipc.passwordDelete(editing); await load(); passwordState(editing); } catch (e) { showError(e); }
  });
  $('encryption-new-key').addEventListener('click', async () => {
    if (!editing) return;
    const job = editing;
    clearErrors();
    $('encryption-new-key').disabled = true;
    try {
      const key = await ipc.encryptionNewKey(job);
      await load();
      encryptionState(job);
      if (key) {
        show($('encryption-result'), t('settings.encryption_key_done', { key: key.public, file: key.recoveryFile }));
      } else {
        showError({ field: 'encryption', message: t('settings.encryption_key_cancelled') });
      }
    } catch (e) {
      showError(e);
    } finally {
      $('encryption-new-key').disabled = false;
    }
  });
  $('encryption-use-passphrase').addEventListener('click', () => {
    $('encryption-passphrase-form').hidden = false;
    $('field-passphrase').focus();
  });
  $('encryption-passphrase-save').addEventListener('click', async () => {
    if (!editing) return;
    const job = editing;
    clearErrors();
    try {
      await ipc.encryptionPassphrase(job, $('field-passphrase').value, $('field-passphrase_again').value);
      $('field-passphrase').value = '';
      $('field-passphrase_again').value = '';
      $('encryption-passphrase-form').hidden = true;
      await load();
      encryptionState(job);
      show($('encryption-result'), t('settings.encryption_passphrase_done'));
    } catch (e) {
      showError(e);
    }
  });
  $('test-connection').addEventListener('click', async () => {
    clearErrors();
    const form = collect();
    if (!form) return;
    const out = $('test-connection-result');
    out.hidden = false;
    out.className = 'result-list';
    out.replaceChildren(h('li', { text: t('settings.testing') }));
    try {
      const r = await ipc.testConnection(form);
      out.className = `result-list ${r.ok ? 'ok' : 'bad'}`;
      out.replaceChildren(...r.messages.map((/** @type {string} */ m) => h('li', { text: m })));
    } catch (e) {
      out.hidden = true;
      showError(e);
    }
  });
  $('field-language').addEventListener('change', languageChanged);
  $('autostart-toggle').addEventListener('change', async () => {
    try { $('autostart-toggle').checked = await ipc.autostartSet($('autostart-toggle').checked); } catch (e) { toast(/** @type {any} */ (e).message); $('autostart-toggle').checked = !$('autostart-toggle').checked; }
  });
  $('test-notification').addEventListener('click', async () => {
    try { await ipc.sendTestNotification(); $('test-notification-result').textContent = t('settings.notification_sent'); } catch (e) { $('test-notification-result').textContent = /** @type {any} */ (e).message; }
  });
  $('onedrive-form').addEventListener('submit', async (/** @type {Event} */ ev) => {
    ev.preventDefault();
    for (const f of ['client_id', 'tenant']) show($(`error-${f}`), '');
    show($('onedrive-app-saved'), '');
    try {
      await ipc.onedriveAppSave($('field-client_id').value.trim() || null, $('field-tenant').value.trim() || 'common');
      await load();
      $('onedrive-message').textContent = '';
      show($('onedrive-app-saved'), t('settings.saved'));
    } catch (e) {
      const err = /** @type {any} */ (e);
      const el = err.field ? $(`error-${err.field}`) : null;
      if (el) { show(el, err.message); $(`field-${err.field}`).focus(); } else $('onedrive-message').textContent = err.message;
    }
  });
  $('onedrive-guide-open').addEventListener('click', () => { ipc.openOnedriveGuide().catch((e) => toast(e.message)); });
  $('onedrive-sign-in').addEventListener('click', () => signIn(false));
  $('onedrive-sign-in-code').addEventListener('click', () => signIn(true));
  $('onedrive-sign-out').addEventListener('click', async () => {
    try { await ipc.onedriveSignOut(); $('onedrive-message').textContent = t('settings.signed_out'); await load(); } catch (e) { $('onedrive-message').textContent = /** @type {any} */ (e).message; }
  });
}

// The language in use and the config's choice, from app.js (at start and after a change).
window.addEventListener('nightjar-language', (ev) => {
  $('field-language').value = /** @type {CustomEvent} */ (ev).detail.choice;
});

/** Saves Settings → Language and shows the window in it at once (the tray follows on its next config read). */
async function languageChanged() {
  const choice = $('field-language').value;
  show($('error-language'), '');
  try {
    const l = await ipc.uiLanguageSet(choice);
    window.dispatchEvent(new CustomEvent('nightjar-language-set', { detail: l }));
  } catch (e) {
    show($('error-language'), /** @type {any} */ (e).message);
  }
}

/** Browser sign-in, or with a code shown here (`code`). @param {boolean} code */
async function signIn(code) {
  const buttons = ['onedrive-sign-in', 'onedrive-sign-in-code'].map((id) => $(id));
  buttons.forEach((b) => { b.disabled = true; });
  $('onedrive-device').hidden = true;
  $('onedrive-message').textContent = code ? t('settings.asking_code') : t('settings.finish_in_browser');
  try {
    const who = code
      ? await ipc.onedriveSignInDevice((c) => {
        $('onedrive-device-uri').textContent = c.verificationUri;
        $('onedrive-device-code').textContent = c.userCode;
        $('onedrive-device').hidden = false;
        $('onedrive-message').textContent = tp('settings.waiting_code', Math.round(c.expiresIn / 60));
      })
      : await ipc.onedriveSignIn();
    $('onedrive-device').hidden = true;
    await load();
    $('onedrive-message').textContent = t('settings.signed_in_as', { account: who });
  } catch (e) {
    $('onedrive-device').hidden = true;
    const err = /** @type {any} */ (e);
    $('onedrive-message').textContent = err.message;
    // No application id yet: the guide says how to get one.
    if (err.field === 'client_id') { $('onedrive-guide').open = true; $('field-client_id').focus(); }
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

/** `{add: true}` from the Dashboard's first-run button. @param {{add?: boolean}} x */
export function open(x) {
  if (x && x.add) editWhenLoaded(null);
}

/** Opens the form once the Settings data is there (a click can come before it is). @param {string|null} name */
function editWhenLoaded(name) {
  if (data) edit(name);
  else load().then(() => edit(name), (e) => toast(/** @type {any} */ (e).message));
}

export async function load() {
  data = await ipc.settingsGet();
  $('settings-config-path').textContent = data.configPath;
  if (data.configError) show($('banner-error'), t('settings.config_error', { error: data.configError }));
  show($('settings-empty'), data.jobs.length || data.configError ? '' : t('settings.settings_empty'));
  $('settings-jobs').replaceChildren(...data.jobs.map(jobItem));
  $('autostart-toggle').checked = data.autostart;
  $('field-timezone').setAttribute('placeholder', t('settings.timezone_placeholder', { zone: data.systemTimezone }));
  const sug = $('onedrive-folder-suggest');
  sug.hidden = data.onedriveFolders.length === 0;
  sug.replaceChildren(
    h('span', { class: 'muted small', text: `${t('settings.onedrive_folder_found')} ` }),
    ...data.onedriveFolders.map((/** @type {string} */ f, /** @type {number} */ i) => h('button', { type: 'button', class: 'small', testid: `onedrive-folder-${i}`, text: f, onclick: () => {
      const name = $('field-name').value.trim() || 'nightjar';
      $('field-destination').value = `${f}/Backups/${name}`;
    } })),
  );
  if (document.activeElement !== $('field-client_id')) $('field-client_id').value = data.onedriveClientId || '';
  if (document.activeElement !== $('field-tenant')) $('field-tenant').value = data.onedriveTenant === 'common' ? '' : data.onedriveTenant;
  if (!data.onedriveReady && !data.onedriveAccount) $('onedrive-guide').open = true;
  $('onedrive-account').textContent = data.onedriveAccount
    ? t('settings.signed_in_as', { account: data.onedriveAccount })
    : data.onedriveReady ? t('settings.not_signed_in') : t('settings.not_signed_in_setup');
  $('onedrive-sign-out').hidden = !data.onedriveAccount;
  $('onedrive-sign-in').textContent = data.onedriveAccount ? t('settings.sign_in_again') : t('settings.onedrive_sign_in');
  await alertsView.load();
}
