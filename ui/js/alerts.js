// Settings → Alerts: the [[alert]] tables of the config (add, edit, delete),
// each one's secret in the keyring (write-only), "Send test" and the last
// delivery. The fields are the TOML keys.

import * as ipc from './ipc.js';
import { $, h, show, when } from './util.js';
import { t } from './i18n.js';

/** @type {any[]} */
let alerts = [];
/** Name of the alert being edited; null for a new one. @type {string|null} */
let editing = null;

const FIELDS = ['name', 'smtp', 'from', 'to', 'url', 'chat_id', 'api_base_url', 'events', 'jobs', 'remind_every', 'secret'];
/** The secret's label by kind. @param {string} kind */
const secretLabel = (kind) => ({ email: t('alerts.secret_email'), webhook: t('alerts.secret_webhook'), telegram: t('alerts.secret_telegram'), ping: t('alerts.secret_ping') })[kind] || t('alerts.label_a_secret');

/** @param {string} text */
const splitList = (text) => text.split(',').map((s) => s.trim()).filter(Boolean);
/** @param {string} id */
const val = (id) => $(id).value.trim() || null;

function clearErrors() {
  for (const f of FIELDS) show($(`alert-error-${f}`), '');
  show($('alert-form-error'), '');
  show($('alert-saved'), '');
}

/** @param {any} e */
function showError(e) {
  const el = e.field ? $(`alert-error-${e.field}`) : null;
  if (el) show(el, e.message); else show($('alert-form-error'), e.message);
}

function showKindFields() {
  const kind = $('alert-kind').value;
  for (const el of $('alert-form').querySelectorAll('[data-kinds]')) {
    /** @type {HTMLElement} */ (el).hidden = !(/** @type {HTMLElement} */ (el).dataset.kinds || '').split(' ').includes(kind);
  }
  $('alert-secret-label').textContent = secretLabel(kind);
}

/** Says whether the alert `name` has its secret stored (never the secret). @param {string|null} name */
function secretState(name) {
  const v = alerts.find((x) => x.alert.name === name);
  $('alert-secret-state').textContent = v && v.secretStored ? t('alerts.secret_stored') : t('alerts.secret_none');
}

/** @param {string|null} name */
function edit(name) {
  editing = name;
  clearErrors();
  const v = alerts.find((x) => x.alert.name === name);
  const a = v ? v.alert : { kind: 'email' };
  $('alert-form-title').textContent = name ? t('alerts.edit_alert', { name }) : t('alerts.new_alert');
  $('alert-name').value = a.name || '';
  $('alert-kind').value = a.kind;
  $('alert-smtp').value = a.smtp || '';
  $('alert-tls').value = a.tls || 'starttls';
  $('alert-from').value = a.from || '';
  $('alert-to').value = (a.to || []).join(', ');
  $('alert-url').value = a.url || '';
  $('alert-format').value = a.format || 'json';
  $('alert-chat_id').value = a.chat_id || '';
  $('alert-api_base_url').value = a.api_base_url || '';
  $('alert-events').value = (a.events || []).join(', ');
  $('alert-jobs').value = (a.jobs || []).join(', ');
  $('alert-remind_every').value = a.remind_every || '';
  $('alert-secret').value = '';
  secretState(name);
  showKindFields();
  $('alert-form').hidden = false;
  $('alert-name').focus();
}

function collect() {
  const kind = $('alert-kind').value;
  /** @type {Record<string, any>} */
  const a = { name: $('alert-name').value.trim(), kind, events: kind === 'ping' ? [] : splitList($('alert-events').value), jobs: splitList($('alert-jobs').value) };
  if (kind !== 'ping' && val('alert-remind_every')) a.remind_every = val('alert-remind_every');
  if (kind === 'email') Object.assign(a, { smtp: val('alert-smtp'), tls: $('alert-tls').value, from: val('alert-from'), to: splitList($('alert-to').value) });
  if (kind === 'webhook' || kind === 'ping') a.url = val('alert-url');
  if (kind === 'webhook') a.format = $('alert-format').value;
  if (kind === 'telegram') Object.assign(a, { chat_id: val('alert-chat_id'), api_base_url: val('alert-api_base_url') });
  for (const k of Object.keys(a)) if (a[k] === null) delete a[k];
  return a;
}

