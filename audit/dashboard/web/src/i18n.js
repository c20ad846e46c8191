// Strings in English and Chinese. t(key, ...args) substitutes {0}, {1}, ….
const en = {
  skip: 'Skip to content',
  title: 'Ledger dashboard',
  'nav.flows': 'Flows', 'nav.timeline': 'Timeline', 'nav.rules': 'Rules and exceptions', 'nav.health': 'Ledger health',
  lang: '中文', langLabel: 'Switch to Chinese', logout: 'Log out',
  'login.title': 'Log in', 'login.intro': 'Paste a role token: an auditor or regulator token issued by the space authority, or a participant\'s self-signed read token. It is exchanged for a session; the token itself is not kept in the browser.',
  'login.token': 'Role token', 'login.submit': 'Log in', 'login.failed': 'Login refused: {0}',
  who: '{0} ({1})',
  'role.auditor': 'auditor', 'role.regulator': 'regulator', 'role.participant': 'participant',
  loading: 'Loading…', error: 'Could not load: {0}', none: 'None.',
  'f.from': 'From', 'f.to': 'To', 'f.class': 'Classification', 'f.region': 'Region', 'f.category': 'Dataset category',
  'f.kind': 'Kind', 'f.participant': 'Participant', 'f.denied': 'Denials only', 'f.apply': 'Apply', 'f.reset': 'Reset', 'f.any': 'Any',
  'flows.title': 'Data flows', 'flows.graph': 'Flow graph: {0} participants, {1} flows',
  'flows.legend': 'Edges are coloured by the highest classification moved; dashed edges cross a border; node area is the volume sent and received.',
  'flows.table': 'Flows between participants', 'flows.empty': 'No completed transfers match these filters.',
  'flows.detail': '{0}: sent {1}, received {2}, {3} transfers', 'flows.select': 'Select a participant (click, or Tab and Enter) to see its totals.',
  'flows.byClass': 'By classification', 'flows.byRegion': 'By region',
  'flows.compute': 'Computations at the provider (data used, not moved)', 'flows.computeBy': 'Computations by participant',
  'col.runs': 'Runs', 'col.denied': 'Refused', 'col.cpu': 'CPU ms', 'col.bytesOut': 'Results out', 'col.participant': 'Participant', 'col.role': 'As',
  'col.provider': 'Provider', 'col.consumer': 'Consumer', 'col.class': 'Classification', 'col.bytes': 'Volume', 'col.transfers': 'Transfers',
  'col.cross': 'Cross-border', 'col.basis': 'Legal basis', 'col.datasets': 'Datasets', 'col.from': 'From region', 'col.to': 'To region',
  'col.id': 'Record', 'col.kind': 'Kind', 'col.time': 'Time', 'col.actor': 'Actor', 'col.counterparty': 'Counterparty', 'col.dataset': 'Dataset',
  'col.rule': 'Rule', 'col.reason': 'Reason', 'col.count': 'Count', 'col.example': 'Latest reason', 'col.agreement': 'Agreement',
  'col.duty': 'Duty', 'col.action': 'Action', 'col.due': 'Due', 'col.objection': 'Objection', 'col.filer': 'Filed by', 'col.subject': 'Subject',
  'col.filed': 'Filed', 'col.field': 'Field', 'col.value': 'Value', 'col.category': 'Category',
  yes: 'yes', no: 'no', crossBorder: 'crosses border',
  'class.general': 'general', 'class.important': 'important', 'class.core': 'core',
  'tl.title': 'Timeline', 'tl.chart': 'Records over time by kind: {0} records, {1} denials', 'tl.hint': 'Select a bar to list the records of that interval.',
  'tl.records': 'Records', 'tl.total': '{0} records match', 'tl.next': 'Older', 'tl.prev': 'Newer', 'tl.denied': 'denied',
  'tl.interval': 'Interval {0} – {1}', 'tl.asTable': 'The chart as a table', 'tl.count': 'Records', 'tl.denials': 'Denials', 'tl.list': 'List these records',
  'rec.title': 'Record {0}', 'rec.verdict.ok': 'Proof verified: this record is in the ledger under the latest signed checkpoint.',
  'rec.verdict.bad': 'Proof NOT verified: do not rely on this record.',
  'rec.server': 'Checked by the server', 'rec.browser': 'Checked in your browser (RFC 6962 with SHA-256 by WebCrypto, or SM3 by sm-crypto in a gm space)',
  'rec.browser.ok': 'The leaf hash of the stored bytes, folded with the {0} proof hashes, gives the checkpoint root {1}.',
  'rec.browser.bad': 'Recomputing the root in the browser failed: {0}',
  'rec.browser.sig': 'The checkpoint\'s Ed25519 signature verifies under the ledger key {0}.',
  'rec.browser.sig.gm': 'The checkpoint\'s SM2 signature (SM3withSM2) verifies under the ledger key {0}.',
  'rec.browser.nosig': 'This browser cannot check Ed25519 signatures; the server checked the checkpoint signature.',
  'rec.fields': 'Fields', 'rec.batch': 'Batch and signer', 'rec.proof': 'Inclusion proof', 'rec.checkpoint': 'Checkpoint',
  'rec.batch.root': 'Batch root', 'rec.batch.writer': 'Signed by', 'rec.batch.kid': 'Key id', 'rec.batch.first': 'First index', 'rec.batch.count': 'Records in batch',
  'rec.index': 'Leaf index', 'rec.treeSize': 'Tree size', 'rec.leaf': 'Leaf hash', 'rec.root': 'Root hash', 'rec.back': 'Back to the timeline',
  'ok.record-bytes': 'the record shown is the stored bytes, byte for byte',
  'ok.batch-signature': 'batch {0}… signed by {1} with key {2}; its root covers its {3} records',
  'ok.checkpoint-signature': 'checkpoint of {0} records signed by the ledger ({1})',
  'ok.inclusion-proof': 'leaf {0} is in the tree of {1} records under the signed root',
  'check.record-bytes': 'Record bytes', 'check.batch-signature': 'Batch signature', 'check.checkpoint-signature': 'Checkpoint signature', 'check.inclusion-proof': 'Inclusion proof',
  'rules.title': 'Rules and exceptions', 'rules.denials': 'Denials by rule', 'rules.neg': 'Negative-list hits ({0})', 'rules.cross': 'Cross-border flows and their legal basis',
  'rules.duties': 'Overdue duties', 'rules.objections': 'Open objections', 'rules.revoked': 'Revoked agreements',
  'health.title': 'Ledger health', 'health.cp': 'Latest checkpoint', 'health.size': 'Tree size', 'health.root': 'Root hash', 'health.signed': 'Signature',
  'health.signed.ok': 'verified under the ledger key', 'health.age': 'Age (since first seen)', 'health.origin': 'Origin',
  'health.contents': 'Contents', 'health.batches': 'Batches', 'health.participants': 'Participants', 'health.first': 'First record', 'health.last': 'Latest record',
  'health.rate': 'Append rate', 'health.observed': 'Observed while watching', 'health.lastHour': 'Records in the last hour', 'health.perHour': 'Average per hour over the ledger\'s span',
  'health.verify': 'Full verification', 'health.verify.none': 'Not run since this server started.', 'health.verify.na': 'Not available on this server.',
  'health.verify.run': 'Verify the whole ledger now', 'health.verify.running': 'Verifying…',
  'health.verify.ok': 'Passed at {0}: {1} records in {2} batches, {3} checkpoints, in {4} s.', 'health.verify.bad': 'FAILED at {0}: {1}',
  'health.service': 'Ledger service', 'health.service.healthy': 'Running (/healthz)', 'health.service.ready': 'Ready for reads (/readyz)',
  'health.service.writes': 'Ready for writes (/readyz/writes)', 'health.service.ok': 'ok',
  perSec: '{0} records/s', seconds: '{0} s',
};

