import { t } from './i18n.js';

// h builds an element: h('a', {href: '#', class: 'x', onclick: fn}, 'text', child).
export function h(tag, attrs, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// api fetches a JSON endpoint relative to the dashboard's base (/ui/).
export async function api(path, opts = {}) {
  const resp = await fetch(new URL('api/' + path, document.baseURI), {
    credentials: 'same-origin', headers: { Accept: 'application/json', ...(opts.headers || {}) }, ...opts,
  });
  if (resp.status === 204) return null;
  let body = null;
  try { body = await resp.json(); } catch (e) { /* empty */ }
  if (!resp.ok) {
    const err = new APIError(resp.status, (body && body.error) || resp.statusText);
    if (resp.status === 401 && path !== 'login' && path !== 'session') window.dispatchEvent(new CustomEvent('tdsc:logged-out'));
    throw err;
  }
  return body;
}

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== undefined && v !== null && v !== false) u.set(k, v);
  const s = u.toString();
  return s ? '?' + s : '';
}

export function bytes(n) {
  if (!n) return '0 B';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(n < 10 ? 1 : 0) : n) + ' ' + u[i];
}

export function num(n) { return Number(n || 0).toLocaleString(); }

// when is a date and time to the second, or to the millisecond when stepMs
// (the width of the interval it starts) is under a second.
export function when(s, stepMs = 1000) {
  if (!s) return '';
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString(undefined, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', ...(stepMs < 1000 ? { fractionalSecondDigits: 3 } : {}), hour12: false });
}

// whenShort is a compact date and time for chart axes, to the minute, or finer
// when stepMs (the width of a bar) is under a minute, so no two bars share a label
// (a demo's whole ledger may be written within a second).
export function whenShort(s, stepMs = 60000) {
  const d = new Date(s);
  const fine = stepMs < 60000 ? { second: '2-digit', ...(stepMs < 1000 ? { fractionalSecondDigits: 3 } : {}) } : {};
  return isNaN(d) ? s : d.toLocaleString(undefined, { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', ...fine, hour12: false });
}

export function classLabel(c) { return c ? t('class.' + c) : ''; }

// table renders rows with a caption and column headers; cols are [key, render(row)].
// A caption that repeats the heading above the table is kept for screen readers only.
export function table(caption, cols, rows, attrs = {}) {
  if (!rows || rows.length === 0) return h('p', { class: 'empty' }, t('none'));
  const { captionHidden, ...rest } = attrs;
  return h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption },
    h('table', rest,
      h('caption', captionHidden ? { class: 'sr-only' } : {}, caption),
      h('thead', {}, h('tr', {}, cols.map(([k]) => h('th', { scope: 'col' }, t(k))))),
      h('tbody', {}, rows.map((r) => h('tr', r.__class ? { class: r.__class } : {}, cols.map(([, f]) => h('td', {}, f(r))))))));
}

export function recordLink(id) {
  return h('a', { href: '#/record/' + encodeURIComponent(id) }, id);
}

export function announce(msg) {
  const s = document.getElementById('status');
  s.textContent = '';
  setTimeout(() => { s.textContent = msg; }, 30);
}

// toLocalInput / fromLocalInput convert between RFC 3339 and <input type=datetime-local>.
export function fromLocalInput(v) { return v ? new Date(v).toISOString() : ''; }
export function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// field is a labelled form control.
export function field(labelKey, control) {
  const id = 'f-' + Math.random().toString(36).slice(2, 8);
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, t(labelKey)), control);
}

export function select(name, value, options, render = (o) => o) {
  return h('select', { name },
    h('option', { value: '' }, t('f.any')),
    options.map((o) => h('option', { value: o, selected: o === value }, render(o))));
}
