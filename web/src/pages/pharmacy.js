// The pharmacist's workstation: scan or type a prescription number (hi_rxno) or a person
// (psn_no); see the filing check and the prescription; review it; dispense with one
// traceability code per pack (a barcode scanner types each code and Enter into the field);
// pre-settle, settle, print the receipt, reverse. Every refusal is shown with its rule and
// reason as the API gave them: the rules are decided by the back end only.
import { h, mount, field, live } from '../lib/dom.js';
import { api, qs } from '../lib/api.js';
import { session } from '../lib/session.js';
import { problemView, ruleBadge } from '../lib/problems.js';
import { said } from '../lib/zh.js';
import { label, fieldList, rawView, yuan, RX_STATUS, RX_STAGE, SETTLEMENT_STAGE } from '../lib/fields.js';
import { breakdownView } from './patient.js';

/** A fresh number for the pharmacy's own records (dispensing, settlement): prefix, date, time. */
function number(prefix) {
  const now = new Date();
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${prefix}-${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}${pad(now.getMilliseconds(), 3)}`;
}

export default async function workstation(main) {
  const me = session()?.who || {};
  const lookup = h('input', { type: 'text', name: 'lookup', autocomplete: 'off', spellcheck: 'false', placeholder: 'RX… 或 人员编号' });
  const found = live('found');
  const workspace = h('section', { class: 'workspace', 'aria-label': '当前处方' });
  const queue = h('section', { class: 'queue', 'aria-labelledby': 'queue-h' });

  async function open(hi_rxno) {
    found.replaceChildren();
    await showPrescription(workspace, hi_rxno, () => refreshQueue());
    workspace.querySelector('h2')?.focus();
  }

  async function refreshQueue() {
    try {
      const list = await api('/api/prescriptions?page_size=50');
      mount(queue, h('h2', { id: 'queue-h' }, '本店处方'), list.items.length ? rxTable(list.items, open) : h('p', null, '暂无处方。'));
    } catch (error) {
      mount(queue, h('h2', { id: 'queue-h' }, '本店处方'), problemView(error));
    }
  }

  mount(
    main,
    h('h1', null, '药师工作台'),
    h('p', { class: 'lead' }, `${me.fixmedins_code || ''} · 药师 ${me.phar_code || ''}`),
    h(
      'form',
      {
        class: 'scan card',
        onsubmit: async (event) => {
          event.preventDefault();
          const value = lookup.value.trim();
          // emptied at once: the next scan types into an empty field
          lookup.value = '';
          if (!value) return;
          found.replaceChildren();
          workspace.replaceChildren();
          await lookUp(value);
        },
      },
      field('扫描或输入处方编号 / 人员编号', lookup, '医保处方编号（hi_rxno）或人员编号（psn_no）；扫码枪扫描后自动查询。'),
      h('button', { type: 'submit' }, '查询'),
    ),
    found,
    workspace,
    queue,
  );

  // The pharmacy's own list first (a prescription number, or a person's prescriptions), then
  // the prescription by its number (one not bound to a pharmacy is not on any list before review).
  async function lookUp(value) {
    try {
      const list = await api('/api/prescriptions?page_size=100');
      if (list.items.some((rx) => rx.hi_rxno === value)) return await open(value);
      const theirs = list.items.filter((rx) => rx.prescription.psn_no === value);
      if (theirs.length) {
        found.append(h('h2', null, `人员 ${value} 的处方`), rxTable(theirs, open));
        return;
      }
      await api(`/api/prescriptions/${encodeURIComponent(value)}`);
      await open(value);
    } catch (error) {
      if (error.status === 404 || error.status === 400) {
        found.append(h('div', { class: 'problem', role: 'alert' }, h('p', { class: 'problem-title' }, '未找到'), h('p', null, `没有处方编号或人员编号为“${value}”的本店处方。请核对后重新扫描。`)));
      } else {
        found.append(problemView(error));
      }
    }
  }

  // ready for the scanner at once
  lookup.focus();
  await refreshQueue();
}

function rxTable(items, open) {
  return h(
    'table',
    { class: 'list' },
    h('thead', null, h('tr', null, h('th', null, label('hi_rxno')), h('th', null, label('psn_no')), h('th', null, '药品'), h('th', null, '状态'))),
    h(
      'tbody',
      null,
      items.map((rx) =>
        h(
          'tr',
          null,
          h('td', null, h('button', { type: 'button', class: 'link', onclick: () => open(rx.hi_rxno) }, rx.hi_rxno)),
          h('td', null, rx.prescription.psn_no),
          h('td', null, rx.drug_names.join('、')),
          h('td', null, `${RX_STAGE[rx.stage] || rx.stage} · ${RX_STATUS[rx.rx_stas_codg]}`),
        ),
      ),
    ),
  );
}

async function showPrescription(section, hi_rxno, changed) {
  const result = live();
  let rx;
  try {
    rx = await api(`/api/prescriptions/${encodeURIComponent(hi_rxno)}`);
  } catch (error) {
    mount(section, problemView(error));
    return;
  }
  const p = rx.prescription;
  const reload = async () => {
    await showPrescription(section, hi_rxno, changed);
    changed();
  };

  // the filing check (E5, I4) of every separate-payment line, as the filing component answers it
  const checks = await Promise.all(
    p.lines.map((line, i) =>
      rx.kinds[i] === 'separate_payment'
        ? api(`/api/filings/check${qs({ psn_no: p.psn_no, code: line.med_list_codg })}`).catch((error) => ({ error }))
        : null,
    ),
  );

  mount(
    section,
    h('h2', { tabindex: -1 }, `处方 ${rx.hi_rxno}`),
    h('p', null, h('span', { class: `badge rx-${rx.rx_stas_codg}`, dataset: { stage: rx.stage } }, RX_STAGE[rx.stage] || rx.stage), ` ${RX_STATUS[rx.rx_stas_codg]}`),
    fieldList([
      ['psn_no', p.psn_no],
      ['fixmedins_code', p.fixmedins_code, '开方医院'],
      ['dr_code', p.dr_code, '开方医师'],
      ['diagnoses', p.diagnoses.join('、'), '诊断'],
      ['vali_end_time', rx.vali_end_time.replace('T', ' ')],
      ['opinion', rx.review?.opinion, '审方意见'],
    ]),
    h(
      'table',
      { class: 'lines' },
      h('thead', null, h('tr', null, h('th', null, '药品'), h('th', null, label('drug_spec', '规格')), h('th', null, label('drug_cnt', '数量')), h('th', null, label('medc_way_dscr', '用法')), h('th', null, label('drug_pric', '单价')), h('th', null, '备案核验'))),
      h(
        'tbody',
        null,
        p.lines.map((line, i) =>
          h(
            'tr',
            null,
            h('td', null, rx.drug_names[i], rx.kinds[i] === 'separate_payment' ? h('small', { class: 'tag' }, '单独支付') : null),
            h('td', null, line.drug_spec),
            h('td', null, `${line.drug_cnt} ${line.drug_dosunt}`),
            h('td', null, `${line.medc_way_dscr}，${line.medc_days} 天`),
            h('td', null, yuan(line.drug_pric)),
            h('td', { class: 'check' }, filingCheck(checks[i])),
          ),
        ),
      ),
    ),
    actions(rx, result, reload),
    // a refusal shows beside the step that was refused (the dispensing form places it itself)
    result.parentNode ? null : result,
    rawView(rx),
  );
}

function filingCheck(check) {
  if (!check) return h('span', { class: 'hint' }, '无需备案');
  if (check.error) return problemView(check.error);
  if (check.valid) return h('span', { class: 'ok' }, '✓ 备案有效');
  return h('div', { class: 'warn' }, '✗ 备案无效', h('ul', null, (check.reasons || []).map((r) => h('li', null, r.rule ? ruleBadge(r.rule) : null, ' ', said(r.reason)))));
}

function actions(rx, result, reload) {
  const fail = (error) => result.replaceChildren(problemView(error));
  const base = `/api/prescriptions/${encodeURIComponent(rx.hi_rxno)}`;
  if (rx.stage === 'uploaded') {
    const opinion = h('textarea', { rows: 2, name: 'opinion', placeholder: '如：用法用量适宜' });
    const review = async (approved) => {
      result.replaceChildren();
      try {
        const body = { approved };
        if (opinion.value.trim()) body.opinion = opinion.value.trim();
        await api(`${base}/review`, { method: 'POST', json: body });
        await reload();
      } catch (error) {
        fail(error);
      }
    };
    return h(
      'form',
      { class: 'card step', onsubmit: (event) => event.preventDefault() },
      h('h3', null, '审方'),
      field('审方意见', opinion, '不通过时必须写明原因。'),
      h('div', { class: 'buttons' }, h('button', { type: 'button', onclick: () => review(true) }, '审核通过'), h('button', { type: 'button', class: 'secondary', onclick: () => review(false) }, '审核不通过')),
    );
  }
  if (rx.stage === 'approved' || rx.stage === 'dispensing') return [dispenseForm(rx, base, result, reload), settlementPanel(rx, result, reload, { preOnly: true })];
  if (rx.stage === 'dispensed') return settlementPanel(rx, result, reload);
  return h('p', { class: 'hint' }, '该处方当前状态下无可办理的业务。');
}

function dispenseForm(rx, base, result, reload) {
  const p = rx.prescription;
  const dispensingNo = h('input', { type: 'text', name: 'dispensing_no', value: rx.dispensing_no || number('FY'), autocomplete: 'off' });
  const lines = p.lines.map((line, i) => {
    const codes = [];
    const batch = h('input', { type: 'text', name: `batch-${i}`, autocomplete: 'off', required: true, placeholder: '如：B2025001' });
    const count = h('input', { type: 'text', name: `drug_cnt-${i}`, inputmode: 'decimal', value: line.drug_cnt, autocomplete: 'off' });
    const scan = h('input', { type: 'text', name: `trac-${i}`, inputmode: 'numeric', autocomplete: 'off', spellcheck: 'false', placeholder: '扫描药盒上的追溯码' });
    const list = h('ol', { class: 'codes', 'aria-live': 'polite' });
    const note = h('small', { class: 'hint' }, '每盒一个追溯码：扫码枪扫描后自动换行录入。');
    const redraw = () =>
      mount(
        list,
        codes.map((code, k) =>
          h('li', null, h('code', null, code), h('button', { type: 'button', class: 'link', 'aria-label': `移除追溯码 ${code}`, onclick: () => { codes.splice(k, 1); redraw(); } }, '移除')),
        ),
      );
    scan.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter') return;
      event.preventDefault();
      const code = scan.value.trim();
      scan.value = '';
      if (!code) return;
      if (codes.includes(code)) {
        note.textContent = `追溯码 ${code} 已录入，同一盒药不能重复扫描。`;
        return;
      }
      codes.push(code);
      note.textContent = `已录入 ${codes.length} 盒。`;
      redraw();
    });
    const box = h(
      'fieldset',
      { class: 'line' },
      h('legend', null, `${rx.drug_names[i]}（处方 ${line.drug_cnt} ${line.drug_dosunt}）`),
      field('批号', batch),
      field(h('span', null, label('drug_cnt', '发药数量')), count),
      field(h('span', null, label('drug_trac_codg', '药品追溯码')), scan),
      note,
      list,
    );
    return { line, codes, batch, count, box };
  });
  return h(
    'form',
    {
      class: 'card step',
      onsubmit: async (event) => {
        event.preventDefault();
        result.replaceChildren();
        const body = {
          dispensing_no: dispensingNo.value.trim(),
          lines: lines.map(({ line, codes, batch, count }) => ({ med_list_codg: line.med_list_codg, batch: batch.value.trim(), drug_cnt: count.value.trim(), drug_trac_codg: codes })),
        };
        try {
          await api(`${base}/dispense`, { method: 'POST', json: body });
          await reload();
        } catch (error) {
          result.replaceChildren(problemView(error));
        }
      },
    },
    h('h3', null, '调剂发药'),
    field('发药单号', dispensingNo),
    lines.map((l) => l.box),
    h('button', { type: 'submit' }, '确认发药'),
    result,
  );
}

function settlementPanel(rx, result, reload, { preOnly = false } = {}) {
  const p = rx.prescription;
  const prices = p.lines.map((line, i) => h('input', { type: 'text', name: `unit_price-${i}`, inputmode: 'decimal', value: line.drug_pric, autocomplete: 'off' }));
  const balance = h('input', { type: 'text', name: 'acct_balance', inputmode: 'decimal', value: '0.00', autocomplete: 'off' });
  const shown = h('div', { class: 'settlement', 'aria-live': 'polite' });
  const body = () => ({
    hi_rxno: rx.hi_rxno,
    lines: p.lines.map((line, i) => ({ med_list_codg: line.med_list_codg, unit_price: prices[i].value.trim() })),
    acct_balance: balance.value.trim(),
  });
  const run = async (what) => {
    result.replaceChildren();
    try {
      if (what === 'pre') {
        const breakdown = await api('/api/settlements/pre-settlement', { method: 'POST', json: body() });
        mount(shown, h('h4', null, '试算结果（未结算）'), breakdownView(breakdown));
      } else {
        const settled = await api('/api/settlements', { method: 'POST', json: { setl_no: number('JS'), ...body() } });
        showSettled(settled);
      }
    } catch (error) {
      result.replaceChildren(problemView(error));
    }
  };

  function showSettled(s) {
    const reason = h('input', { type: 'text', name: 'reason', autocomplete: 'off', placeholder: '如：价格录入错误' });
    mount(
      shown,
      h('div', { class: 'receipt', id: 'receipt' },
        h('h4', null, '医保结算单'),
        h('p', null, h('span', { class: `badge st-${s.stage}`, dataset: { stage: s.stage } }, SETTLEMENT_STAGE[s.stage] || s.stage)),
        fieldList([['setl_id', s.setl_id], ['setl_no', s.setl_no], ['hi_rxno', s.hi_rxno], ['psn_no', s.psn_no], ['fixmedins_code', s.fixmedins_code, '结算药店'], ['setl_date', s.setl_date]]),
        breakdownView(s),
      ),
      s.stage === 'settled'
        ? h('div', { class: 'noprint buttons' },
            h('button', { type: 'button', onclick: () => window.print() }, '打印结算单'),
            h('form', {
              class: 'inline',
              onsubmit: async (event) => {
                event.preventDefault();
                result.replaceChildren();
                try {
                  const reversed = await api(`/api/settlements/${encodeURIComponent(s.setl_id)}/reversal`, { method: 'POST', json: { reason: reason.value.trim() } });
                  showSettled(reversed);
                } catch (error) {
                  result.replaceChildren(problemView(error));
                }
              },
            }, field('冲正原因', reason), h('button', { type: 'submit', class: 'secondary' }, '冲正')),
          )
        : h('div', { class: 'noprint buttons' }, h('button', { type: 'button', onclick: () => reload() }, '重新结算')),
      rawView(s),
    );
  }

  const panel = h(
    'section',
    { class: 'card step', id: 'settle' },
    h('h3', null, preOnly ? '结算试算（发药前）' : '医保结算'),
    h('div', { class: 'row' }, p.lines.map((line, i) => field(h('span', null, label('unit_price', `${rx.drug_names[i]} 实际单价`)), prices[i])), field(h('span', null, label('acct_balance', '个人账户余额')), balance)),
    h('div', { class: 'buttons' },
      h('button', { type: 'button', class: 'secondary', onclick: () => run('pre') }, '试算'),
      preOnly ? null : h('button', { type: 'button', onclick: () => run('settle') }, '结算'),
    ),
    shown,
  );
  if (!preOnly) {
    // a settlement already made today for this prescription is shown with its reversal
    api('/api/settlements/day')
      .then((day) => {
        const mine = day.items.find((s) => s.hi_rxno === rx.hi_rxno && (s.stage === 'settled' || s.stage === 'settling'));
        if (mine && !shown.childElementCount) showSettled(mine);
      })
      .catch(() => {});
  }
  return panel;
}