const zh = {
  skip: '跳到正文',
  title: '账本看板',
  'nav.flows': '数据流向', 'nav.timeline': '时间线', 'nav.rules': '规则与例外', 'nav.health': '账本健康',
  lang: 'English', langLabel: '切换到英文', logout: '退出',
  'login.title': '登录', 'login.intro': '请粘贴角色令牌：由空间管理机构签发的审计或监管令牌，或参与方自签的只读令牌。令牌将换成会话，浏览器不保存令牌本身。',
  'login.token': '角色令牌', 'login.submit': '登录', 'login.failed': '登录被拒绝：{0}',
  who: '{0}（{1}）',
  'role.auditor': '审计', 'role.regulator': '监管', 'role.participant': '参与方',
  loading: '加载中…', error: '加载失败：{0}', none: '无。',
  'f.from': '开始时间', 'f.to': '结束时间', 'f.class': '分级', 'f.region': '地区', 'f.category': '数据类别',
  'f.kind': '类型', 'f.participant': '参与方', 'f.denied': '仅显示拒绝', 'f.apply': '应用', 'f.reset': '重置', 'f.any': '全部',
  'flows.title': '数据流向', 'flows.graph': '流向图：{0} 个参与方，{1} 条流向',
  'flows.legend': '连线颜色表示流转数据的最高分级；虚线表示跨境；节点面积表示收发总量。',
  'flows.table': '参与方之间的数据流向', 'flows.empty': '没有符合筛选条件的已完成传输。',
  'flows.detail': '{0}：发送 {1}，接收 {2}，共 {3} 次传输', 'flows.select': '选择一个参与方（点击，或用 Tab 键再按回车）查看其合计。',
  'flows.byClass': '按分级', 'flows.byRegion': '按地区',
  'flows.compute': '提供方处的计算（数据可用不可见）', 'flows.computeBy': '各参与方的计算',
  'col.runs': '运行次数', 'col.denied': '拒绝', 'col.cpu': 'CPU 毫秒', 'col.bytesOut': '结果流出', 'col.participant': '参与方', 'col.role': '身份',
  'col.provider': '提供方', 'col.consumer': '使用方', 'col.class': '分级', 'col.bytes': '数据量', 'col.transfers': '传输次数',
  'col.cross': '跨境', 'col.basis': '法律依据', 'col.datasets': '数据集', 'col.from': '来源地区', 'col.to': '目的地区',
  'col.id': '记录', 'col.kind': '类型', 'col.time': '时间', 'col.actor': '记录方', 'col.counterparty': '对方', 'col.dataset': '数据集',
  'col.rule': '规则', 'col.reason': '原因', 'col.count': '次数', 'col.example': '最近原因', 'col.agreement': '合约',
  'col.duty': '义务', 'col.action': '动作', 'col.due': '到期', 'col.objection': '异议', 'col.filer': '提出方', 'col.subject': '事由',
  'col.filed': '提出时间', 'col.field': '字段', 'col.value': '值', 'col.category': '类别',
  yes: '是', no: '否', crossBorder: '跨境',
  'class.general': '一般数据', 'class.important': '重要数据', 'class.core': '核心数据',
  'tl.title': '时间线', 'tl.chart': '按类型统计的记录数：共 {0} 条记录，{1} 次拒绝', 'tl.hint': '选择一根柱子，列出该时段的记录。',
  'tl.records': '记录', 'tl.total': '共 {0} 条记录', 'tl.next': '更早', 'tl.prev': '更新', 'tl.denied': '已拒绝',
  'tl.interval': '时段 {0} – {1}', 'tl.asTable': '以表格查看图表数据', 'tl.count': '记录数', 'tl.denials': '拒绝数', 'tl.list': '列出这些记录',
  'rec.title': '记录 {0}', 'rec.verdict.ok': '证明已验证：该记录在最新签名检查点下的账本中。',
  'rec.verdict.bad': '证明未通过验证：请勿信赖该记录。',
  'rec.server': '服务器验证', 'rec.browser': '浏览器验证（RFC 6962；SHA-256 由 WebCrypto 计算，国密空间 SM3 由 sm-crypto 计算）',
  'rec.browser.ok': '存储字节的叶哈希与 {0} 个证明哈希逐层合并，得到检查点根哈希 {1}。',
  'rec.browser.bad': '浏览器重新计算根哈希失败：{0}',
  'rec.browser.sig': '检查点的 Ed25519 签名经账本公钥 {0} 验证通过。',
  'rec.browser.sig.gm': '检查点的 SM2 签名（SM3withSM2）经账本公钥 {0} 验证通过。',
  'rec.browser.nosig': '此浏览器无法验证 Ed25519 签名；检查点签名已由服务器验证。',
  'rec.fields': '字段', 'rec.batch': '批次与签名者', 'rec.proof': '包含证明', 'rec.checkpoint': '检查点',
  'rec.batch.root': '批次根哈希', 'rec.batch.writer': '签名者', 'rec.batch.kid': '密钥标识', 'rec.batch.first': '起始序号', 'rec.batch.count': '批内记录数',
  'rec.index': '叶序号', 'rec.treeSize': '树大小', 'rec.leaf': '叶哈希', 'rec.root': '根哈希', 'rec.back': '返回时间线',
  'ok.record-bytes': '所示记录与存储字节逐字节一致',
  'ok.batch-signature': '批次 {0}… 由 {1} 用密钥 {2} 签名；批次根哈希覆盖其 {3} 条记录',
  'ok.checkpoint-signature': '含 {0} 条记录的检查点由账本签名（{1}）',
  'ok.inclusion-proof': '叶 {0} 在签名根哈希下含 {1} 条记录的树中',
  'check.record-bytes': '记录字节', 'check.batch-signature': '批次签名', 'check.checkpoint-signature': '检查点签名', 'check.inclusion-proof': '包含证明',
  'rules.title': '规则与例外', 'rules.denials': '按规则统计的拒绝', 'rules.neg': '负面清单命中（{0}）', 'rules.cross': '跨境流向及其法律依据',
  'rules.duties': '逾期义务', 'rules.objections': '未决异议', 'rules.revoked': '已撤销合约',
  'health.title': '账本健康', 'health.cp': '最新检查点', 'health.size': '树大小', 'health.root': '根哈希', 'health.signed': '签名',
  'health.signed.ok': '已用账本公钥验证', 'health.age': '时长（自首次看到起）', 'health.origin': '来源',
  'health.contents': '内容', 'health.batches': '批次', 'health.participants': '参与方', 'health.first': '最早记录', 'health.last': '最新记录',
  'health.rate': '写入速率', 'health.observed': '观察期间', 'health.lastHour': '最近一小时记录数', 'health.perHour': '账本时间跨度内每小时平均',
  'health.verify': '全量验证', 'health.verify.none': '本服务启动后尚未运行。', 'health.verify.na': '此服务器不提供。',
  'health.verify.run': '立即验证整个账本', 'health.verify.running': '验证中…',
  'health.verify.ok': '{0} 通过：{2} 个批次共 {1} 条记录，{3} 个检查点，用时 {4} 秒。', 'health.verify.bad': '{0} 失败：{1}',
  'health.service': '账本服务', 'health.service.healthy': '运行（/healthz）', 'health.service.ready': '可读（/readyz）',
  'health.service.writes': '可写（/readyz/writes）', 'health.service.ok': '正常',
  perSec: '每秒 {0} 条', seconds: '{0} 秒',
};

