import { forceSimulation, forceLink, forceManyBody, forceCenter, forceCollide, forceX, forceY } from 'd3-force';
import { h, api, qs, bytes, num, table, field, select, classLabel, fromLocalInput, toLocalInput, announce } from './dom.js';
import { t } from './i18n.js';

const W = 960, H = 560;
export const classColors = { general: '#2e7d32', important: '#e65100', core: '#b71c1c', '': '#607d8b' };

// state survives language switches and returns to the page.
const blank = () => ({ from: '', to: '', classification: '', region: '', category: '' });
const state = blank();

// resetFlows forgets the filters, so the next session starts afresh.
export function resetFlows() { Object.assign(state, blank()); }

export async function flowsPage(main) {
  const data = await api('flows' + qs(state));
  main.replaceChildren(
    h('h1', { tabindex: -1 }, t('flows.title')),
    filters(data.options, () => flowsPage(main)),
    graph(data),
    h('p', { class: 'legend' }, t('flows.legend'), ' ',
      ['general', 'important', 'core'].map((c) => h('span', { class: 'swatch-item' }, h('span', { class: 'swatch c-' + c, 'aria-hidden': 'true' }), classLabel(c))),
      h('span', { class: 'swatch-item' }, h('span', { class: 'swatch dashed', 'aria-hidden': 'true' }), t('crossBorder'))),
    h('p', { id: 'node-detail', class: 'detail', 'aria-live': 'polite' }, t('flows.select')),
    table(t('flows.table'), [
      ['col.provider', (e) => e.provider], ['col.consumer', (e) => e.consumer],
      ['col.class', (e) => h('span', { class: 'badge c-' + e.classification }, classLabel(e.classification))],
      ['col.bytes', (e) => bytes(e.bytes)], ['col.transfers', (e) => num(e.transfers)],
      ['col.cross', (e) => e.crossBorder ? h('strong', { class: 'cross' }, t('yes') + ' (' + e.fromRegion + ' → ' + e.toRegion + ')') : t('no')],
      ['col.basis', (e) => (e.legalBasis || []).join(', ')], ['col.datasets', (e) => (e.datasets || []).join(', ')],
    ], data.edges, { id: 'flows-table' }),
    h('div', { class: 'two' },
      table(t('flows.byClass'), [['col.class', (r) => classLabel(r.classification)], ['col.transfers', (r) => num(r.transfers)], ['col.bytes', (r) => bytes(r.bytes)]], data.byClassification),
      table(t('flows.byRegion'), [['col.from', (r) => r.fromRegion], ['col.to', (r) => r.toRegion], ['col.cross', (r) => r.crossBorder ? t('yes') : t('no')],
        ['col.transfers', (r) => num(r.transfers)], ['col.bytes', (r) => bytes(r.bytes)]], data.byRegion)),
    // Computations appear once a ledger has any (compute.executed).
    ...((data.compute || []).length === 0 ? [] : [table(t('flows.compute'), [['col.agreement', (c) => c.agreement], ['col.provider', (c) => c.provider], ['col.consumer', (c) => c.consumer],
      ['col.dataset', (c) => c.dataset], ['col.runs', (c) => num(c.runs)], ['col.denied', (c) => num(c.denied)], ['col.cpu', (c) => num(c.cpuMillis)],
      ['col.bytesOut', (c) => bytes(c.bytesOut)]], data.compute || [], { id: 'compute-table' }),
    table(t('flows.computeBy'), [['col.participant', (m) => m.participant], ['col.role', (m) => m.role], ['col.runs', (m) => num(m.runs)],
      ['col.denied', (m) => num(m.denied)], ['col.cpu', (m) => num(m.cpuMillis)], ['col.bytesOut', (m) => bytes(m.bytesOut)]], data.computeByParticipant || [])]),
  );
}

function filters(opts, reload) {
  const from = h('input', { type: 'datetime-local', name: 'from', value: toLocalInput(state.from) });
  const to = h('input', { type: 'datetime-local', name: 'to', value: toLocalInput(state.to) });
  const cls = select('classification', state.classification, opts.classifications || [], classLabel);
  const reg = select('region', state.region, opts.regions || []);
  const cat = select('category', state.category, opts.categories || []);
  return h('form', {
    class: 'filters', 'aria-label': t('flows.title'),
    onsubmit: (ev) => {
      ev.preventDefault();
      Object.assign(state, { from: fromLocalInput(from.value), to: fromLocalInput(to.value), classification: cls.value, region: reg.value, category: cat.value });
      reload();
    },
  },
  field('f.from', from), field('f.to', to), field('f.class', cls), field('f.region', reg), field('f.category', cat),
  h('div', { class: 'buttons' },
    h('button', { type: 'submit' }, t('f.apply')),
    h('button', { type: 'button', class: 'secondary', onclick: () => { Object.assign(state, { from: '', to: '', classification: '', region: '', category: '' }); reload(); } }, t('f.reset'))));
}

