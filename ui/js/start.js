// First run ("Get started", on the Dashboard while no job exists): the
// database servers this computer can reach, how Nightjar logs in to each
// (a password form when one is needed), their databases with sizes, and
// "Protect this database", which saves the proposed job; the Dashboard then
// runs its first backup on the new card.

import * as ipc from './ipc.js';
import { $, h, show, size } from './util.js';

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
  show($('discover-status'), again ? 'Looking again…' : 'Looking for databases on this computer…');
  try {
    found = await ipc.discover();
    render();
  } catch (e) {
    found = null;
    $('discover-servers').replaceChildren();
    show($('discover-status'), `${/** @type {any} */ (e).message} Add a job by hand instead.`);
  } finally {
    looking = false;
    $('discover-again').disabled = false;
  }
}

function render() {
  if (!found) return;
  const n = found.servers.length;
  const where = found.destinationHint ? ` Backups go to ${found.destinationHint}; change it later in Settings.` : '';
  show($('discover-status'), n === 0
    ? 'No database server found on this computer. Add a job by hand with its connection address, or start the server and look again.'
    : `Found ${n === 1 ? 'one database server' : `${n} database servers`}.${where}`);
  $('discover-servers').replaceChildren(...found.servers.map(server));
  $('discover-notes').replaceChildren(...found.notes.map((t) => h('li', { text: t })));
}

/** @param {ipc.FoundServer} s */
function server(s) {
  // The label names the engine: "PostgreSQL on this computer, port 5432".
  const title = s.label;
  return h('section', { class: 'server', testid: 'discover-server', 'data-server': s.id, 'data-kind': s.kind, 'aria-label': title }, [
    h('h3', { text: title }),
    h('p', { class: 'muted small', text: `Found by ${s.foundBy.join(', ')}${s.dockerContainer ? ` (Docker container ${s.dockerContainer})` : ''}.` }),
    login(s),
    s.databases.length
      ? h('ul', { class: 'dbs', 'aria-label': `Databases on ${s.label}` }, s.databases.map((d) => database(s, d)))
      : s.login.how === 'works' ? h('p', { class: 'muted', text: 'No databases of your own on this server yet.' }) : null,
  ]);
}

/** How Nightjar logs in, or the password form. @param {ipc.FoundServer} s */
function login(s) {
  if (s.login.how === 'works') {
    return h('p', { class: 'small', testid: 'discover-login', text: `Logs in as ${s.login.user || 'you'} without a password.` });
  }
  if (s.login.how === 'unreachable') {
    return h('p', { class: 'warn', testid: 'discover-login', text: s.login.message || 'Nightjar cannot reach this server.' });
  }
  const user = h('input', { type: 'text', testid: 'discover-user', value: s.login.user || '', autocomplete: 'username', spellcheck: 'false' });
  const password = h('input', { type: 'password', testid: 'discover-password', autocomplete: 'current-password' });
  const error = h('p', { class: 'field-error', testid: 'discover-login-error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'discover-login-button', text: 'Log in' });
  const form = h('form', { class: 'login-form', testid: 'discover-login-form' }, [
    h('label', {}, ['User', user]),
    h('label', {}, ['Password', password]),
    submit,
  ]);
  form.addEventListener('submit', async (/** @type {Event} */ ev) => {
    ev.preventDefault();
    show(error, '');
    if (!password.value) { show(error, 'Type the password first.'); password.focus(); return; }
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
    h('p', { class: 'small', text: s.login.message || 'This server needs a password; it is kept in your system keyring, never in a file.' }),
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
    d.protectedBy.length ? h('div', { class: 'small', testid: 'protected-by', text: `Protected by ${d.protectedBy.join(', ')}.` }) : null,
    error,
  ]);
  const button = d.protectedBy.length || s.login.how !== 'works'
    ? null
    : h('button', { type: 'button', class: 'primary', testid: 'protect', 'aria-label': `Protect this database: ${d.name}`, text: 'Protect this database' });
  if (button) {
    button.addEventListener('click', async () => {
      show(error, '');
      button.disabled = true;
      button.textContent = 'Protecting…';
      try {
        const { job } = await ipc.protect(s.id, d.name);
        found = null;
        protectedHook(job);
      } catch (e) {
        show(error, /** @type {any} */ (e).message);
        button.disabled = false;
        button.textContent = 'Protect this database';
      }
    });
  }
  return h('li', { class: 'db', testid: 'discover-db', 'data-database': d.name, 'data-server': s.id }, [what, button]);
}
