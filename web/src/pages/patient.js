// The patient's pages (mobile first): search the catalogue, a drug's coverage here, my
// filings, my prescriptions with the voucher (a QR code of hi_rxno), my settlements with the
// breakdown explained step by step. Everything shown is what the API answered.
import { h, mount, field, live } from '../lib/dom.js';
import { api, qs } from '../lib/api.js';
import { navigate } from '../lib/router.js';
import { problemView, ruleBadge, RULES } from '../lib/problems.js';
import { said } from '../lib/zh.js';
import { label, fieldList, rawView, yuan, RX_STATUS, RX_USED, RX_STAGE, FILING_STATE, FILING_SCHEME, FILING_STANDING, SETTLEMENT_STAGE } from '../lib/fields.js';

let statusCache;
/** The deployment's status: its region and business date (cached for the page's life). */
export function appStatus() {
  statusCache ||= api('/api/catalogue/status', { token: null }).catch(() => ({}));
  return statusCache;
}

const CATEGORY = { regular: '常规目录', negotiated: '谈判药品', competitive_bid: '竞价药品' };
const CLASS = { A: '甲类', B: '乙类' };

function standardText(standard) {
  const amount = standard.amount || {};
  const value = amount.type === 'published' ? yuan(amount.amount) : amount.type === 'confidential' ? '保密（不公开）' : amount.note || '见备注';
  return [standard.specification, value, standard.per ? `/${standard.per}` : '', standard.terms ? `（${standard.terms}）` : ''].filter(Boolean).join(' ');
}

// ---- search ---------------------------------------------------------------------------

export async function search(main) {
  const params = new URLSearchParams(location.search);
  const q = h('input', { type: 'search', name: 'q', value: params.get('q') || '', autocomplete: 'off', enterkeyhint: 'search', placeholder: '如：阿帕替尼 或 aptn' });
  const results = live('results');
  const form = h(
    'form',
    {
      role: 'search',
      class: 'searchbar',
      onsubmit: (event) => {
        event.preventDefault();
        navigate(`/app/patient${qs({ q: q.value.trim() })}`, { replace: true });
      },
    },
    field('药品名称或拼音首字母', q),
    h('button', { type: 'submit' }, '搜索'),
  );
  mount(main, h('h1', null, '查药品'), h('p', { class: 'lead' }, '在国家医保药品目录中查找，看看在本地能否报销、属于哪些目录。'), form, results);
  const text = params.get('q');
  if (!text) {
    results.append(h('p', { class: 'hint' }, '输入药品通用名的一部分或拼音首字母，例如“替尼”或“aptn”。'));
    return;
  }
  const page = Number(params.get('page') || 1);
  try {
    const found = await api(`/api/catalogue/drugs${qs({ q: text, page, page_size: 20 })}`);
    if (!found.items.length) {
      results.append(h('p', null, `没有找到与“${text}”相关的药品。`));
      return;
    }
    results.append(
      h('p', { class: 'hint' }, `共 ${found.total} 条`),
      h(
        'ul',
        { class: 'cards' },
        found.items.map((drug) =>
          h(
            'li',
            null,
            h(
              'a',
              { class: 'card drug', href: `/app/patient/drugs/${encodeURIComponent(drug.code)}` },
              h('strong', null, drug.name),
              h('span', null, [drug.dosage_form, CLASS[drug.insurance_class], CATEGORY[drug.category]].filter(Boolean).join(' · ')),
              drug.restriction ? h('small', null, `限定：${drug.restriction}`) : null,
            ),
          ),
        ),
      ),
      found.total > page * 20 ? h('a', { class: 'more', href: `/app/patient${qs({ q: text, page: page + 1 })}` }, '下一页') : null,
    );
  } catch (error) {
    results.append(problemView(error));
  }
}

// ---- a drug's coverage here -------------------------------------------------------------

