import { h, api, num, when, announce } from './dom.js';
import { t } from './i18n.js';

export async function healthPage(main, session) {
  const v = await api('health');
  const kv = (pairs) => h('dl', { class: 'kv' }, pairs.map(([k, val]) => [h('dt', {}, k), h('dd', {}, val)]));
  const age = v.checkpoint.ageSeconds;
  const out = h('p', { id: 'verify-result', 'aria-live': 'polite' }, verification(v.verification));
  const canRun = v.verification.available && (session.role === 'auditor' || session.role === 'regulator');
  const btn = canRun ? h('button', {
    type: 'button', id: 'verify-now',
    onclick: async () => {
      btn.disabled = true; out.textContent = t('health.verify.running');
      try { out.replaceChildren(verification(await api('verify', { method: 'POST' }))); } catch (e) { out.textContent = t('error', e.message); }
      announce(out.textContent);
      btn.disabled = false;
    },
  }, t('health.verify.run')) : null;
  main.replaceChildren(
    h('h1', { tabindex: -1 }, t('health.title')),
    h('div', { class: 'cards' },
      h('section', { class: 'card', 'aria-labelledby': 'h-cp' }, h('h2', { id: 'h-cp' }, t('health.cp')), kv([
        [t('health.size'), h('strong', { id: 'cp-size' }, num(v.checkpoint.size))],
        [t('health.origin'), h('code', {}, v.checkpoint.origin)],
        [t('health.root'), h('code', {}, (v.checkpoint.root || '').slice(0, 32) + '…')],
        [t('health.signed'), v.checkpoint.signed ? h('span', { class: 'ok' }, '✔ ' + t('health.signed.ok')) : '—'],
        [t('health.age'), t('seconds', Math.round(age))]])),
      h('section', { class: 'card', 'aria-labelledby': 'h-contents' }, h('h2', { id: 'h-contents' }, t('health.contents')), kv([
        [t('health.batches'), num(v.batches)], [t('health.participants'), num(v.participants)],
        [t('health.first'), when(v.firstRecord)], [t('health.last'), when(v.lastRecord)]])),
      h('section', { class: 'card', 'aria-labelledby': 'h-rate' }, h('h2', { id: 'h-rate' }, t('health.rate')), kv([
        [t('health.observed'), t('perSec', v.rate.observed.toFixed(1))], [t('health.lastHour'), num(v.rate.lastHour)],
        [t('health.perHour'), v.rate.perHour.toFixed(1)]])),
      h('section', { class: 'card', 'aria-labelledby': 'h-service' }, h('h2', { id: 'h-service' }, t('health.service')), kv([
        [t('health.service.healthy'), probe(v.service.healthy, 'probe-healthy')],
        [t('health.service.ready'), probe(v.service.ready, 'probe-ready')],
        [t('health.service.writes'), probe(v.service.writesReady, 'probe-writes')]]))),
    h('section', { 'aria-labelledby': 'h-verify' }, h('h2', { id: 'h-verify' }, t('health.verify')), out, btn),
  );
}

// probe shows one of the ledger service's probes: ok, or why not.
function probe(p, id) {
  if (p.ok) return h('span', { class: 'ok', id, 'data-ok': 'true' }, '✔ ' + t('health.service.ok'));
  return h('strong', { class: 'bad', id, 'data-ok': 'false' }, '✖ ' + p.error);
}

function verification(x) {
  if (!x.available) return t('health.verify.na');
  if (!x.at) return t('health.verify.none');
  if (!x.ok) return h('strong', { class: 'bad' }, '✖ ' + t('health.verify.bad', when(x.at), x.error));
  return h('span', { class: 'ok', 'data-ok': 'true' }, '✔ ' + t('health.verify.ok', when(x.at), num(x.report.records), num(x.report.batches), num(x.report.checkpoints), x.durationSeconds.toFixed(2)));
}
