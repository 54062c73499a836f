// The agency's dashboard: the settlement and prescription policies in force, the national
// catalogue editions (an admin imports one by upload), and the region's lists (the agency
// publishes a new version). The charts are on their own page (reports.js), loaded only there.
import { h, mount, field, live } from '../lib/dom.js';
import { api, qs } from '../lib/api.js';
import { session } from '../lib/session.js';
import { problemView } from '../lib/problems.js';
import { rawView, yuan, LISTS } from '../lib/fields.js';
import { appStatus } from './patient.js';

const SCHEME = { employee: '职工医保', resident: '居民医保' };
const LEVEL = { first: '一级', second: '二级', third: '三级' };

function pct(ratio) {
  const n = Number(ratio);
  return Number.isFinite(n) ? `${Math.round(n * 1000) / 10}%` : String(ratio);
}

export async function regionOf() {
  const who = session()?.who || {};
  return who.admdvs || (await appStatus()).admdvs || '420100';
}

export default async function dashboard(main) {
  const who = session()?.who || {};
  const admdvs = await regionOf();
  const status = await appStatus();
  const policies = h('section', { class: 'card', 'aria-labelledby': 'pol-h' }, h('h2', { id: 'pol-h' }, '现行政策'), h('p', { class: 'loading' }, '加载中…'));
  const editions = h('section', { class: 'card', 'aria-labelledby': 'ed-h' });
  const lists = h('section', { class: 'card', 'aria-labelledby': 'li-h' });
  mount(
    main,
    h('h1', null, '政策与目录'),
    h('p', { class: 'lead' }, `医保区划 ${admdvs} · 业务日期 ${status.business_date || ''} · `, h('a', { href: '/app/agency/reports' }, '查看用药与支付统计')),
    policies,
    editions,
    lists,
  );
  await Promise.all([showPolicies(policies, admdvs), showEditions(editions, who.role === 'admin'), showLists(lists, admdvs, status.business_date)]);
}

async function showPolicies(section, admdvs) {
  const [settlement, prescription] = await Promise.all([
    api(`/api/settlements/regions/${admdvs}/policy`).catch((error) => ({ error })),
    api(`/api/prescriptions/regions/${admdvs}/policy`).catch((error) => ({ error })),
  ]);
  mount(
    section,
    h('h2', { id: 'pol-h' }, '现行政策'),
    h('h3', null, '处方流转政策'),
    prescription.error
      ? problemView(prescription.error)
      : h('ul', null,
          h('li', null, `单张处方最长用药 ${prescription.max_days_supply} 天，处方有效期最长 ${prescription.max_validity_days} 天`),
          h('li', null, prescription.same_city_only ? '仅受理本市定点医疗机构的处方（P2）' : '受理省内各地处方'),
          h('li', null, prescription.paper_extension_until ? `纸质处方延期至 ${prescription.paper_extension_until}（P1）` : '不受理纸质处方（P1）'),
          h('li', { class: 'hint' }, prescription.published ? `自 ${prescription.effective_from || ''} 起执行` : '本地未发布，按默认政策执行'),
        ),
    h('h3', null, '结算政策'),
    settlement.error
      ? problemView(settlement.error)
      : h('div', { class: 'table-scroll' },
          h('table', { class: 'list' },
            h('thead', null, h('tr', null, h('th', null, '项目'), ...['employee', 'resident'].map((s) => h('th', null, SCHEME[s])))),
            h('tbody', null,
              ['first', 'second', 'third'].map((level) =>
                h('tr', null, h('th', { scope: 'row' }, `普通门诊用药（${LEVEL[level]}医院）`), ...['employee', 'resident'].map((s) => h('td', null, `起付 ${yuan(settlement[s].ordinary[level].deductible)}，报销 ${pct(settlement[s].ordinary[level].ratio)}`))),
              ),
              ['first', 'second', 'third'].map((level) =>
                h('tr', null, h('th', { scope: 'row' }, `单独支付（${LEVEL[level]}，无起付线，S2）`), ...['employee', 'resident'].map((s) => h('td', null, pct(settlement[s].separate_payment[level])))),
              ),
              h('tr', null, h('th', { scope: 'row' }, '门诊谈判药品（S4）'), ...['employee', 'resident'].map((s) => h('td', null, `起付 ${yuan(settlement[s].outpatient_negotiated.deductible)}，报销 ${pct(settlement[s].outpatient_negotiated.ratio)}，年度限额${settlement[s].outpatient_negotiated.annual_max_basis === 'eligible_cost' ? '限药品费用' : '限基金支付'}`))),
              h('tr', null, h('th', { scope: 'row' }, '统筹基金年度限额'), ...['employee', 'resident'].map((s) => h('td', null, yuan(settlement[s].annual_pooled_cap)))),
              h('tr', null, h('th', { scope: 'row' }, '乙类先行自付'), ...['employee', 'resident'].map((s) => h('td', null, pct(settlement[s].class_b_first_self_pay)))),
              h('tr', null, h('th', { scope: 'row' }, '大病保险（S7）'), ...['employee', 'resident'].map((s) => h('td', null, `起付 ${yuan(settlement[s].critical_illness.deductible)}，年度限额 ${yuan(settlement[s].critical_illness.annual_cap)}`))),
              h('tr', null, h('th', { scope: 'row' }, '个人账户可支付'), ...['employee', 'resident'].map((s) => h('td', null, settlement[s].account_may_pay ? '是' : '否'))),
            ),
          ),
          h('p', { class: 'hint' }, `自 ${settlement.effective_from} 起执行 · 发布：${settlement.published_by}`),
          rawView(settlement),
        ),
  );
}

