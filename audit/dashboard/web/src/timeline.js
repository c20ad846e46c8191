import { Chart, BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip } from 'chart.js';
import { h, api, qs, num, bytes, table, field, select, recordLink, when, whenShort, classLabel, fromLocalInput, toLocalInput, announce } from './dom.js';
import { t, kindLabel } from './i18n.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

const kinds = ['participant.registered', 'participant.updated', 'rules.updated', 'dataset.registered', 'offer.published',
  'agreement.signed', 'negotiation.denied', 'agreement.revoked', 'transfer.authorized', 'transfer.completed',
  'transfer.denied', 'usage.logged', 'duty.fulfilled', 'objection.filed', 'objection.resolved'];

// Muted colours for ordinary kinds; denials in strong red so they stand out.
const palette = {
  'negotiation.denied': '#c62828', 'transfer.denied': '#ff1744', 'agreement.revoked': '#6a1b9a', 'objection.filed': '#ad1457',
};
const calm = ['#90a4ae', '#80cbc4', '#a5d6a7', '#9fa8da', '#b0bec5', '#81d4fa', '#c5e1a5', '#bcaaa4', '#b39ddb', '#ffe082', '#80deea'];

const blank = () => ({ from: '', to: '', kind: '', participant: '', denied: false, cursor: '', stack: [], interval: '' });
const state = blank();

// resetTimeline forgets the filters and page, so the next session starts afresh.
export function resetTimeline() { Object.assign(state, blank()); }
let chart = null;

export async function timelinePage(main) {
  const [tl, recs] = await Promise.all([
    api('timeline' + qs({ from: state.from, to: state.to, kind: state.kind, participant: state.participant, denied: state.denied ? 1 : '', buckets: 48 })),
    api('records' + qs({ from: state.from, to: state.to, kind: state.kind, participant: state.participant, denied: state.denied ? 1 : '', cursor: state.cursor, limit: 25 })),
  ]);
  if (chart) { chart.destroy(); chart = null; }
  const canvas = h('canvas', { role: 'img', 'aria-label': t('tl.chart', num(tl.total), num(tl.denials)), id: 'timeline-chart' });
  main.replaceChildren(
    h('h1', { tabindex: -1 }, t('tl.title')),
    filters(() => { state.cursor = ''; state.stack = []; timelinePage(main); }),
    h('figure', { class: 'chart-wrap' }, h('div', { class: 'chart-box' }, canvas), h('figcaption', {}, t('tl.chart', num(tl.total), num(tl.denials)), ' ', t('tl.hint'))),
    chartTable(tl, (b) => pick(main, tl, b)),
    h('h2', { id: 'records-heading', tabindex: -1 }, t('tl.records')),
    state.interval ? h('p', {}, state.interval) : '',
    h('p', { id: 'records-total' }, t('tl.total', num(recs.total))),
    table(t('tl.records'), [
      ['col.id', (r) => recordLink(r.id)],
      ['col.time', (r) => when(r.time)],
      ['col.kind', (r) => r.denied ? h('span', { class: 'badge denied', title: r.kind }, '✕ ', kindLabel(r.kind)) : h('span', { title: r.kind }, kindLabel(r.kind))],
      ['col.actor', (r) => r.actor], ['col.counterparty', (r) => r.counterparty || ''],
      ['col.dataset', (r) => r.dataset || ''], ['col.class', (r) => classLabel(r.classification)],
      ['col.bytes', (r) => r.bytes ? bytes(r.bytes) : ''],
      ['col.rule', (r) => r.rule || ''],
    ], recs.records.map((r) => ({ ...r, __class: r.denied ? 'denied-row' : '' })), { id: 'records-table', captionHidden: true }),
    h('nav', { class: 'pager', 'aria-label': t('tl.records') },
      h('button', { type: 'button', class: 'secondary', disabled: state.stack.length === 0,
        onclick: () => { state.cursor = state.stack.pop() || ''; timelinePage(main); } }, '← ' + t('tl.prev')),
      h('button', { type: 'button', class: 'secondary', disabled: !recs.next,
        onclick: () => { state.stack.push(state.cursor); state.cursor = recs.next; timelinePage(main); } }, t('tl.next') + ' →')),
  );
  const present = kinds.filter((k) => tl.kinds.includes(k));
  let ci = 0;
  chart = new Chart(canvas, {
    type: 'bar',
    data: {
      labels: tl.buckets.map((b) => whenShort(b.start, tl.bucketMs)),
      datasets: present.map((k) => ({ label: kindLabel(k), data: tl.buckets.map((b) => b.counts[k] || 0), backgroundColor: palette[k] || calm[ci++ % calm.length], stack: 'all' })),
    },
    options: {
      animation: false, maintainAspectRatio: false, responsive: true,
      scales: { x: { stacked: true, ticks: { maxTicksLimit: 8 } }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { position: 'bottom' } },
      onClick: (ev, els) => { if (els.length) pick(main, tl, tl.buckets[els[0].index]); },
    },
  });
}

