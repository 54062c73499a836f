// Chinese wording for the service's most frequent English reasons (the API's `title` is Chinese
// already; `detail` and violation reasons are English). Only wording: the decision and its
// figures are the service's. Unknown texts are shown as they came.
import { h } from './dom.js';

const PATTERNS = [
  [/^the agreement period (\S+) to (\S+) does not cover (\S+)$/, '医保协议期为 $1 至 $2，不包含 $3'],
  [/^traceability code (\d+) was dispensed under prescription (\S+) \(dispensing ([^)]+)\)$/, '追溯码 $1 已在处方 $2（发药单 $3）中使用过'],
  [/the drug's confidential payment standard has not been supplied/, '该药品的保密支付标准尚未由管理员录入，暂不能结算'],
  [/the drug has several payment standards and none for specification "(.+)"/, '该药品按规格有多个支付标准，没有规格“$1”的标准'],
  [/^no such (.+)$/, '未找到（$1）'],
];

export function zh(text) {
  if (typeof text !== 'string') return text;
  for (const [pattern, replacement] of PATTERNS) {
    if (pattern.test(text)) return text.replace(pattern, replacement);
  }
  return text;
}

/** The Chinese wording, with the service's own text in the tooltip. */
export function said(text) {
  const wording = zh(text);
  return wording === text ? text : h('span', { title: text }, wording);
}
