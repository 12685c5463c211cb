// The dashboard: a hash router (#/, #/tasks?…, #/task/ID, #/dead), a
// refresh loop that polls the JSON API every POLL_MS while the page is
// visible, and Server-Sent Event streams for the progress of running tasks.
// A page left open for hours holds only what it shows: every refresh
// replaces the view, and at most MAX_STREAMS streams are open.
import { getJSON, post, del, Streams, APIError, isDone } from './api.js';
import { progressOf, badge } from './dom.js';
import * as views from './views.js';

const POLL_MS = 1500;
const MAX_POLL_MS = 4000;
const MAX_STREAMS = 3;
const PAGE = 25;

const main = document.getElementById('main');
const conn = document.getElementById('conn');
const flash = document.getElementById('flash');
const deadCount = document.getElementById('dead-count');

let last = '';
let timer = 0;
let running = false;
let again = false;
let failures = 0;
let flashTimer = 0;
const openDetails = new Set();

// route reads the location's hash.
function route() {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, query] = hash.split('?');
  const p = new URLSearchParams(query || '');
  const offset = Math.max(0, parseInt(p.get('offset') || '0', 10) || 0);
  if (path.startsWith('/task/')) return { page: 'task', id: decodeURIComponent(path.slice(6)) };
  if (path === '/tasks') return { page: 'tasks', queue: p.get('queue') || '', state: p.get('state') || '', offset };
  if (path === '/dead') return { page: 'dead', offset };
  return { page: 'overview' };
}

// READ_ONLY is what the server said when it served the page.
const READ_ONLY = document.documentElement.dataset.readOnly === 'true';

// unsupported returns the message of a 501 (the broker lacks what the
// route needs), and rethrows anything else.
function unsupported(e) {
  if (e instanceof APIError && e.status === 501) return e.message;
  throw e;
}

// queues loads the overview; with a broker that keeps no statistics, the
// dead-letter count alone.
async function queues() {
  try {
    return await getJSON('queues');
  } catch (e) {
    const msg = unsupported(e);
    let dead = null;
    try {
      dead = (await getJSON('dead-letters?limit=1')).total;
    } catch (e2) {
      if (!(e2 instanceof APIError) || e2.status !== 404) throw e2;
    }
    return { queues: [], dead_letters: dead, read_only: READ_ONLY, unsupported: msg };
  }
}

// load fetches what the current page shows.
async function load(r) {
  const q = await queues();
  q.read_only = q.read_only || READ_ONLY;
  let data = null;
  if (r.page === 'tasks') {
    const p = new URLSearchParams({ offset: String(r.offset), limit: String(PAGE) });
    if (r.queue) p.set('queue', r.queue);
    if (r.state) p.set('state', r.state);
    try {
      data = await getJSON('tasks?' + p);
    } catch (e) {
      data = { tasks: [], limit: PAGE, unsupported: unsupported(e) };
    }
  } else if (r.page === 'task') {
    data = await getJSON('tasks/' + encodeURIComponent(r.id));
  } else if (r.page === 'dead' && q.dead_letters !== null) {
    data = await getJSON(`dead-letters?offset=${r.offset}&limit=${PAGE}`);
  }
  return { q, data };
}

function render(r, { q, data }) {
  deadCount.textContent = q.dead_letters === null ? '' : `(${q.dead_letters})`;
  deadCount.parentElement.hidden = q.dead_letters === null;
  for (const a of document.querySelectorAll('nav a')) {
    a.classList.toggle('active', a.dataset.nav === r.page || (a.dataset.nav === 'tasks' && r.page === 'task'));
  }
  let view;
  if (r.page === 'tasks') view = views.tasks(q, data, r);
  else if (r.page === 'task') view = views.task(q, data);
  else if (r.page === 'dead' && data) view = views.dead(q, data, r.offset);
  else view = views.overview(q);
  const keep = new Set();
  for (const d of view.querySelectorAll('details[data-key]')) {
    keep.add(d.dataset.key);
    d.open = openDetails.has(d.dataset.key);
  }
  for (const k of openDetails) if (!keep.has(k)) openDetails.delete(k);
  for (const btn of view.querySelectorAll('button[data-action="delete"]')) {
    if (deleteArmed.has(btn.dataset.id)) btn.textContent = DELETE_CONFIRM;
  }
  main.replaceChildren(view);
  streams.sync(runningIds(r, data));
}

