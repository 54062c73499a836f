// Refusals in words a pharmacist or patient understands: the service's Chinese title, the
// rule it enforced (numbered as in domain-rules.md, named here), and every reason it gave.
// Nothing here decides anything: the rules live in the back end's rules crate.
import { h } from './dom.js';
import { ApiProblem } from './api.js';
import { said } from './zh.js';

export const RULES = {
  C1: '目录版本与生效日期',
  C2: '地方不得调整国家目录，只能在旁增列',
  C3: '支付标准与协议有效期',
  C4: '未续约药品六个月过渡期',
  C5: '支付标准的地方调整',
  C6: '保密支付标准',
  C7: '挂网价不得高于支付标准',
  C8: '地方双通道、单独支付目录随新版目录同步',
  C9: '限定支付范围',
  I1: '单独支付定点医疗机构资质',
  I2: '双通道定点药店条件',
  I3: '责任医师备案',
  I4: '“三定”：定机构、定医师、定药店',
  E1: '参保且待遇正常',
  E2: '凭病历资料申请备案',
  E3: '责任医师评估',
  E4: '医保办确认',
  E5: '备案一年有效，至少每六个月复评',
  E6: '首次购药建立用药档案',
  E7: '协议期内保障',
  P1: '电子处方流转（纸质处方不予受理）',
  P2: '同城处方',
  P3: '单独支付药品不得与其他药品同开',
  P4: '责任医师开方，不超过限定天数',
  P5: '患者查询处方与打印凭证',
  P6: '药师审方后调剂',
  P7: '全程追溯：每盒一个追溯码',
  P8: '处方有效期：过期、撤销或已调剂的处方不得再调剂',
  S1: '超出支付标准部分由个人负担',
  S2: '单独支付药品按住院待遇，不设起付线',
  S3: '双通道同一支付政策',
  S4: '门诊谈判药品保障：起付、比例与年度限额',
  S5: '单独支付费用单列',
  S6: '省内异地直接结算',
  S7: '一站式结算：基本医保、大病保险、医疗救助',
  S8: '金额精确，每笔结算只能冲正一次',
};

/** What to do next, by code, where the title alone does not say it. */
const NEXT_STEP = {
  TOKEN_MISSING: '请先登录。',
  TOKEN_EXPIRED: '登录已过期，请重新登录。',
  TOKEN_INVALID: '登录凭据无效，请重新登录。',
  TOKEN_REVOKED: '该登录凭据已被停用，请重新登录。',
  ROLE_FORBIDDEN: '当前身份无权进行此操作。',
  NOT_FOUND: '未找到：请核对编号是否输入正确，或该记录不属于本机构。',
  PACK_ALREADY_USED: '该追溯码已被其他处方使用：请核对实物包装上的追溯码，换一盒药重新扫码。',
  RX_STATE_CONFLICT: '处方当前状态不允许此操作（例如尚未审核、已调剂或已撤销）。',
  RX_EXPIRED: '处方已过有效期，请患者联系医师重新开具。',
  ALREADY_SETTLED: '该处方已结算；如需更正，请先冲正原结算。',
  CONCURRENT_UPDATE: '同一记录正被他人修改，请刷新后重试。',
  STORE_UNAVAILABLE: '服务暂时不可用，请稍后重试。',
  NETWORK: '请检查网络后重试。',
};

/** A problem (ApiProblem or any error) as a block of text with role="alert". */
export function problemView(error) {
  const problem = error instanceof ApiProblem ? error.problem : { title: '出错了', detail: String(error?.message || error) };
  const violations = Array.isArray(problem.violations) ? problem.violations : [];
  const rules = new Set([problem.rule, ...violations.map((v) => v.rule)].filter(Boolean));
  return h(
    'div',
    { class: 'problem', role: 'alert', dataset: { code: problem.code || '' } },
    h('p', { class: 'problem-title' }, problem.title || '请求未成功'),
    rules.size ? h('p', { class: 'problem-rules' }, [...rules].map((rule) => ruleBadge(rule))) : null,
    violations.length
      ? h('ul', { class: 'problem-reasons' }, violations.map((v) => h('li', null, v.rule ? h('b', null, `${v.rule} `) : null, said(v.reason), v.field ? h('code', { class: 'field-name', title: '字段' }, ` ${v.field}`) : null)))
      : problem.detail
        ? h('p', { class: 'problem-reason' }, said(problem.detail))
        : null,
    NEXT_STEP[problem.code] ? h('p', { class: 'problem-next' }, NEXT_STEP[problem.code]) : null,
    problem.code ? h('p', { class: 'problem-code' }, `错误代码 ${problem.code}${error.status ? ` · HTTP ${error.status}` : ''}`) : null,
  );
}

export function ruleBadge(rule) {
  return h('span', { class: 'rule', title: RULES[rule] || rule }, `规则 ${rule}${RULES[rule] ? `：${RULES[rule]}` : ''}`);
}