// pick lists the records of one bucket.
function pick(main, tl, b) {
  const start = new Date(b.start), end = new Date(start.getTime() + tl.bucketMs);
  state.from = start.toISOString(); state.to = end.toISOString(); state.cursor = ''; state.stack = [];
  state.interval = t('tl.interval', when(state.from, tl.bucketMs), when(state.to, tl.bucketMs));
  announce(state.interval);
  timelinePage(main).then(() => document.getElementById('records-heading')?.focus());
}

// chartTable is the chart's data as a table, for keyboards and screen readers:
// one row per non-empty interval with a button listing its records.
function chartTable(tl, onPick) {
  const rows = tl.buckets.map((b) => {
    const total = Object.values(b.counts).reduce((a, n) => a + n, 0);
    const denied = (b.counts['negotiation.denied'] || 0) + (b.counts['transfer.denied'] || 0);
    return { b, total, denied };
  }).filter((r) => r.total > 0);
  return h('details', { class: 'chart-data' }, h('summary', {}, t('tl.asTable')),
    table(t('tl.asTable'), [
      ['col.time', (r) => when(r.b.start, tl.bucketMs)], ['tl.count', (r) => num(r.total)], ['tl.denials', (r) => r.denied ? h('strong', { class: 'bad' }, num(r.denied)) : '0'],
      ['tl.list', (r) => h('button', { type: 'button', class: 'secondary', onclick: () => onPick(r.b) }, t('tl.list'))],
    ], rows, { captionHidden: true }));
}

function filters(reload) {
  const from = h('input', { type: 'datetime-local', name: 'from', value: toLocalInput(state.from) });
  const to = h('input', { type: 'datetime-local', name: 'to', value: toLocalInput(state.to) });
  const kind = select('kind', state.kind, kinds, kindLabel);
  const who = h('input', { type: 'text', name: 'participant', value: state.participant, size: 14, autocomplete: 'off' });
  const denied = h('input', { type: 'checkbox', name: 'denied', checked: state.denied });
  return h('form', {
    class: 'filters', 'aria-label': t('tl.title'),
    onsubmit: (ev) => {
      ev.preventDefault();
      Object.assign(state, { from: fromLocalInput(from.value), to: fromLocalInput(to.value), kind: kind.value, participant: who.value.trim(), denied: denied.checked, interval: '' });
      reload();
    },
  },
  field('f.from', from), field('f.to', to), field('f.kind', kind), field('f.participant', who),
  h('div', { class: 'field check' }, h('label', {}, denied, ' ', t('f.denied'))),
  h('div', { class: 'buttons' },
    h('button', { type: 'submit' }, t('f.apply')),
    h('button', { type: 'button', class: 'secondary', onclick: () => { Object.assign(state, { from: '', to: '', kind: '', participant: '', denied: false, interval: '' }); reload(); } }, t('f.reset'))));
}
