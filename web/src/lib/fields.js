// National interface field names (定点医药机构接口规范) with their Chinese labels. Pages show
// the label and keep the field name in a tooltip (title) and in the "接口字段" detail views,
// for integrators.
import { h } from './dom.js';

export const LABELS = {
  psn_no: '人员编号',
  hi_rxno: '医保处方编号',
  hosp_rxno: '医院处方编号',
  med_list_codg: '医保目录编码',
  fixmedins_code: '定点医药机构编号',
  dr_code: '医师编码',
  phar_code: '药师编码',
  drug_cnt: '药品数量',
  drug_spec: '药品规格',
  drug_dosform: '剂型',
  drug_dosunt: '单位',
  drug_pric: '单价',
  medc_days: '用药天数',
  medc_way_dscr: '用法',
  drug_trac_codg: '药品追溯码',
  vali_end_time: '有效截止时间',
  rx_stas_codg: '处方状态',
  rx_used_stas_codg: '使用状态',
  rx_chk_stas_codg: '审核状态',
  setl_id: '结算编号',
  setl_no: '机构结算流水号',
  setl_date: '结算日期',
  medfee_sumamt: '医疗费总额',
  fulamt_ownpay_amt: '全自费金额',
  overlmt_selfpay: '超限价自费',
  preselfpay_amt: '先行自付',
  inscp_scp_amt: '符合政策范围金额',
  act_pay_dedc: '实际支付起付线',
  hifp_pay: '统筹基金支付',
  hifmi_pay: '大病保险支付',
  maf_pay: '医疗救助支付',
  fund_pay_sumamt: '基金支付总额',
  acct_pay: '个人账户支付',
  psn_cash_pay: '个人现金支付',
  psn_part_amt: '个人负担总额',
  admdvs: '医保区划',
  insutype: '险种',
};

export const RX_STATUS = { 1: '有效', 2: '已失效', 3: '已撤销', 4: '已作废' };
export const RX_USED = { 1: '未使用', 2: '已使用' };
export const RX_STAGE = { uploaded: '待审核', approved: '审核通过，待调剂', rejected: '审核未通过', dispensing: '调剂中', dispensed: '已调剂', revoked: '已撤销' };
export const FILING_STATE = { awaiting_physician: '待医师评估', awaiting_office: '待医保办确认', approved: '已备案', refused: '未通过', withdrawn: '已撤回', revoked: '已撤销', superseded: '已变更定点医院' };
/** What a filing admits to: the separate-payment filing (E2–E7) or the outpatient mechanism's registration (S4). */
export const FILING_SCHEME = { separate_payment: '用药资格备案', outpatient_mechanism: '门诊用药保障登记（三定）' };
export const FILING_STANDING = { valid: '可用', not_approved: '未生效', not_yet_valid: '尚未生效', expired: '已过期', reassessment_overdue: '逾期未复评' };
export const SETTLEMENT_STAGE = { settling: '结算中', settled: '已结算', reversed: '已冲正', voided: '已作废' };
export const LISTS = { dual_channel: '双通道', separate_payment: '单独支付', outpatient: '门诊保障', preparations: '医疗机构制剂', adjusted_standards: '调整支付标准', restrictions: '限定支付' };

/** A label for a national field: Chinese text, the field name in its tooltip. */
export function label(name, text) {
  return h('span', { class: 'fl', title: name }, text || LABELS[name] || name);
}

/** A definition list of fields from a record: [[name, value], …]. */
export function fieldList(pairs) {
  return h(
    'dl',
    { class: 'fields' },
    pairs.filter(([, value]) => value !== undefined && value !== null && value !== '').map(([name, value, text]) => [h('dt', null, label(name, text)), h('dd', null, value)]),
  );
}

/** The record as the API returned it, for integrators (collapsed). */
export function rawView(record, summary = '接口字段（国家接口规范字段名）') {
  return h('details', { class: 'raw' }, h('summary', null, summary), h('pre', null, JSON.stringify(record, null, 2)));
}

export function yuan(value) {
  if (value === undefined || value === null || value === '') return '—';
  return `¥${value}`;
}
