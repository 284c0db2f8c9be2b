// Logs: the tail of today's log file (the app's, the CLI's and `nightjar run`'s).

import * as ipc from './ipc.js';
import { $ } from './util.js';
import { t, number } from './i18n.js';

export function init() {
  $('logs-refresh').addEventListener('click', () => load());
}

export async function load() {
  const tail = await ipc.logsTail(400);
  $('logs-file').textContent = tail.file ? t('logs.last_lines', { n: number(400), file: tail.file }) : t('logs.no_file');
  const pre = $('logs-text');
  pre.textContent = tail.text || t('logs.nothing');
  pre.scrollTop = pre.scrollHeight;
}
