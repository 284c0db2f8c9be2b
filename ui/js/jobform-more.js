// The job form's other settings (issue 22, part 1): the connection as
// fields kept in step with the URL both ways (split and joined by the shell
// with the config file's own URL parser), and how the job runs (compression
// level, tool folder, catch-up, retries, stale after, test-restores). The
// shell checks them as the config file is checked; errors come back on the
// TOML key. The destination's OneDrive folder can be picked from the
// signed-in account's folders. settings.js calls fillMore(), collectMore()
// and initMore().

import * as ipc from './ipc.js';
import { $, h, show } from './util.js';
import { t } from './i18n.js';

/** Field keys of this part, for clearing their errors. */
export const MORE_FIELDS = ['conn_engine', 'conn_host', 'conn_port', 'conn_user', 'conn_database', 'conn_socket',
  'compression_level', 'tool_dir', 'catch_up', 'retries', 'stale_after', 'verify_every'];

const CONN = ['host', 'port', 'user', 'database', 'socket'];

/** URL parameters the fields do not show (`sslmode`), kept across edits. @type {Record<string, string>} */
let params = {};
let splitTimer = 0;
let joinTimer = 0;
/** Counts edits, so an answer to an older one does not overwrite a newer one. */
let generation = 0;

/** @param {string} key @param {string} message */
const fieldError = (key, message) => show($(`error-${key}`), message);

function clearConnErrors() {
  for (const k of CONN) fieldError(`conn_${k}`, '');
  fieldError('conn_engine', '');
}

/** Fills the connection fields from the URL field (after it changed). */
async function split() {
  const url = $('field-database').value.trim();
  const mine = ++generation;
  fieldError('database', '');
  clearConnErrors();
  if (!url) {
    for (const k of CONN) $(`field-conn_${k}`).value = '';
    params = {};
    return;
  }
  try {
    const p = await ipc.connectionSplit(url);
    if (mine !== generation) return;
    $('field-conn_engine').value = p.engine;
    $('field-conn_host').value = p.host;
    $('field-conn_port').value = p.port === null ? '' : String(p.port);
    $('field-conn_user').value = p.user;
    $('field-conn_database').value = p.database;
    $('field-conn_socket').value = p.socket;
    params = p.params || {};
  } catch (e) {
    if (mine === generation) fieldError('database', /** @type {any} */ (e).message);
  }
}

/** Writes the URL field from the connection fields (after one changed). */
async function join() {
  const mine = ++generation;
  clearConnErrors();
  fieldError('database', '');
  const port = $('field-conn_port').value.trim();
  if (port && !(/^\d+$/.test(port) && Number(port) > 0 && Number(port) < 65536)) {
    fieldError('conn_port', t('settings.port_error'));
    return;
  }
  const parts = {
    engine: $('field-conn_engine').value,
    host: $('field-conn_host').value.trim(),
    port: port ? Number(port) : null,
    user: $('field-conn_user').value.trim(),
    database: $('field-conn_database').value.trim(),
    socket: $('field-conn_socket').value.trim(),
    params,
  };
  try {
    const url = await ipc.connectionJoin(parts);
    if (mine === generation) $('field-database').value = url;
  } catch (e) {
    const err = /** @type {any} */ (e);
    if (mine === generation) fieldError(err.field && $(`error-${err.field}`) ? err.field : 'database', err.message);
  }
}

/** The OneDrive folder the browser shows, without slashes at the ends ("" is the top). */
let browsing = '';

