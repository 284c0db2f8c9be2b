// The only module that talks to the Nightjar shell (invoke, Channel, listen).
// Every other module imports these functions; nothing else touches window.__TAURI__.

/**
 * Every command's error: `code` says what kind of failure it is (the views
 * switch on it), `message` is the sentence to show, `field` the form input at
 * fault when there is one. Codes: config, not-found, needs-confirmation,
 * connection, auth, auth-expired, tool, destination, destination-full, busy,
 * history, secret, interrupted, invalid-backup, other.
 * @typedef {{ code: string, message: string, field?: (string|null) }} UiError
 * @typedef {{ kind: 'started', job: string }
 *   | { kind: 'stage', job: string, stage: string, label: string }
 *   | { kind: 'progress', job: string, stage: string, bytesIn: number, bytesOut: number, elapsedMs: number, rate: number }
 *   | { kind: 'warning', job: string, message: string }
 *   | { kind: 'finished', job: string, file: string, name: string, size: number, durationMs: number }
 *   | { kind: 'failed', job: string, message: string, code: string }} ProgressEvent
 * @typedef {{ id: number, job: string, kind: string, trigger: string, status: string, started_at: string,
 *   finished_at: (string|null), duration_ms: (number|null), size: (number|null), file: (string|null),
 *   destination: string, error: (string|null), error_kind: (string|null), verified_at: (string|null) }} RunRecord
 * @typedef {{ name: string, enabled: boolean, database: string, destination: string, schedule: (string|null),
 *   timezone: string, nextRuns: string[], lastRun: (RunRecord|null), lastSuccess: (RunRecord|null),
 *   stale: boolean, running: boolean, health: string[],
 *   cloud: ({ state: ('in-cloud'|'pending'|'late'|'gone'), at: string }|null),
 *   copies: { destination: string, good: boolean, error: (string|null) }[] }} JobCard
 * @typedef {{ jobs: JobCard[], paused: boolean, resumeAt: (string|null), configPath: string,
 *   configError: (string|null), dataDir: string, onedriveFolders: string[] }} Overview
 * @typedef {{ job: string, ok: boolean, file: (string|null), name: (string|null), size: (number|null),
 *   durationMs: (number|null), error: (string|null), code: (string|null) }} BackupOutcome
 */

import { t } from './i18n.js';

const tauri = window.__TAURI__;

/** True inside the Nightjar app (false when the page is opened in a browser). */
export const inApp = Boolean(tauri && tauri.core);

/** @param {unknown} e @returns {UiError} */
function asError(e) {
  if (e && typeof e === 'object' && 'message' in e) {
    const err = /** @type {UiError} */ (e);
    return { code: err.code || 'other', message: err.message, field: err.field || null };
  }
  return { code: 'other', message: String(e), field: null };
}

/**
 * @param {string} cmd
 * @param {Record<string, unknown>} [args]
 */
async function call(cmd, args) {
  if (!inApp) throw { code: 'other', message: t('app.not_in_app'), field: null };
  try {
    return await tauri.core.invoke(cmd, args);
  } catch (e) {
    throw asError(e);
  }
}

/** @param {(e: ProgressEvent) => void} onEvent */
function channel(onEvent) {
  const ch = new tauri.core.Channel();
  ch.onmessage = onEvent;
  return ch;
}

/**
 * Subscribes to a shell event; returns the unsubscribe function (a promise of it).
 * @param {'runs-changed'|'run-progress'|'navigate'} name
 * @param {(payload: any) => void} handler
 */
export function on(name, handler) {
  if (!inApp) return Promise.resolve(() => {});
  return tauri.event.listen(name, (/** @type {{payload: any}} */ e) => handler(e.payload));
}

export const appInfo = () => call('app_info');
/**
 * The window's language: `language` the resolved code ("en", "ru", …), `choice` the config's `[ui] language`
 * ("auto" or a code), `messages` that language's catalog, `english` the English one (fallbacks).
 * @typedef {{ language: string, choice: string, messages: Record<string, string>, english: Record<string, string> }} UiLanguage
 * @returns {Promise<UiLanguage>}
 */