async function save() {
  clearErrors();
  const a = collect();
  try {
    await ipc.alertSave(editing, a);
    const secret = $('alert-secret').value;
    if (secret) await ipc.alertSecretSet(a.name, secret);
    editing = a.name;
    await load();
    show($('alert-saved'), t('settings.saved'));
    $('alert-secret').value = '';
    secretState(a.name);
  } catch (e) { showError(e); }
}

/** @param {any} v */
function item(v) {
  const a = v.alert;
  const d = v.lastDelivery;
  const what = d ? (d.job ? t('alerts.event_of_job', { event: d.event, job: d.job }) : d.event) : '';
  const last = d ? (d.error ? t('alerts.last_error', { result: d.result, at: when(d.at), what, error: d.error }) : t('alerts.last', { result: d.result, at: when(d.at), what })) : t('alerts.no_delivery');
  const result = h('span', { class: 'muted small', testid: `alert-test-result-${a.name}`, role: 'status' });
  return h('li', { testid: `alert-${a.name}` }, [
    h('strong', { text: a.name }),
    h('span', { class: 'muted', text: ` ${t('alerts.kind_last', { kind: a.kind })} ` }),
    h('span', { class: 'muted', testid: `alert-last-${a.name}`, text: last }),
    h('div', { class: 'row' }, [
      h('button', { type: 'button', class: 'small', testid: `alert-edit-${a.name}`, text: t('settings.edit'), onclick: () => edit(a.name) }),
      h('button', { type: 'button', class: 'small', testid: `alert-test-${a.name}`, text: t('alerts.send_test'), onclick: async () => {
        // The list may be drawn again while the test is on its way (it keeps
        // the texts shown): write into the line that is on the page then.
        const say = (/** @type {string} */ text) => { const el = $(`alert-test-result-${a.name}`); if (el) el.textContent = text; };
        say(t('alerts.sending'));
        try {
          const r = await ipc.alertTest(a.name);
          say(r.delivered ? t('alerts.delivered') : t('alerts.not_delivered', { error: r.error }));
        } catch (e) { say(/** @type {any} */ (e).message); }
        await load();
      } }),
      h('button', { type: 'button', class: 'small', testid: `alert-delete-${a.name}`, text: t('alerts.remove'), onclick: async () => {
        try { await ipc.alertDelete(a.name); if (editing === a.name) $('alert-form').hidden = true; await load(); } catch (e) { show($('alert-form-error'), /** @type {any} */ (e).message); }
      } }),
      result,
    ]),
  ]);
}

export function init() {
  $('alerts-add').addEventListener('click', () => edit(null));
  $('alert-kind').addEventListener('change', showKindFields);
  $('alert-form').addEventListener('submit', (/** @type {Event} */ ev) => { ev.preventDefault(); save(); });
  $('alert-cancel').addEventListener('click', () => { $('alert-form').hidden = true; editing = null; });
}

export async function load() {
  try { alerts = await ipc.alertsGet(); } catch { alerts = []; }
  show($('alerts-empty'), alerts.length ? '' : t('alerts.alerts_empty'));
  // Keep the test results already shown while the list is rebuilt.
  const shown = new Map();
  for (const v of alerts) { const el = $(`alert-test-result-${v.alert.name}`); if (el) shown.set(v.alert.name, el.textContent); }
  $('alerts-list').replaceChildren(...alerts.map(item));
  for (const [n, t] of shown) { const el = $(`alert-test-result-${n}`); if (el) el.textContent = t; }
}
