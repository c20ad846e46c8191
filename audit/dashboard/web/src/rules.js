import { h, api, num, bytes, table, recordLink, when, classLabel } from './dom.js';
import { t } from './i18n.js';

export async function rulesPage(main) {
  const v = await api('rules');
  const sec = (id, title, body) => h('section', { 'aria-labelledby': id }, h('h2', { id }, title), body);
  main.replaceChildren(
    h('h1', { tabindex: -1 }, t('rules.title')),
    sec('h-denials', t('rules.denials'), table(t('rules.denials'), [
      ['col.rule', (d) => h('code', {}, d.rule)], ['col.count', (d) => num(d.count)], ['col.example', (d) => d.example]], v.denials, { id: 'denials-table', captionHidden: true })),
    sec('h-neg', t('rules.neg', num(v.negativeListTotal)), table(t('rules.neg', num(v.negativeListTotal)), [
      ['col.id', (d) => recordLink(d.record)], ['col.time', (d) => when(d.time)], ['col.provider', (d) => d.provider], ['col.consumer', (d) => d.consumer],
      ['col.dataset', (d) => d.dataset], ['col.category', (d) => d.category], ['col.reason', (d) => d.reason]], v.negativeListHits, { captionHidden: true })),
    sec('h-cross', t('rules.cross'), table(t('rules.cross'), [
      ['col.provider', (f) => f.provider], ['col.consumer', (f) => f.consumer], ['col.dataset', (f) => f.dataset],
      ['col.class', (f) => classLabel(f.classification)], ['col.from', (f) => f.fromRegion], ['col.to', (f) => f.toRegion],
      ['col.basis', (f) => f.legalBasis ? h('code', {}, f.legalBasis) : h('strong', { class: 'bad' }, '—')],
      ['col.transfers', (f) => num(f.transfers)], ['col.bytes', (f) => bytes(f.bytes)]], v.crossBorder, { id: 'cross-table', captionHidden: true })),
    sec('h-duties', t('rules.duties'), table(t('rules.duties'), [
      ['col.agreement', (d) => d.agreement], ['col.consumer', (d) => d.consumer], ['col.provider', (d) => d.provider],
      ['col.duty', (d) => d.duty], ['col.action', (d) => d.action], ['col.due', (d) => when(d.due)]], v.dutiesOverdue, { captionHidden: true })),
    sec('h-obj', t('rules.objections'), table(t('rules.objections'), [
      ['col.objection', (o) => o.objection], ['col.filer', (o) => o.filer], ['col.dataset', (o) => o.dataset || ''],
      ['col.subject', (o) => o.subject || ''], ['col.filed', (o) => when(o.filed)]], v.objectionsOpen, { captionHidden: true })),
    sec('h-rev', t('rules.revoked'), table(t('rules.revoked'), [
      ['col.agreement', (r) => r.agreement], ['col.provider', (r) => r.provider], ['col.consumer', (r) => r.consumer],
      ['col.time', (r) => when(r.time)], ['col.reason', (r) => r.reason || '']], v.revoked, { captionHidden: true })),
  );
}
