// Small DOM helpers. Text always goes in through textContent, never as
// HTML, so task names, payloads and errors cannot inject markup.

// h creates an element: h('td', {class: 'num'}, 'text', childNode, ...).
// Attributes whose value is null, undefined or false are left out.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// when formats an RFC 3339 time as local time, or '' for none.
export function when(s) {
  if (!s) return '';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return s;
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

export function badge(status) {
  return h('span', { class: `status s-${status}`, 'data-status': status }, status);
}

// progressOf shows a task's progress: a bar with counts when it reported
// some, an indeterminate bar while it runs without, nothing otherwise.
export function progressOf(t) {
  const p = t.progress;
  const running = t.status === 'STARTED' || t.status === 'PROCESSING';
  if (p && p.total > 0) {
    const label = `${p.current}/${p.total}${p.status ? ' ' + p.status : ''}`;
    return h('span', { class: 'progress' },
      h('progress', { max: String(p.total), value: String(Math.min(p.current, p.total)), title: label }),
      ' ', h('span', { class: 'muted' }, label));
  }
  if (running) return h('span', { class: 'progress' }, h('progress', { title: 'running' }));
  return h('span', { class: 'progress' });
}

// pretty formats a JSON value (a payload or result, already decoded) for
// a <pre>.
export function pretty(v) {
  return v === undefined ? 'null' : JSON.stringify(v, null, 2);
}