// Record kinds: identifiers in English (as in the ledger and the CLI), names in Chinese.
const zhKinds = {
  'participant.registered': '参与方登记', 'participant.updated': '参与方变更', 'rules.updated': '空间规则更新',
  'dataset.registered': '数据登记', 'offer.published': '发布要约', 'agreement.signed': '签订合约',
  'negotiation.denied': '协商被拒', 'agreement.revoked': '合约撤销', 'transfer.authorized': '传输授权',
  'transfer.completed': '传输完成', 'transfer.denied': '传输被拒', 'usage.logged': '使用记录',
  'duty.fulfilled': '义务履行', 'objection.filed': '提出异议', 'objection.resolved': '异议处理',
};

export function kindLabel(k) { return current === 'zh' && zhKinds[k] ? zhKinds[k] : k; }

const dicts = { en, zh };
let current = 'en';

export function setLang(l) {
  current = dicts[l] ? l : 'en';
  try { localStorage.setItem('tdsc-ui-lang', current); } catch (e) { /* private mode */ }
  document.documentElement.lang = current === 'zh' ? 'zh-CN' : 'en';
}

export function initialLang() {
  let l = null;
  try { l = localStorage.getItem('tdsc-ui-lang'); } catch (e) { /* private mode */ }
  const q = new URLSearchParams(location.search).get('lang');
  if (q) l = q;
  if (!l) l = (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
  setLang(l);
}

export function lang() { return current; }

export function t(key, ...args) {
  let s = dicts[current][key] ?? en[key] ?? key;
  args.forEach((a, i) => { s = s.split('{' + i + '}').join(String(a)); });
  return s;
}
