// First run ("Get started", on the Dashboard while no job exists): the
// database servers this computer can reach, how Nightjar logs in to each
// (a password form when one is needed), their databases with sizes, and
// "Protect this database", which saves the proposed job; the Dashboard then
// runs its first backup on the new card.

import * as ipc from './ipc.js';
import { $, h, show, size } from './util.js';
import { t, tp } from './i18n.js';

/** The last discovery, kept while the panel shows (reloads do not look again). @type {ipc.Discovery|null} */
let found = null;
let looking = false;
/** Called with the new job's name once it is saved. @type {(job: string) => void} */
let protectedHook = () => {};

/** @param {(job: string) => void} onProtected */
export function init(onProtected) {
  protectedHook = onProtected;
  $('discover-again').addEventListener('click', () => look(true));
}

/** Shows the panel's content, looking for servers the first time. */
export async function showPanel() {
  if (found) render();
  else await look(false);
}

/** @param {boolean} again */
async function look(again) {
  if (looking) return;
  looking = true;
  $('discover-again').disabled = true;
  show($('discover-status'), again ? t('start.looking_again') : t('start.looking'));
  try {
    found = await ipc.discover();
    render();
  } catch (e) {
    found = null;
    $('discover-servers').replaceChildren();
    show($('discover-status'), t('start.discover_failed', { error: /** @type {any} */ (e).message }));
  } finally {
    looking = false;
    $('discover-again').disabled = false;
  }
}

function render() {
  if (!found) return;
  const n = found.servers.length;
  const where = found.destinationHint ? t('start.destination_hint', { destination: found.destinationHint }) : '';
  show($('discover-status'), n === 0
    ? t('start.none_found')
    : `${tp('start.found_servers', n)}${where}`);
  $('discover-servers').replaceChildren(...found.servers.map(server));
  $('discover-notes').replaceChildren(...found.notes.map((t) => h('li', { text: t })));
}

/** @param {ipc.FoundServer} s */
function server(s) {
  // The label names the engine: "PostgreSQL on this computer, port 5432".
  const title = s.label;
  return h('section', { class: 'server', testid: 'discover-server', 'data-server': s.id, 'data-kind': s.kind, 'aria-label': title }, [
    h('h3', { text: title }),
    h('p', { class: 'muted small', text: s.dockerContainer ? t('start.found_by_docker', { how: s.foundBy.join(', '), container: s.dockerContainer }) : t('start.found_by', { how: s.foundBy.join(', ') }) }),
    login(s),
    s.databases.length
      ? h('ul', { class: 'dbs', 'aria-label': t('start.databases_on', { server: s.label }) }, s.databases.map((d) => database(s, d)))
      : s.login.how === 'works' ? h('p', { class: 'muted', text: t('start.no_databases') }) : null,
  ]);
}

/** How Nightjar logs in, or the password form. @param {ipc.FoundServer} s */
function login(s) {
  if (s.login.how === 'works') {
    return h('p', { class: 'small', testid: 'discover-login', text: s.login.user ? t('start.logs_in_as', { user: s.login.user }) : t('start.logs_in_as_you') });
  }
  if (s.login.how === 'unreachable') {
    return h('p', { class: 'warn', testid: 'discover-login', text: s.login.message || t('start.unreachable') });
  }
  const user = h('input', { type: 'text', testid: 'discover-user', value: s.login.user || '', autocomplete: 'username', spellcheck: 'false' });
  const password = h('input', { type: 'password', testid: 'discover-password', autocomplete: 'current-password' });
  const error = h('p', { class: 'field-error', testid: 'discover-login-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'discover-login-button', text: t('start.log_in') });
  const form = h('form', { class: 'login-form', testid: 'discover-login-form' }, [
    h('label', {}, [t('start.user'), user]),
    h('label', {}, [t('start.password'), password]),
    submit,
  ]);
  form.addEventListener('submit', async (/** @type {Event} */ ev) => {
    ev.preventDefault();
    show(error, '');
    if (!password.value) { show(error, t('start.password_first')); password.focus(); return; }
    submit.disabled = true;
    try {
      const updated = await ipc.discoverLogin(s.id, user.value.trim(), password.value);
      if (found) found.servers = found.servers.map((x) => (x.id === s.id ? updated : x));
      render();
    } catch (e) {
      show(error, /** @type {any} */ (e).message);
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  return h('div', { testid: 'discover-login' }, [
    h('p', { class: 'small', text: s.login.message || t('start.needs_password') }),
    form,
    error,
  ]);
}

/** @param {ipc.FoundServer} s @param {ipc.FoundDatabase} d */
function database(s, d) {
  const error = h('p', { class: 'error-line', testid: 'protect-error', role: 'alert', hidden: true });
  const what = h('div', { class: 'what' }, [
    h('strong', { text: d.name }),
    h('span', { class: 'muted small', text: d.sizeBytes === null || d.sizeBytes === undefined ? '' : size(d.sizeBytes) }),
    d.protectedBy.length ? h('div', { class: 'small', testid: 'protected-by', text: t('start.protected_by', { jobs: d.protectedBy.join(', ') }) }) : null,
    error,
  ]);
  const button = d.protectedBy.length || s.login.how !== 'works'
    ? null
    : h('button', { type: 'button', class: 'primary', testid: 'protect', 'aria-label': t('start.protect_aria', { database: d.name }), text: t('start.protect') });
  if (button) {
    button.addEventListener('click', async () => {
      show(error, '');
      button.disabled = true;
      button.textContent = t('start.protecting');
      try {
        const { job } = await ipc.protect(s.id, d.name);
        found = null;
        protectedHook(job);
      } catch (e) {
        show(error, /** @type {any} */ (e).message);
        button.disabled = false;
        button.textContent = t('start.protect');
      }
    });
  }
  return h('li', { class: 'db', testid: 'discover-db', 'data-database': d.name, 'data-server': s.id }, [what, button]);
}