export const uiLanguage = () => call('ui_language');
/** Saves `[ui] language` ("auto", "en", "ru", "tr", "fr", "th") and returns the language now in use. @param {string} choice @returns {Promise<UiLanguage>} */
export const uiLanguageSet = (choice) => call('ui_language_set', { choice });
/** The view the shell asked for (tray, notification click), once. @returns {Promise<{view: string, pick?: boolean}|null>} */
export const takeNavigation = () => call('take_navigation');
/** @returns {Promise<Overview>} */
export const overview = () => call('overview');
/** Per job, the last backups and the last days (see charts.js). @returns {Promise<import('./charts.js').JobChart[]>} */
export const jobCharts = () => call('job_charts');
/** @param {string|null} job @param {(e: ProgressEvent) => void} onEvent @returns {Promise<BackupOutcome[]>} */
export const backupNow = (job, onEvent) => call('backup_now', { job, onProgress: channel(onEvent) });
/** @param {string} job */
export const cancelRun = (job) => call('cancel_run', { job });
/** @param {boolean} paused */
export const setPaused = (paused) => call('set_paused', { paused });

/** @param {{job?: string, kind?: string, status?: string, trigger?: string, limit?: number}} filter @returns {Promise<RunRecord[]>} */
export const historyList = (filter) => call('history_list', { filter });
export const historyStats = () => call('history_stats');
/** The file manager (folder) or the OneDrive page (returns its address) of a backup. @param {number} id @returns {Promise<string|null>} */
export const revealFile = (id) => call('reveal_file', { id });
/** A check of a backup (downloaded first when remote); with `testRestore` also restored into a scratch database and dropped.
 * @param {number} id @param {boolean} testRestore @param {(e: ProgressEvent) => void} onEvent */
export const verifyBackup = (id, testRestore, onEvent) => call('verify_backup', { id, testRestore, onProgress: channel(onEvent) });
/** Deletes a backup and its entry; a job's newest good backup fails with `needs-confirmation` unless `force`.
 * @param {number} id @param {boolean} [force] */
export const deleteBackup = (id, force = false) => call('delete_backup', { id, force });
/** "Save a copy…" (save dialog, then a checked download); null when the dialog was cancelled.
 * @param {number} id @returns {Promise<{file: string, saved_to: string, manifest: (string|null), size: number, sha256: string, checked: boolean}|null>} */
export const saveCopy = (id) => call('save_copy', { id });
/**
 * @typedef {{ job: string, name: string, path: string, size: number, taken_at: string, trigger: string, format: string,
 *   compression: string, encrypted: boolean, sha256: (string|null), size_matches: boolean }} BackupEntry
 */
/** A job's backups in its destination, newest first, and the address of the newest good one.
 * @param {string} job @returns {Promise<{job: string, destination: string, backups: BackupEntry[], newestGood: (string|null)}>} */
export const jobBackups = (job) => call('job_backups', { job });

/** @returns {Promise<string|null>} */
export const pickBackupFile = () => call('pick_backup_file');
/** @returns {Promise<string|null>} */
export const pickKeyFile = () => call('pick_key_file');
/** @param {{file: string, job: (string|null), asNew: (string|null), safetyBackup: boolean, identity: (string|null)}} request */
export const restorePlan = (request) => call('restore_plan', { request });
/** @param {{file: string, job: (string|null), asNew: (string|null), safetyBackup: boolean}} request @param {string} confirm @param {(e: ProgressEvent) => void} onEvent */
export const restoreRun = (request, confirm, onEvent) => call('restore_run', { request, confirm, onProgress: channel(onEvent) });

/**
 * Wraps a getter so that calls made while others are on their way all resolve
 * with the answer of the newest one: the shell answers commands on several
 * threads, and an older answer arriving last must not be drawn over a newer one.
 * @template T @param {() => Promise<T>} get @returns {() => Promise<T>}
 */
function newest(get) {
  let seq = 0;
  /** @type {Promise<T>|null} */
  let last = null;
  return () => {
    const mine = ++seq;
    /** @type {Promise<T>} */
    // An older call resolves with the promise of the newest one (`last`, set by then).
    const p = get().then((v) => (mine === seq ? v : /** @type {Promise<T>} */ (last)));
    last = p;
    return p;
  };
}