function runningIds(r, data) {
  if (r.page === 'tasks') return data.tasks.filter((t) => !isDone(t.status) && t.status !== 'PENDING').map((t) => t.task_id);
  if (r.page === 'task' && !isDone(data.status)) return [data.task_id];
  return [];
}

// A stream's snapshot updates the task's status and progress in place.
const streams = new Streams(MAX_STREAMS, (t) => {
  for (const el of main.querySelectorAll(`[data-task-id="${CSS.escape(t.task_id)}"]`)) {
    el.querySelector('.status-cell')?.replaceChildren(badge(t.status));
    el.querySelector('.progress-cell')?.replaceChildren(progressOf(t));
  }
  if (isDone(t.status)) refresh();
});

function setConnected(ok, why) {
  conn.textContent = ok ? 'live' : `disconnected: ${why}; retrying`;
  conn.classList.toggle('down', !ok);
}

function showFlash(msg) {
  flash.textContent = msg;
  flash.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { flash.hidden = true; }, 8000);
}

// refresh loads and renders the current page now, then schedules the next.
async function refresh() {
  if (running) {
    again = true;
    return;
  }
  running = true;
  clearTimeout(timer);
  const r = route();
  try {
    const d = await load(r);
    failures = 0;
    setConnected(true);
    const key = JSON.stringify([r, d]);
    if (key !== last) {
      last = key;
      render(r, d);
    }
  } catch (e) {
    if (e instanceof APIError && (e.status === 0 || e.status >= 500)) {
      failures++;
      setConnected(false, e.message);
    } else {
      setConnected(true);
      last = '';
      main.replaceChildren(document.createTextNode(e.message));
    }
  } finally {
    running = false;
  }
  if (again) {
    again = false;
    refresh();
    return;
  }
  if (!document.hidden) {
    timer = setTimeout(refresh, Math.min(POLL_MS * 2 ** Math.max(0, failures - 1), MAX_POLL_MS));
  }
}

// deleteArmed holds the dead letter whose Delete was pressed once; the
// second press deletes it.
const deleteArmed = new Set();
const DELETE_CONFIRM = 'Delete for good?';

async function act(btn) {
  const { action, queue, id } = btn.dataset;
  const enc = encodeURIComponent;
  try {
    if (action === 'pause' || action === 'resume') await post(`queues/${enc(queue)}/${action}`);
    else if (action === 'cancel') await del(`tasks/${enc(id)}`);
    else if (action === 'replay') await post(`dead-letters/${enc(id)}/replay`);
    else if (action === 'delete') {
      if (!deleteArmed.has(id)) {
        deleteArmed.clear();
        deleteArmed.add(id);
        btn.textContent = DELETE_CONFIRM;
        return;
      }
      deleteArmed.delete(id);
      await del(`dead-letters/${enc(id)}`);
    }
  } catch (e) {
    showFlash(`${action} failed: ${e.message}`);
  }
  last = '';
  refresh();
}

main.addEventListener('click', (ev) => {
  const btn = ev.target.closest('button[data-action]');
  if (!btn || btn.disabled) return;
  btn.disabled = btn.dataset.action !== 'delete' || deleteArmed.has(btn.dataset.id);
  act(btn);
});

main.addEventListener('change', (ev) => {
  const sel = ev.target.closest('select[data-filter]');
  if (!sel) return;
  const r = route();
  location.hash = views.taskHref({ ...r, [sel.dataset.filter]: sel.value, offset: 0 });
});

main.addEventListener('toggle', (ev) => {
  const d = ev.target;
  if (!d.dataset?.key) return;
  if (d.open) openDetails.add(d.dataset.key);
  else openDetails.delete(d.dataset.key);
}, true);

window.addEventListener('hashchange', () => {
  last = '';
  refresh();
});

document.addEventListener('visibilitychange', () => {
  if (document.hidden) {
    clearTimeout(timer);
    streams.closeAll();
  } else {
    last = '';
    refresh();
  }
});

refresh();
