// Calls to the queue's JSON API. Every URL is relative to the dashboard's
// own (…/ui/), so the dashboard works wherever the handler is mounted.

const base = new URL('../', document.baseURI);

// apiURL returns the absolute URL of an API path such as "tasks?limit=5".
export function apiURL(path) {
  return new URL(path, base);
}

// APIError is an answer outside 2xx; status 0 means no answer at all.
export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path) {
  const init = { method, cache: 'no-store', headers: { Accept: 'application/json' } };
  if (method === 'POST') {
    // The API refuses state-changing requests that are not JSON.
    init.headers['Content-Type'] = 'application/json';
    init.body = '{}';
  }
  let res;
  try {
    res = await fetch(apiURL(path), init);
  } catch (e) {
    throw new APIError(0, 'server unreachable');
  }
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) {
    throw new APIError(res.status, (body && body.error) || `HTTP ${res.status}`);
  }
  return body;
}

export const getJSON = (path) => call('GET', path);
export const post = (path) => call('POST', path);
export const del = (path) => call('DELETE', path);

const done = new Set(['SUCCESS', 'FAILURE', 'REVOKED']);

export function isDone(status) {
  return done.has(status);
}

// Streams keeps at most max Server-Sent Event streams open, one per task
// id, and calls onState with each task snapshot they bring. A stream
// closes itself when its task is done. Browsers allow few connections per
// server, so the rest of the page keeps its own by polling.
export class Streams {
  constructor(max, onState) {
    this.max = max;
    this.onState = onState;
    this.open = new Map();
  }

  // sync leaves open the streams of ids (up to max) and closes the others.
  sync(ids) {
    const want = new Set(ids.slice(0, this.max));
    for (const [id, es] of this.open) {
      if (!want.has(id)) {
        es.close();
        this.open.delete(id);
      }
    }
    for (const id of want) {
      if (!this.open.has(id)) this.start(id);
    }
  }

  start(id) {
    const es = new EventSource(apiURL(`tasks/${encodeURIComponent(id)}/events`));
    this.open.set(id, es);
    const stop = () => {
      es.close();
      if (this.open.get(id) === es) this.open.delete(id);
    };
    es.addEventListener('state', (ev) => {
      let t;
      try {
        t = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.onState(t);
      if (isDone(t.status)) stop();
    });
    // An "error" event with data is the server ending the stream; one
    // without is the connection, which EventSource retries by itself
    // unless it gave up (then the next sync opens a new one).
    es.addEventListener('error', (ev) => {
      if (ev.data !== undefined || es.readyState === EventSource.CLOSED) stop();
    });
  }

  closeAll() {
    this.sync([]);
  }
}