/** Lists the folders of `path` in the signed-in OneDrive. @param {string} path */
async function browse(path) {
  const box = $('onedrive-browser');
  box.hidden = false;
  show($('onedrive-browser-error'), '');
  $('onedrive-browser-path').textContent = `/${path}`;
  $('onedrive-browser-up').disabled = !path;
  const list = $('onedrive-browser-folders');
  list.replaceChildren(h('li', { class: 'muted', text: t('settings.listing') }));
  browsing = path;
  try {
    const names = await ipc.onedriveBrowse(path);
    if (browsing !== path) return;
    list.replaceChildren(...(names.length ? names.map((n) => h('li', {}, [
      h('button', { type: 'button', class: 'small', testid: 'onedrive-browser-folder', 'data-name': n, text: n, onclick: () => browse(path ? `${path}/${n}` : n) }),
    ])) : [h('li', { class: 'muted', text: t('settings.no_folder_here') })]));
  } catch (e) {
    list.replaceChildren();
    show($('onedrive-browser-error'), /** @type {any} */ (e).message);
  }
}

export function initMore() {
  $('onedrive-browse').addEventListener('click', () => {
    const d = $('field-destination').value.trim();
    browse(d.startsWith('onedrive:') ? d.slice('onedrive:'.length).replace(/^\/+|\/+$/g, '') : '');
  });
  $('onedrive-browser-up').addEventListener('click', () => browse(browsing.split('/').slice(0, -1).join('/')));
  $('onedrive-browser-use').addEventListener('click', () => {
    $('field-destination').value = `onedrive:/${browsing}`;
    $('onedrive-browser').hidden = true;
    $('field-destination').focus();
  });
  $('onedrive-browser-close').addEventListener('click', () => { $('onedrive-browser').hidden = true; });
  $('field-database').addEventListener('input', () => { clearTimeout(splitTimer); splitTimer = window.setTimeout(split, 250); });
  for (const k of CONN) {
    $(`field-conn_${k}`).addEventListener('input', () => { clearTimeout(joinTimer); joinTimer = window.setTimeout(join, 250); });
  }
  $('field-conn_engine').addEventListener('change', () => { clearTimeout(joinTimer); join(); });
  $('field-tool_dir-browse').addEventListener('click', async () => {
    try {
      const d = await ipc.pickFolder();
      if (d) $('field-tool_dir').value = d;
    } catch (e) { fieldError('tool_dir', /** @type {any} */ (e).message); }
  });
}

/** Shows a job's run settings and splits its URL into the fields. @param {any} f */
export function fillMore(f) {
  $('field-compression_level').value = f.compression_level === null || f.compression_level === undefined ? '' : String(f.compression_level);
  $('field-tool_dir').value = f.tool_dir || '';
  $('field-catch_up').value = f.catch_up || 'once';
  $('field-retries').value = String(f.retries ?? 2);
  $('field-stale_after').value = f.stale_after || '';
  $('field-verify_every').value = String(f.verify_every ?? 0);
  $('onedrive-browser').hidden = true;
  params = {};
  clearTimeout(splitTimer);
  split();
}

/**
 * The run settings as the shell expects them (TOML keys), or null after
 * showing the error of a field that is not a number.
 * @param {(e: {field: string, message: string}) => void} showError
 */
export function collectMore(showError) {
  /** @param {string} key @param {number} min @param {number} max @param {boolean} optional */
  const whole = (key, min, max, optional) => {
    const raw = $(`field-${key}`).value.trim();
    if (raw === '' && optional) return null;
    const n = Number(raw === '' ? NaN : raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      showError({ field: key, message: optional ? t('settings.whole_number_range_optional', { min, max }) : t('settings.whole_number_range', { min, max }) });
      return undefined;
    }
    return n;
  };
  const compression_level = whole('compression_level', -100, 100, true);
  const retries = whole('retries', 0, 1000, false);
  const verify_every = whole('verify_every', 0, 100000, false);
  if (compression_level === undefined || retries === undefined || verify_every === undefined) return null;
  const opt = (/** @type {string} */ v) => v.trim() || null;
  return {
    compression_level,
    tool_dir: opt($('field-tool_dir').value),
    catch_up: $('field-catch_up').value,
    retries,
    stale_after: opt($('field-stale_after').value),
    verify_every,
  };
}