export async function drug(main, code) {
  const status = await appStatus();
  const region = status.admdvs || '420100';
  let coverage;
  try {
    coverage = await api(`/api/catalogue/regions/${region}/drugs/${encodeURIComponent(code)}`);
  } catch (error) {
    mount(main, h('h1', null, '药品'), problemView(error), h('p', null, h('a', { href: '/app/patient' }, '返回搜索')));
    return;
  }
  const national = coverage.drug || {};
  const lists = coverage.lists || {};
  const onLists = [
    lists.dual_channel ? '双通道' : null,
    lists.separate_payment ? '单独支付' : null,
    lists.outpatient ? `门诊保障（年度限额 ${yuan(lists.outpatient.annual_max)}${lists.outpatient.local_restriction ? `，${lists.outpatient.local_restriction.text}` : ''}）` : null,
  ].filter(Boolean);
  mount(
    main,
    h('p', { class: 'crumbs' }, h('button', { type: 'button', class: 'link', onclick: () => history.back() }, '← 返回')),
    h('h1', null, national.name || code),
    h(
      'div',
      { class: `verdict ${coverage.payable ? 'yes' : 'no'}` },
      h('strong', null, coverage.payable ? `在本地（${region}）可以报销` : `在本地（${region}）目前不能报销`),
      h('small', null, `按 ${coverage.as_of} 的目录`),
      coverage.reasons?.length ? h('ul', null, coverage.reasons.map((reason) => h('li', null, said(reason)))) : null,
    ),
    h('section', { class: 'card' },
      h('h2', null, '属于哪些目录'),
      onLists.length ? h('ul', { class: 'tags' }, onLists.map((text) => h('li', null, text))) : h('p', null, '不在本地区的双通道、单独支付或门诊保障目录中。'),
      h('p', { class: 'hint' }, '双通道：可在定点医院或定点药店购药并报销；单独支付：费用单独结算，需先办理用药资格备案。'),
    ),
    h('section', { class: 'card' },
      h('h2', null, '限定支付范围'),
      h('p', null, coverage.restriction || '无限定。'),
      coverage.restriction ? h('p', { class: 'hint' }, ruleBadge('C9'), ' 需医师确认符合限定范围后才能报销。') : null,
    ),
    h('section', { class: 'card' },
      h('h2', null, '支付标准'),
      coverage.payment_standards?.length ? h('ul', null, coverage.payment_standards.map((s) => h('li', null, standardText(s)))) : h('p', null, '按实际价格报销。'),
      coverage.transition_until ? h('p', null, ruleBadge('C4'), ` 过渡期至 ${coverage.transition_until}`) : null,
      fieldList([
        ['med_list_codg', national.med_list_codg || code],
        ['class', [CLASS[national.insurance_class], CATEGORY[national.category]].filter(Boolean).join(' · '), '类别'],
        ['dosage_form', national.dosage_form, '剂型'],
        ['validity', national.validity ? `${national.validity.start} 至 ${national.validity.end}` : null, '协议有效期'],
        ['edition', coverage.edition?.name, '目录版本'],
      ]),
    ),
    rawView(coverage),
  );
}

// ---- my filings -------------------------------------------------------------------------

export async function filings(main) {
  mount(
    main,
    h('h1', null, '我的备案'),
    h('p', { class: 'lead' }, '单独支付药品需先办理用药资格备案；门诊保障用药需在定点三级医院办理诊断登记（定医院、定医师、定药品）。均一年有效，医师至少每六个月复评一次。'),
  );
  try {
    const list = await api('/api/filings');
    if (!list.items.length) {
      main.append(h('p', null, '暂无备案。请到定点医院医保办或由责任医师协助申请。'));
      return;
    }
    main.append(
      h('ul', { class: 'cards' }, list.items.slice().reverse().map((filing) =>
        h('li', { class: 'card' },
          h('h2', null, filing.drug_name),
          h('p', { class: 'scheme' }, FILING_SCHEME[filing.scheme || 'separate_payment']),
          h('p', null, h('span', { class: `badge s-${filing.standing}` }, FILING_STANDING[filing.standing] || filing.standing), ' ', FILING_STATE[filing.state] || filing.state),
          fieldList([
            ['valid_until', filing.valid_until ? `${filing.valid_from} 至 ${filing.valid_until}` : null, '有效期'],
            ['reassess_by', filing.reassess_by, '复评截止日期'],
            ['pharmacy', filing.pharmacy, '定点药店'],
            ['fixmedins_code', filing.application?.fixmedins_code, '定点医院'],
            ['dr_code', filing.application?.dr_code, filing.scheme === 'outpatient_mechanism' ? '诊断医师' : '责任医师'],
            ['named_physicians', filing.application?.named_physicians?.join('、'), '登记医师'],
            ['applied_on', filing.applied_on, '申请日期'],
          ]),
          filing.audit?.reason ? h('p', { class: 'hint' }, `说明：${filing.audit.reason}`) : null,
          rawView(filing),
        ),
      )),
    );
  } catch (error) {
    main.append(problemView(error));
  }
}