function graph(data) {
  const label = t('flows.graph', data.nodes.length, data.edges.length);
  if (data.nodes.length === 0) return h('p', { class: 'empty', id: 'flow-graph-empty' }, t('flows.empty'));
  const maxVol = Math.max(1, ...data.nodes.map((n) => n.bytesSent + n.bytesReceived));
  const nodes = data.nodes.map((n) => ({ ...n, r: 14 + 30 * Math.sqrt((n.bytesSent + n.bytesReceived) / maxVol) }));
  const links = data.edges.map((e) => ({ ...e, source: e.provider, target: e.consumer }));
  const sim = forceSimulation(nodes)
    .force('link', forceLink(links).id((d) => d.id).distance(260).strength(0.5))
    .force('charge', forceManyBody().strength(-2200))
    .force('center', forceCenter(W / 2, H / 2))
    .force('x', forceX(W / 2).strength(0.03)).force('y', forceY(H / 2).strength(0.05))
    .force('collide', forceCollide((d) => d.r + 60))
    .stop();
  for (let i = 0; i < 400; i++) sim.tick();
  for (const n of nodes) {
    n.x = Math.max(n.r + 70, Math.min(W - n.r - 70, n.x));
    n.y = Math.max(n.r + 10, Math.min(H - n.r - 34, n.y));
  }
  const pair = new Set(links.map((l) => l.source.id + '>' + l.target.id));
  // Crop the height to the drawing (labels below nodes included), keep the width.
  const top = Math.max(0, Math.min(...nodes.map((n) => n.y - n.r)) - 40);
  const bottom = Math.min(H, Math.max(...nodes.map((n) => n.y + n.r)) + 50);
  const vh = Math.max(320, bottom - top);
  const svg = h('svg:svg', { viewBox: `0 ${Math.min(top, H - vh)} ${W} ${vh}`, class: 'graph', role: 'group', 'aria-label': label, id: 'flow-graph' });
  const defs = h('svg:defs', {});
  for (const [c, col] of Object.entries(classColors)) {
    defs.append(h('svg:marker', { id: 'arrow-' + (c || 'none'), viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 14, markerHeight: 14, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' },
      h('svg:path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: col })));
  }
  svg.append(defs);
  const maxBytes = Math.max(1, ...links.map((l) => l.bytes));
  for (const l of links) {
    const s = l.source, d = l.target;
    const dx = d.x - s.x, dy = d.y - s.y, len = Math.hypot(dx, dy) || 1;
    const ux = dx / len, uy = dy / len;
    // Bend edges that have a reverse twin so both stay visible.
    const bend = pair.has(d.id + '>' + s.id) ? 40 : 14;
    const mx = (s.x + d.x) / 2 - uy * bend, my = (s.y + d.y) / 2 + ux * bend;
    const x1 = s.x + ux * (s.r + 2), y1 = s.y + uy * (s.r + 2), x2 = d.x - ux * (d.r + 3), y2 = d.y - uy * (d.r + 3);
    const col = classColors[l.classification] || classColors[''];
    const w = 2 + 6 * Math.sqrt(l.bytes / maxBytes);
    const g = h('svg:g', { class: 'edge' + (l.crossBorder ? ' cross-border' : ''), 'data-edge': s.id + '>' + d.id, 'data-class': l.classification, 'data-cross-border': l.crossBorder ? 'true' : 'false' },
      h('svg:title', {}, `${s.id} → ${d.id}: ${bytes(l.bytes)}, ${num(l.transfers)} × ${classLabel(l.classification)}${l.crossBorder ? ', ' + t('crossBorder') + ' ' + (l.legalBasis || []).join(', ') : ''}`),
      h('svg:path', { d: `M ${x1} ${y1} Q ${mx} ${my} ${x2} ${y2}`, fill: 'none', stroke: col, 'stroke-width': w.toFixed(1),
        'stroke-dasharray': l.crossBorder ? '10 6' : null, 'marker-end': `url(#arrow-${l.classification || 'none'})` }));
    if (l.crossBorder) {
      g.append(h('svg:text', { x: mx, y: my - 8, class: 'edge-label cross', 'text-anchor': 'middle' }, '⚑ ' + t('crossBorder') + ' ' + l.fromRegion + '→' + l.toRegion));
    }
    svg.append(g);
  }
  for (const n of nodes) {
    const desc = t('flows.detail', n.id + (n.name ? ' — ' + n.name : ''), bytes(n.bytesSent), bytes(n.bytesReceived), num(n.transfers));
    const show = () => {
      document.getElementById('node-detail').textContent = desc;
      svg.querySelectorAll('.node.selected').forEach((x) => x.classList.remove('selected'));
      g.classList.add('selected');
      announce(desc);
    };
    const g = h('svg:g', {
      class: 'node', tabindex: 0, role: 'button', 'aria-label': desc, 'data-node': n.id, transform: `translate(${n.x.toFixed(1)},${n.y.toFixed(1)})`,
      onclick: show, onkeydown: (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); show(); } },
    },
    h('svg:title', {}, desc),
    h('svg:circle', { r: n.r.toFixed(1) }),
    h('svg:text', { y: n.r + 16, 'text-anchor': 'middle', class: 'node-label' }, n.id),
    h('svg:text', { y: n.r + 30, 'text-anchor': 'middle', class: 'node-sub' }, [n.region, shortName(n.name)].filter(Boolean).join(' · ')));
    svg.append(g);
  }
  return h('figure', { class: 'graph-wrap' }, svg, h('figcaption', {}, label));
}

function shortName(s) {
  if (!s) return '';
  return s.length > 22 ? s.slice(0, 21) + '…' : s;
}