const TYPES = { xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', csv: 'text/csv', json: 'application/json' };

async function showEditions(section, isAdmin) {
  const result = live();
  const table = h('div');
  const redraw = async () => {
    try {
      const { editions } = await api('/api/catalogue/editions');
      mount(table, h('div', { class: 'table-scroll' }, h('table', { class: 'list editions' },
        h('thead', null, h('tr', null, h('th', null, '版本'), h('th', null, '执行期'), h('th', null, '条目'), h('th', null, '谈判药品'), h('th', null, '导入时间'))),
        h('tbody', null, editions.map((e) => h('tr', null, h('td', null, e.name), h('td', null, `${e.effective_from} 至 ${e.effective_to || '今后'}`), h('td', null, e.counts.entries), h('td', null, e.counts.negotiated), h('td', null, e.imported_at.replace('T', ' ').slice(0, 19))))),
      )));
    } catch (error) {
      mount(table, problemView(error));
    }
  };
  const file = h('input', { type: 'file', name: 'file', accept: '.xlsx,.csv,.json', required: true });
  const from = h('input', { type: 'date', name: 'effective_from', required: true });
  const name = h('input', { type: 'text', name: 'name', maxlength: 64, placeholder: '如：2025' });
  mount(
    section,
    h('h2', { id: 'ed-h' }, '国家医保药品目录版本'),
    table,
    isAdmin
      ? h('form', {
          class: 'step',
          onsubmit: async (event) => {
            event.preventDefault();
            result.replaceChildren();
            const chosen = file.files[0];
            if (!chosen) return;
            const ext = chosen.name.split('.').pop().toLowerCase();
            try {
              const edition = await api(`/api/catalogue/editions${qs({ effective_from: from.value, name: name.value.trim() })}`, { method: 'POST', body: chosen, type: TYPES[ext] || chosen.type || 'application/octet-stream' });
              result.replaceChildren(h('p', { class: 'ok', role: 'status' }, `已导入“${edition.name}”：${edition.counts.entries} 条，自 ${edition.effective_from} 起执行。`));
              await redraw();
            } catch (error) {
              result.replaceChildren(problemView(error));
            }
          },
        },
          h('h3', null, '导入新版本'),
          field('目录文件（官方 xlsx、CSV 或 JSON）', file),
          h('div', { class: 'row' }, field('执行日期', from), field('版本名称', name)),
          h('button', { type: 'submit' }, '上传并导入'),
        )
      : h('p', { class: 'hint' }, '导入国家目录版本需管理员身份（演示环境可在登录页选择“管理员”）。'),
    result,
  );
  await redraw();
}

const CODE_LISTS = ['dual_channel', 'separate_payment'];

async function showLists(section, admdvs, today) {
  const result = live();
  const current = h('div');
  const kind = h('select', { name: 'list' }, Object.entries(LISTS).map(([value, text]) => h('option', { value }, text)));
  const from = h('input', { type: 'date', name: 'effective_from', required: true, value: today || '' });
  const entries = h('textarea', { name: 'entries', rows: 8, spellcheck: 'false', required: true });
  let loaded = null;

  const hint = () => (CODE_LISTS.includes(kind.value) ? '每行一个医保目录编码（code）。' : '条目的 JSON 数组，字段见接口文档。');
  const hintEl = h('small', { class: 'hint' }, hint());

  async function load() {
    result.replaceChildren();
    try {
      loaded = await api(`/api/catalogue/regions/${admdvs}/lists/${kind.value}`);
      mount(current, h('p', null, `现行版本：自 ${loaded.effective_from} 起，${loaded.count} 个条目；发布：${loaded.published_by}`));
      entries.value = CODE_LISTS.includes(kind.value) ? loaded.entries.map((e) => e.code).join('\n') : JSON.stringify(loaded.entries, null, 1);
    } catch (error) {
      loaded = null;
      entries.value = '';
      mount(current, error.status === 404 ? h('p', null, '本地区尚无该清单的现行版本。') : problemView(error));
    }
    hintEl.textContent = hint();
  }
  kind.addEventListener('change', load);

  mount(
    section,
    h('h2', { id: 'li-h' }, `地方清单（${admdvs}）`),
    h('form', {
      class: 'step',
      onsubmit: async (event) => {
        event.preventDefault();
        result.replaceChildren();
        let list;
        try {
          list = CODE_LISTS.includes(kind.value)
            ? entries.value.split(/\s+/).map((c) => c.trim()).filter(Boolean).map((code) => ({ code }))
            : JSON.parse(entries.value || '[]');
        } catch {
          result.replaceChildren(h('div', { class: 'problem', role: 'alert' }, h('p', { class: 'problem-title' }, '条目格式不对'), h('p', null, '请填写 JSON 数组，例如 [{"code": "…", "annual_max": "10000.00"}]。')));
          return;
        }
        try {
          const version = await api(`/api/catalogue/regions/${admdvs}/lists/${kind.value}`, { method: 'POST', json: { effective_from: from.value, entries: list } });
          result.replaceChildren(h('p', { class: 'ok', role: 'status' }, `已发布${LISTS[version.list] || version.list}清单：自 ${version.effective_from} 起执行，${version.count} 个条目。`));
        } catch (error) {
          result.replaceChildren(problemView(error));
        }
      },
    },
      h('div', { class: 'row' }, field('清单', kind), field('执行日期', from)),
      current,
      h('div', { class: 'field' }, h('label', { for: 'entries' }, '条目'), Object.assign(entries, { id: 'entries' }), hintEl),
      h('button', { type: 'submit' }, '发布新版本'),
    ),
    result,
  );
  await load();
}