// ---- my prescriptions and the voucher ----------------------------------------------------

export async function prescriptions(main) {
  mount(main, h('h1', null, '我的处方'), h('p', { class: 'lead' }, '到药店购药时出示处方凭证上的二维码。'));
  try {
    const list = await api('/api/prescriptions?page_size=50');
    if (!list.items.length) {
      main.append(h('p', null, '暂无电子处方。'));
      return;
    }
    main.append(
      h('ul', { class: 'cards' }, list.items.map((rx) =>
        h('li', null,
          h('a', { class: 'card rx', href: `/app/patient/prescriptions/${encodeURIComponent(rx.hi_rxno)}` },
            h('strong', null, rx.drug_names.join('、')),
            h('span', null, h('span', { class: `badge rx-${rx.rx_stas_codg}` }, RX_STATUS[rx.rx_stas_codg]), ' ', RX_STAGE[rx.stage] || rx.stage),
            h('small', null, `有效期至 ${rx.vali_end_time.replace('T', ' ')} · `, label('hi_rxno'), ` ${rx.hi_rxno}`),
          ),
        ),
      )),
    );
  } catch (error) {
    main.append(problemView(error));
  }
}

export async function voucher(main, hi_rxno) {
  mount(main, h('p', { class: 'crumbs' }, h('a', { href: '/app/patient/prescriptions' }, '← 我的处方')), h('h1', null, '处方凭证'));
  const qr = h('div', { class: 'qr', role: 'img', 'aria-label': `处方编号 ${hi_rxno} 的二维码` });
  main.append(qr);
  try {
    const [rx, text, QRCode] = await Promise.all([
      api(`/api/prescriptions/${encodeURIComponent(hi_rxno)}`),
      api(`/api/prescriptions/${encodeURIComponent(hi_rxno)}/voucher`),
      import('qrcode').then((m) => m.default || m),
    ]);
    const src = await QRCode.toDataURL(rx.hi_rxno, { errorCorrectionLevel: 'M', margin: 2, width: 240 });
    qr.append(h('img', { src, width: 240, height: 240, alt: `二维码：${rx.hi_rxno}` }), h('p', { class: 'qr-text' }, rx.hi_rxno));
    const p = rx.prescription;
    main.append(
      h('section', { class: 'card' },
        h('p', null, h('span', { class: `badge rx-${rx.rx_stas_codg}` }, RX_STATUS[rx.rx_stas_codg]), ' ', RX_STAGE[rx.stage] || rx.stage, ` · ${RX_USED[rx.rx_used_stas_codg] || ''}`),
        fieldList([
          ['hi_rxno', rx.hi_rxno],
          ['psn_no', p.psn_no],
          ['fixmedins_code', p.fixmedins_code, '开方医院'],
          ['dr_code', p.dr_code, '开方医师'],
          ['pharmacy', rx.pharmacy || '患者自选', '取药药店'],
          ['vali_end_time', rx.vali_end_time.replace('T', ' ')],
        ]),
        h('table', { class: 'lines' },
          h('thead', null, h('tr', null, h('th', null, '药品'), h('th', null, label('drug_spec', '规格')), h('th', null, label('drug_cnt', '数量')), h('th', null, label('medc_way_dscr', '用法')))),
          h('tbody', null, p.lines.map((line, i) => h('tr', null, h('td', null, rx.drug_names[i]), h('td', null, line.drug_spec), h('td', null, `${line.drug_cnt} ${line.drug_dosunt}`), h('td', null, `${line.medc_way_dscr}，${line.medc_days} 天`)))),
        ),
      ),
      h('details', { class: 'raw' }, h('summary', null, '凭证文本（可打印）'), h('pre', { class: 'voucher-text' }, text)),
      h('p', { class: 'noprint' }, h('button', { type: 'button', onclick: () => window.print() }, '打印凭证')),
      rawView(rx),
    );
  } catch (error) {
    qr.remove();
    main.append(problemView(error));
  }
}

// ---- my settlements ---------------------------------------------------------------------

