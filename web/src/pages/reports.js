// The agency's charts: use and payment per drug and per month, from the settlement reports
// (GET /api/monitoring/reports/drugs, rule S5 keeps separate payment apart). ECharts is
// loaded here only (./charts.js, its own chunk).
import { h, mount } from '../lib/dom.js';
import { api, qs } from '../lib/api.js';
import { problemView } from '../lib/problems.js';
import { yuan } from '../lib/fields.js';
import { appStatus } from './patient.js';
import { regionOf } from './agency.js';

function lastMonths(today, count) {
  const [year, month] = (today || new Date().toISOString().slice(0, 10)).split('-').map(Number);
  const months = [];
  for (let k = count - 1; k >= 0; k--) {
    const d = new Date(Date.UTC(year, month - 1 - k, 1));
    months.push(`${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`);
  }
  return months;
}

export default async function reports(main) {
  const admdvs = await regionOf();
  const status = await appStatus();
  const months = lastMonths(status.business_date, 6);
  const byMonth = h('div', { class: 'chart', role: 'img', 'aria-label': '按月的药品费用与统筹基金支付' });
  const byDrug = h('div', { class: 'chart', role: 'img', 'aria-label': '按药品的药品费用与统筹基金支付' });
  const table = h('div', { class: 'table-scroll' });
  mount(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: '/app/agency' }, '← 政策与目录')),
    h('h1', null, '用药与支付统计'),
    h('p', { class: 'lead' }, `医保区划 ${admdvs} · ${months[0]} 至 ${months[months.length - 1]} · 已扣除冲正；单独支付药品单列（S5）。`),
    h('section', { class: 'card' }, h('h2', null, '按月'), byMonth),
    h('section', { class: 'card' }, h('h2', null, '按药品（费用前十）'), byDrug),
    h('section', { class: 'card' }, h('h2', null, '明细'), table),
  );
  let data;
  try {
    data = await Promise.all(months.map((month) => api(`/api/monitoring/reports/drugs${qs({ admdvs, month })}`)));
  } catch (error) {
    main.append(problemView(error));
    return;
  }
  const { chart } = await import('./charts.js');
  const sum = (group) => Number(group.medfee);
  chart(byMonth, {
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 60, right: 16, top: 40, bottom: 30 },
    xAxis: { type: 'category', data: months },
    yAxis: { type: 'value', name: '元' },
    series: [
      { name: '单独支付 费用', type: 'bar', stack: 'fee', data: data.map((m) => sum(m.separate_payment)) },
      { name: '其他 费用', type: 'bar', stack: 'fee', data: data.map((m) => sum(m.other)) },
      { name: '统筹基金支付', type: 'line', data: data.map((m) => Number(m.separate_payment.hifp_pay) + Number(m.other.hifp_pay)) },
    ],
  });

  const drugs = new Map();
  for (const m of data) {
    for (const [group, list] of [['separate_payment', m.separate_payment.drugs], ['other', m.other.drugs]]) {
      for (const d of list) {
        const row = drugs.get(d.med_list_codg) || { code: d.med_list_codg, group, lines: 0, medfee: 0, hifp_pay: 0, months: {} };
        row.lines += d.lines;
        row.medfee += Number(d.medfee);
        row.hifp_pay += Number(d.hifp_pay);
        row.months[m.month] = d;
        drugs.set(d.med_list_codg, row);
      }
    }
  }
  const top = [...drugs.values()].sort((a, b) => b.medfee - a.medfee).slice(0, 10);
  await Promise.all(top.map(async (row) => {
    row.name = await api(`/api/catalogue/drugs/${encodeURIComponent(row.code)}`).then((d) => d.drug?.name || row.code).catch(() => row.code);
  }));
  chart(byDrug, {
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 110, right: 16, top: 40, bottom: 30 },
    yAxis: { type: 'category', data: top.map((r) => r.name), inverse: true },
    xAxis: { type: 'value', name: '元' },
    series: [
      { name: '药品费用', type: 'bar', data: top.map((r) => Math.round(r.medfee * 100) / 100) },
      { name: '统筹基金支付', type: 'bar', data: top.map((r) => Math.round(r.hifp_pay * 100) / 100) },
    ],
  });
  mount(
    table,
    top.length
      ? h('table', { class: 'list' },
          h('thead', null, h('tr', null, h('th', null, '药品'), h('th', null, '类别'), h('th', null, '结算次数'), h('th', null, '药品费用'), h('th', null, '统筹基金支付'))),
          h('tbody', null, top.map((r) => h('tr', null, h('td', { title: r.code }, r.name), h('td', null, r.group === 'separate_payment' ? '单独支付' : '其他'), h('td', null, r.lines), h('td', null, yuan(r.medfee.toFixed(2))), h('td', null, yuan(r.hifp_pay.toFixed(2)))))),
        )
      : h('p', null, '这段时间还没有结算。'),
  );
}
