import { h, api, table } from './dom.js';
import { t } from './i18n.js';
import { base64ToBytes, bytesToHex, hexToBytes, leafHash, noteKeySuite, rootFromInclusion, verifyNote } from './merkle.js';

export async function recordPage(main, id) {
  const v = await api('records/' + encodeURIComponent(id));
  // What is shown is what was hashed: the fields come from the stored bytes.
  const canon = base64ToBytes(v.canonical);
  const rec = JSON.parse(new TextDecoder().decode(canon));
  const browser = await browserCheck(v, canon);
  const ok = v.verdict === 'verified' && browser.ok;
  main.replaceChildren(
    h('h1', { tabindex: -1 }, t('rec.title', rec.id)),
    h('p', {}, h('a', { href: '#/timeline' }, '← ' + t('rec.back'))),
    h('div', { class: 'verdict ' + (ok ? 'ok' : 'bad'), role: 'status', id: 'verdict', 'data-verdict': ok ? 'verified' : 'failed' },
      h('span', { class: 'verdict-icon', 'aria-hidden': 'true' }, ok ? '✔' : '✖'), ' ', ok ? t('rec.verdict.ok') : t('rec.verdict.bad')),
    h('div', { class: 'two' },
      h('section', { 'aria-labelledby': 'h-server' }, h('h2', { id: 'h-server' }, t('rec.server')),
        h('ul', { class: 'checks' }, v.checks.map((c) => h('li', { class: c.ok ? 'ok' : 'bad', 'data-check': c.name },
          h('span', { 'aria-hidden': 'true' }, c.ok ? '✔ ' : '✖ '), h('strong', {}, t('check.' + c.name)), ': ', c.ok ? okDetail(c.name, v) : c.detail)))),
      h('section', { 'aria-labelledby': 'h-browser' }, h('h2', { id: 'h-browser' }, t('rec.browser')),
        h('p', { class: browser.ok ? 'ok' : 'bad', id: 'browser-check', 'data-ok': String(browser.ok) },
          h('span', { 'aria-hidden': 'true' }, browser.ok ? '✔ ' : '✖ '), browser.msg))),
    h('h2', {}, t('rec.fields')),
    table(t('rec.fields'), [['col.field', (r) => h('code', {}, r.k)], ['col.value', (r) => r.v]], flatten(rec), { id: 'fields-table', captionHidden: true }),
    h('h2', {}, t('rec.batch')),
    kv([[t('rec.batch.root'), h('code', {}, v.batch.root)], [t('rec.batch.writer'), v.batch.writer], [t('rec.batch.kid'), h('code', {}, v.batch.keyId)],
      [t('rec.batch.first'), v.batch.firstIndex], [t('rec.batch.count'), v.batch.records]]),
    h('h2', {}, t('rec.proof')),
    kv([[t('rec.index'), v.index], [t('rec.treeSize'), v.treeSize], [t('rec.leaf'), h('code', {}, v.leafHash)]]),
    h('ol', { class: 'proof', start: 1 }, v.proof.map((p) => h('li', {}, h('code', {}, p)))),
    h('h2', {}, t('rec.checkpoint')),
    kv([[t('health.origin'), v.checkpoint.origin], [t('health.size'), v.checkpoint.size], [t('rec.root'), h('code', {}, v.checkpoint.root)]]),
    h('pre', { class: 'note', tabindex: 0, 'aria-label': t('rec.checkpoint') }, v.checkpoint.note),
  );
}

// okDetail says what a passed check established, in the page's language (a
// failed check shows the server's own message, which names the cause).
function okDetail(name, v) {
  switch (name) {
    case 'batch-signature': return t('ok.batch-signature', v.batch.root.slice(0, 16), v.batch.writer, v.batch.keyId, v.batch.records);
    case 'checkpoint-signature': return t('ok.checkpoint-signature', v.checkpoint.size, v.checkpoint.origin);
    case 'inclusion-proof': return t('ok.inclusion-proof', v.index, v.treeSize);
    default: return t('ok.' + name);
  }
}

async function browserCheck(v, canon) {
  try {
    if (!crypto.subtle) throw new Error('WebCrypto is not available (the page needs a secure context)');
    const suite = noteKeySuite(v.checkpoint.verifierKey || '');
    const leaf = await leafHash(canon, suite);
    if (bytesToHex(leaf) !== v.leafHash) throw new Error('the leaf hash of the stored bytes differs from the server\'s');
    const root = await rootFromInclusion(v.index, v.treeSize, leaf, v.proof.map(hexToBytes), suite);
    if (!v.checkpoint.root) throw new Error('no verified checkpoint');
    if (bytesToHex(root) !== v.checkpoint.root) throw new Error('the proof leads to ' + bytesToHex(root).slice(0, 16) + '…, not the checkpoint root');
    if (v.checkpoint.size !== v.treeSize) throw new Error('checkpoint size differs from the proof\'s tree size');
    // The checkpoint's own signature, and that its body says this size and root.
    let sigMsg;
    try {
      const body = (await verifyNote(v.checkpoint.note, v.checkpoint.verifierKey)).split('\n');
      const rootB64 = btoa(String.fromCharCode(...hexToBytes(v.checkpoint.root)));
      if (body[1] !== String(v.treeSize) || body[2] !== rootB64) throw new Error('the signed checkpoint is for another tree');
      sigMsg = t(suite === 'gm' ? 'rec.browser.sig.gm' : 'rec.browser.sig', v.checkpoint.verifierKey.split('+').slice(0, 2).join('+'));
    } catch (e) {
      if (!e.unsupported) throw e;
      sigMsg = t('rec.browser.nosig');
    }
    return { ok: true, msg: t('rec.browser.ok', v.proof.length, v.checkpoint.root.slice(0, 16) + '…') + ' ' + sigMsg };
  } catch (e) {
    return { ok: false, msg: t('rec.browser.bad', e.message) };
  }
}

function flatten(obj, prefix = '') {
  const rows = [];
  for (const [k, val] of Object.entries(obj)) {
    const key = prefix ? prefix + '.' + k : k;
    if (val && typeof val === 'object' && !Array.isArray(val)) rows.push(...flatten(val, key));
    else if (Array.isArray(val) && val.some((x) => x && typeof x === 'object')) val.forEach((x, i) => rows.push(...flatten(x, `${key}[${i}]`)));
    else rows.push({ k: key, v: Array.isArray(val) ? val.join(', ') : String(val) });
  }
  return rows;
}

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}