/** The one-stop breakdown in words, then every rule step the engine applied. */
export function breakdownView(s) {
  const row = (name, value, note) => h('tr', null, h('th', { scope: 'row' }, label(name)), h('td', null, yuan(value)), h('td', { class: 'hint' }, note || ''));
  return h('div', { class: 'breakdown' },
    h('ol', { class: 'explain' },
      h('li', null, `本次药品费用共 ${yuan(s.medfee_sumamt)}。`),
      Number(s.fulamt_ownpay_amt) ? h('li', null, `其中 ${yuan(s.fulamt_ownpay_amt)} 不在医保支付范围，全部自费。`) : null,
      Number(s.overlmt_selfpay) ? h('li', null, `价格超出医保支付标准的 ${yuan(s.overlmt_selfpay)} 由个人负担（规则 S1）。`) : null,
      Number(s.preselfpay_amt) ? h('li', null, `乙类药品先由个人支付一定比例：${yuan(s.preselfpay_amt)}。`) : null,
      h('li', null, `符合政策范围的金额为 ${yuan(s.inscp_scp_amt)}${Number(s.act_pay_dedc) ? `，先扣除起付线 ${yuan(s.act_pay_dedc)}` : '，不设起付线或起付线已满'}。`),
      h('li', null, `基本医保统筹基金支付 ${yuan(s.hifp_pay)}${Number(s.hifmi_pay) ? `，大病保险再支付 ${yuan(s.hifmi_pay)}` : ''}${Number(s.maf_pay) ? `，医疗救助支付 ${yuan(s.maf_pay)}` : ''}；基金合计 ${yuan(s.fund_pay_sumamt)}。`),
      h('li', null, `剩下的 ${yuan(s.psn_part_amt)} 由个人负担：个人账户支付 ${yuan(s.acct_pay)}，现金支付 ${yuan(s.psn_cash_pay)}。`),
    ),
    h('table', { class: 'amounts' },
      h('tbody', null,
        row('medfee_sumamt', s.medfee_sumamt, '= 基金支付总额 + 个人负担总额'),
        row('fulamt_ownpay_amt', s.fulamt_ownpay_amt),
        row('overlmt_selfpay', s.overlmt_selfpay),
        row('preselfpay_amt', s.preselfpay_amt),
        row('inscp_scp_amt', s.inscp_scp_amt),
        row('act_pay_dedc', s.act_pay_dedc),
        row('hifp_pay', s.hifp_pay),
        row('hifmi_pay', s.hifmi_pay),
        row('maf_pay', s.maf_pay),
        row('fund_pay_sumamt', s.fund_pay_sumamt),
        row('acct_pay', s.acct_pay),
        row('psn_cash_pay', s.psn_cash_pay),
        row('psn_part_amt', s.psn_part_amt, '= 个人账户 + 现金'),
      ),
    ),
    h('details', { class: 'steps' },
      h('summary', null, `计算步骤（${s.steps?.length || 0} 步，逐条对应政策规则）`),
      h('ol', null, (s.steps || []).map((step) =>
        h('li', null, h('span', { class: 'rule', title: RULES[step.rule] || step.rule }, `${step.rule} ${RULES[step.rule] || ''}`), h('div', null, step.what), h('code', null, `${step.input} → ${step.output}`)),
      )),
    ),
  );
}

export async function settlements(main) {
  mount(main, h('h1', null, '我的结算'), h('p', { class: 'lead' }, '每一笔结算的费用构成：医保支付了多少、个人负担多少、为什么。'));
  try {
    const list = await api(`/api/settlements${qs({ page_size: 20 })}`);
    if (!list.items.length) {
      main.append(h('p', null, '暂无结算记录。'));
      return;
    }
    main.append(
      h('ul', { class: 'cards' }, list.items.map((s) =>
        h('li', { class: 'card' },
          h('h2', null, `${s.setl_date} · 医疗费 ${yuan(s.medfee_sumamt)}`),
          h('p', null, h('span', { class: `badge st-${s.stage}` }, SETTLEMENT_STAGE[s.stage] || s.stage), ` 医保支付 ${yuan(s.fund_pay_sumamt)} · 个人负担 ${yuan(s.psn_part_amt)}`),
          fieldList([['setl_id', s.setl_id], ['hi_rxno', s.hi_rxno], ['fixmedins_code', s.fixmedins_code, '结算药店']]),
          breakdownView(s),
          rawView(s),
        ),
      )),
    );
  } catch (error) {
    main.append(problemView(error));
  }
}

