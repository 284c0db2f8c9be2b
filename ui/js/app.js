// Page entry: navigation between the views, the footer, and the shell's
// global events (runs changed, navigate after a notification or tray click).

import * as ipc from './ipc.js';
import { t, apply, setLanguage } from './i18n.js';
import { $, show } from './util.js';
import * as dashboard from './dashboard.js';
import * as history from './history.js';
import * as restore from './restore.js';
import * as settings from './settings.js';
import * as logs from './logs.js';

/** @type {Record<string, {init: () => void, load: () => Promise<void>}>} */
const views = { dashboard, history, restore, settings, logs };
let current = 'dashboard';

/** @param {string} name @param {{focus?: boolean}} [opts] */
export async function go(name, opts = {}) {
  if (!views[name]) return;
  current = name;
  delete document.documentElement.dataset.loaded;
  for (const btn of document.querySelectorAll('button.nav')) {
    const b = /** @type {HTMLButtonElement} */ (btn);
    if (b.dataset.view === name) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  for (const key of Object.keys(views)) {
    /** @type {HTMLElement} */ ($(`view-${key}`)).hidden = key !== name;
  }
  if (opts.focus !== false) /** @type {HTMLElement} */ (document.getElementById('main')).focus({ preventScroll: true });
  await reload();
}

/** Reloads the visible view (nothing runs while the window is hidden). */
export async function reload() {
  if (document.hidden) return;
  show($('banner-error'), '');
  const view = current;
  try {
    await views[view].load();
  } catch (e) {
    show($('banner-error'), /** @type {any} */ (e).message || String(e));
  }
  // The view shows its data (`html[data-loaded]`, what the tests wait for).
  if (view === current) document.documentElement.dataset.loaded = view;
}

for (const btn of document.querySelectorAll('button.nav')) {
  btn.addEventListener('click', () => go(/** @type {HTMLElement} */ (btn).dataset.view || 'dashboard'));
}
// Arrow keys move between the nav buttons.
document.querySelector('nav')?.addEventListener('keydown', (ev) => {
  const e = /** @type {KeyboardEvent} */ (ev);
  if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
  const buttons = [...document.querySelectorAll('button.nav')];
  const i = buttons.indexOf(/** @type {Element} */ (document.activeElement));
  if (i < 0) return;
  const next = /** @type {HTMLElement} */ (buttons[(i + (e.key === 'ArrowRight' ? 1 : buttons.length - 1)) % buttons.length]);
  next.focus();
});

/** Shows the window in the language the shell resolved (the config's `[ui] language`, or the OS's). @param {ipc.UiLanguage} l */
function useLanguage(l) {
  // No English catalog (it did not parse): keep the page's own English rather than show keys.
  if (!l.english || !Object.keys(l.english).length) return;
  setLanguage(l.language, l.messages, l.english);
  apply();
  window.dispatchEvent(new CustomEvent('nightjar-language', { detail: l }));
}

// The words first: every view draws its texts in the language.
try {
  useLanguage(await ipc.uiLanguage());
} catch {
  // Outside the app (or a broken catalog): the page's own English stays.
}

for (const v of Object.values(views)) v.init();

// Settings → Language changed: redraw the static texts and the view, no restart.
window.addEventListener('nightjar-language-set', (ev) => {
  useLanguage(/** @type {CustomEvent} */ (ev).detail);
  showVersion();
  reload();
});

window.addEventListener('nightjar-go', (ev) => {
  const { view, extra } = /** @type {CustomEvent} */ (ev).detail;
  go(view).then(() => { const v = /** @type {any} */ (views[view]); if (extra !== undefined && v.open) v.open(extra); });
});

ipc.on('runs-changed', () => {
  if (current === 'dashboard' || current === 'history' || current === 'logs') reload();
});
ipc.on('run-progress', (p) => dashboard.onProgress(p));
/** @param {{view: string, pick?: boolean}|null} p */
function navigateTo(p) {
  if (!p) return;
  go(p.view).then(() => {
    if (p.view === 'restore' && p.pick) restore.browse();
  });
}
// The request is also kept by the shell until taken, so a window opened
// by that same click (it was closed) still gets it.
ipc.on('navigate', () => { ipc.takeNavigation().then(navigateTo).catch(() => {}); });
document.addEventListener('visibilitychange', () => { if (!document.hidden) reload(); });

function showVersion() {
  ipc.appInfo()
    .then((info) => { $('app-version').textContent = t('app.version', { version: info.version }); })
    .catch(() => { $('app-version').textContent = ipc.inApp ? t('app.version_unknown') : t('app.not_in_app'); });
}
showVersion();

go('dashboard', { focus: false }).then(() => ipc.takeNavigation()).then(navigateTo).catch(() => {});