export const settingsGet = newest(() => call('settings_get'));
export const alertsGet = newest(() => call('alerts_get'));
/** @param {string|null} original @param {object} alert */
export const alertSave = (original, alert) => call('alert_save', { original, alert });
/** @param {string} name */
export const alertDelete = (name) => call('alert_delete', { name });
/** @param {string} name @param {string} secret @returns {Promise<boolean>} */
export const alertSecretSet = (name, secret) => call('alert_secret_set', { name, secret });
/** @param {string} name @returns {Promise<{alert: string, kind: string, delivered: boolean, error: (string|null)}>} */
export const alertTest = (name) => call('alert_test', { name });
/** @param {string|null} original @param {object} form */
export const jobSave = (original, form) => call('job_save', { original, form });
/** @param {string} name */
export const jobDelete = (name) => call('job_delete', { name });
/** @param {string} name @param {boolean} enabled */
export const jobSetEnabled = (name, enabled) => call('job_set_enabled', { name, enabled });
/** @param {string} job @param {string} password @returns {Promise<boolean>} */
export const passwordSet = (job, password) => call('password_set', { job, password });
/** @param {string} job @returns {Promise<boolean>} */
export const passwordDelete = (job) => call('password_delete', { job });
/** @param {object} form */
export const testConnection = (form) => call('test_connection', { form });
/** @param {string} schedule @param {string|null} timezone @returns {Promise<string[]>} */
export const schedulePreview = (schedule, timezone) => call('schedule_preview', { schedule, timezone, count: 3 });
/** Makes a job's key after its recovery file is saved (save dialog); null when the dialog was cancelled.
 * @param {string} job @returns {Promise<{public: string, recoveryFile: string}|null>} */
export const encryptionNewKey = (job) => call('encryption_new_key', { job });
/** @param {string} job @param {string} passphrase @param {string} again */
export const encryptionPassphrase = (job, passphrase, again) => call('encryption_passphrase', { job, passphrase, again });
/**
 * @typedef {{ engine: ('postgres'|'mysql'), host: string, port: (number|null), user: string, database: string, socket: string,
 *   params: Record<string, string> }} ConnectionParts
 */
/** The fields of a connection URL. @param {string} url @returns {Promise<ConnectionParts>} */
export const connectionSplit = (url) => call('connection_split', { url });
/** The connection URL of the fields. @param {ConnectionParts} parts @returns {Promise<string>} */
export const connectionJoin = (parts) => call('connection_join', { parts });
/** The folders in a folder of the signed-in OneDrive ("" is the top). @param {string} path @returns {Promise<string[]>} */
export const onedriveBrowse = (path) => call('onedrive_browse', { path });
/** @returns {Promise<string|null>} */
export const pickFolder = () => call('pick_folder');
/** @param {boolean} enabled @returns {Promise<boolean>} */
export const autostartSet = (enabled) => call('autostart_set', { enabled });
/** @returns {Promise<string>} */
export const onedriveSignIn = () => call('onedrive_sign_in');
export const onedriveSignOut = () => call('onedrive_sign_out');
const deviceChannel = (/** @type {(c: any) => void} */ onCode) => { const ch = new tauri.core.Channel(); ch.onmessage = onCode; return ch; };
/** Sign-in with a code; `onCode` gets the code to show. @param {(c: {userCode: string, verificationUri: string, message: string, expiresIn: number}) => void} onCode @returns {Promise<string>} */
export const onedriveSignInDevice = (onCode) => call('onedrive_sign_in_device', { onCode: deviceChannel(onCode) });
/** @param {string|null} clientId @param {string} tenant */
export const onedriveAppSave = (clientId, tenant) => call('onedrive_app_save', { clientId, tenant });
export const openOnedriveGuide = () => call('open_onedrive_guide');
/** Whether to offer "start at login" now (once, after the first good backup). @returns {Promise<boolean>} */
export const autostartOffer = () => call('autostart_offer');
/** @param {boolean} enable @returns {Promise<boolean>} */
export const autostartOfferAnswer = (enable) => call('autostart_offer_answer', { enable });

/**
 * @typedef {{ name: string, sizeBytes: (number|null), protectedBy: string[], proposal: any }} FoundDatabase
 * @typedef {{ id: string, kind: ('postgres'|'mysql'), label: string, host: (string|null), port: (number|null), socket: (string|null),
 *   dockerContainer: (string|null), foundBy: string[], login: { how: ('works'|'needs-password'|'unreachable'), user: (string|null), message: (string|null) },
 *   databases: FoundDatabase[] }} FoundServer
 * @typedef {{ servers: FoundServer[], onedriveFolder: (string|null), destinationHint: (string|null), notes: string[] }} Discovery
 */
/** The database servers this computer can reach. @returns {Promise<Discovery>} */
export const discover = () => call('discover');
/** Logs in to a server found with a password (kept in the keyring). @param {string} serverId @param {string} user @param {string} password @returns {Promise<FoundServer>} */
export const discoverLogin = (serverId, user, password) => call('discover_login', { serverId, user, password });
/** Saves the job proposed for a database. @param {string} serverId @param {string} database @returns {Promise<{job: string}>} */
export const protect = (serverId, database) => call('protect', { serverId, database });
export const sendTestNotification = () => call('send_test_notification');

/** @param {number} lines @returns {Promise<{file: (string|null), text: string}>} */
export const logsTail = (lines) => call('logs_tail', { lines });
