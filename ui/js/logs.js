// Logs: the tail of today's log file (the app's, the CLI's and `nightjar run`'s).

import * as ipc from './ipc.js';
import { $ } from './util.js';

export function init() {
  $('logs-refresh').addEventListener('click', () => load());
}

export async function load() {
  const t = await ipc.logsTail(400);
  $('logs-file').textContent = t.file ? `Last 400 lines of ${t.file}` : 'No log file yet.';
  const pre = $('logs-text');
  pre.textContent = t.text || 'Nothing logged yet.';
  pre.scrollTop = pre.scrollHeight;
}
