// The pages of the dashboard. Each takes the data it shows and returns a
// node; buttons carry data-action (handled in app.js) and are left out in
// read-only mode.
import { h, when, badge, progressOf, pretty } from './dom.js';
import { isDone } from './api.js';

export const STATES = ['PENDING', 'STARTED', 'PROCESSING', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED'];
const COUNTS = [
  ['pending', 'Pending', 'PENDING'], ['scheduled', 'Scheduled', 'PENDING'], ['active', 'Active', 'PROCESSING'],
  ['retry', 'Retry', 'RETRY'], ['succeeded', 'Succeeded', 'SUCCESS'], ['failed', 'Failed', 'FAILURE'],
  ['revoked', 'Revoked', 'REVOKED'],
];

const button = (label, action, data, cls) =>
  h('button', { type: 'button', 'data-action': action, class: cls, ...data }, label);

const table = (head, rows) =>
  h('div', { class: 'scroll' }, h('table', {},
    h('thead', {}, h('tr', {}, head.map(([label, cls]) => h('th', { class: cls }, label)))),
    h('tbody', {}, rows)));

export function overview(q) {
  const rows = q.queues.map((s) => h('tr', { 'data-queue': s.queue },
    h('td', {}, h('a', { href: `#/tasks?queue=${encodeURIComponent(s.queue)}` }, s.queue)),
    h('td', { class: 'paused-cell' }, s.paused ? h('span', { class: 'paused' }, 'paused') : h('span', { class: 'muted' }, 'running')),
    COUNTS.map(([key, , state]) => h('td', { class: 'num', 'data-count': key },
      s[key] ? h('a', { href: `#/tasks?queue=${encodeURIComponent(s.queue)}&state=${state}` }, String(s[key])) : '0')),
    q.read_only ? null : h('td', {}, s.paused
      ? button('Resume', 'resume', { 'data-queue': s.queue })
      : button('Pause', 'pause', { 'data-queue': s.queue })),
  ));
  const head = [['Queue'], ['State'], ...COUNTS.map(([, label]) => [label, 'num'])];
  if (!q.read_only) head.push(['']);
  return h('section', {},
    h('h2', {}, 'Queues'),
    q.unsupported ? h('p', { class: 'muted' }, q.unsupported)
      : q.queues.length ? table(head, rows) : h('p', { class: 'muted' }, 'No queues yet.'),
    q.dead_letters === null ? null : h('p', {},
      'Dead letters: ', h('a', { href: '#/dead', id: 'dead-total' }, String(q.dead_letters))),
    alerts(q.alerts),
    q.read_only ? h('p', { class: 'muted' }, 'Read-only: changes are turned off on this server.') : null);
}

// alerts shows the failure counts per task name in the current alert
// window, alerted names first (the server sorts them), or nothing when the
// server cannot report them (null, or absent over a broker without
// statistics).
function alerts(list) {
  if (!list) return null;
  const rows = list.map((a) => h('tr', { 'data-alert-name': a.task_name, class: a.alerted ? 'alerted-row' : null },
    h('td', { class: 'name' }, a.task_name),
    h('td', {}, a.alerted
      ? h('span', { class: 'alert-badge', 'data-alerted': 'true' }, 'alerted')
      : h('span', { class: 'muted', 'data-alerted': 'false' }, 'below')),
    h('td', { class: 'num' }, String(a.failures)),
    h('td', { class: 'num' }, String(a.threshold)),
    h('td', {}, a.window), h('td', {}, when(a.window_end))));
  // The columns that matter come first: a phone shows them without scrolling.
  return [h('h2', {}, 'Failures by task name'),
    list.length ? table([['Task name'], ['Alert'], ['Failures', 'num'], ['Threshold', 'num'], ['Window'], ['Resets']], rows)
      : h('p', { class: 'muted', id: 'no-alerts' }, 'No task has failed for good in the current alert window.')];
}

function pager(offset, limit, shown, hasNext, href) {
  return h('div', { class: 'pager' },
    offset > 0 ? h('a', { href: href(Math.max(0, offset - limit)) }, '← Previous') : null,
    h('span', { class: 'muted' }, shown ? `${offset + 1}–${offset + shown}` : ''),
    hasNext ? h('a', { href: href(offset + limit) }, 'Next →') : null);
}

export function tasks(q, list, f) {
  const select = (name, values, current) => h('label', {}, name + ' ',
    h('select', { 'data-filter': name },
      h('option', { value: '', selected: !current }, 'all'),
      values.map((v) => h('option', { value: v, selected: v === current }, v))));
  const rows = list.tasks.map((t) => h('tr', { 'data-task-id': t.task_id },
    h('td', {}, h('a', { href: `#/task/${encodeURIComponent(t.task_id)}` }, t.task_id)),
    h('td', {}, t.name), h('td', {}, t.queue),
    h('td', { class: 'status-cell' }, badge(t.status)),
    h('td', { class: 'progress-cell' }, progressOf(t)),
    h('td', { class: 'num' }, String(t.attempt)),
    h('td', {}, when(t.enqueued_at)),
    q.read_only ? null : h('td', {}, isDone(t.status) ? '' : button('Cancel', 'cancel', { 'data-id': t.task_id }, 'danger'))));
  const head = [['Task'], ['Name'], ['Queue'], ['Status'], ['Progress'], ['Attempt', 'num'], ['Enqueued']];
  if (!q.read_only) head.push(['']);
  return h('section', {},
    h('h2', {}, 'Tasks'),
    h('div', { class: 'filters' },
      select('queue', q.queues.map((s) => s.queue), f.queue),
      select('state', STATES, f.state)),
    list.unsupported ? h('p', { class: 'muted' }, list.unsupported)
      : list.tasks.length ? table(head, rows) : h('p', { class: 'muted' }, 'No tasks match.'),
    pager(f.offset, list.limit, list.tasks.length, list.tasks.length === list.limit, (o) => taskHref({ ...f, offset: o })));
}

// taskHref is the location of the task list with filters f.
export function taskHref(f) {
  const p = new URLSearchParams();
  if (f.queue) p.set('queue', f.queue);
  if (f.state) p.set('state', f.state);
  if (f.offset) p.set('offset', String(f.offset));
  return '#/tasks' + (p.size ? '?' + p : '');
}

const field = (label, value) => value === '' || value === undefined || value === null ? null
  : [h('dt', {}, label), h('dd', {}, value)];

export function task(q, t) {
  const headers = Object.entries(t.headers || {});
  return h('section', { 'data-task-id': t.task_id },
    h('h2', {}, 'Task ', t.task_id),
    h('dl', {},
      field('Name', t.name), field('Queue', t.queue),
      field('Status', h('span', { class: 'status-cell' }, badge(t.status),
        t.cancel_requested && !isDone(t.status) ? h('span', { class: 'muted' }, ' cancel requested') : null)),
      field('Progress', h('span', { class: 'progress-cell' }, progressOf(t))),
      field('Attempt', String(t.attempt)),
      field('Max retries', t.max_retries < 0 ? 'worker default' : String(t.max_retries)),
      field('Retries', String(t.retries)), field('Redeliveries', String(t.redeliveries)),
      field('Enqueued', when(t.enqueued_at)), field('Not before', when(t.not_before)),
      field('Started', when(t.started_at)), field('Finished', when(t.finished_at)),
      field('Expires', when(t.expires_at))),
    q.read_only || isDone(t.status) ? null
      : h('p', { class: 'actions' }, button('Cancel', 'cancel', { 'data-id': t.task_id }, 'danger')),
    t.error ? [h('h2', {}, 'Error'), h('pre', { class: 'error' }, t.error)] : null,
    t.result !== null ? [h('h2', {}, 'Result'), h('pre', { class: 'result' }, pretty(t.result))] : null,
    h('h2', {}, 'Payload'), h('pre', { class: 'payload' }, pretty(t.payload)),
    headers.length ? [h('h2', {}, 'Headers'),
      table([['Key'], ['Value']], headers.map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', { class: 'wrap' }, v))))] : null);
}

export function dead(q, page, offset) {
  const rows = page.entries.map((e) => h('tr', { 'data-dead-id': e.task_id },
    h('td', {}, e.task_id), h('td', {}, e.task_name), h('td', {}, e.queue),
    h('td', {}, when(e.failed_at)), h('td', { class: 'num' }, String(e.retries)),
    h('td', { class: 'wrap' }, e.error,
      h('details', { 'data-key': 'dead:' + e.task_id }, h('summary', {}, 'trace and payload'),
        e.trace ? h('pre', {}, e.trace) : h('p', { class: 'muted' }, 'no trace'),
        h('pre', {}, pretty(e.payload)))),
    q.read_only ? null : h('td', {}, h('span', { class: 'actions' },
      button('Replay', 'replay', { 'data-id': e.task_id }),
      button('Delete', 'delete', { 'data-id': e.task_id }, 'danger')))));
  const head = [['Task'], ['Name'], ['Queue'], ['Failed'], ['Retries', 'num'], ['Error']];
  if (!q.read_only) head.push(['']);
  return h('section', {},
    h('h2', {}, `Dead letters (${page.total})`),
    page.entries.length ? table(head, rows) : h('p', { class: 'muted' }, 'No dead letters.'),
    pager(offset, page.entries.length, page.entries.length, page.next_offset !== null, (o) => `#/dead?offset=${o}`));
}
