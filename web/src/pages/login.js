// Sign in with a token (as an admin issued it), or, on a demo deployment, as one of the demo
// registry's people with one click (POST /api/auth/demo-tokens).
import { h, mount, field, live } from '../lib/dom.js';
import { api } from '../lib/api.js';
import { signIn, homeOf } from '../lib/session.js';
import { navigate } from '../lib/router.js';
import { problemView } from '../lib/problems.js';

const DEMO_ROLES = [
  ['patient', '患者', '查药品、看备案、出示处方凭证、看结算'],
  ['pharmacist', '药师', '审方、扫码调剂、结算、冲正'],
  ['agency', '医保经办机构', '政策、地方目录、用药与支付统计'],
  ['admin', '管理员', '导入国家目录版本'],
];

export default async function login(main) {
  // asked before anything is drawn, so the demo choices do not push the form down later
  const status = await api('/api/catalogue/status', { token: null }).catch(() => null);
  const result = live();
  const token = h('textarea', { rows: 3, required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'eyJhbGciOi…' });
  const demo = h('section', { class: 'demo', 'aria-labelledby': 'demo-h', hidden: true });

  async function enter(bearer, name) {
    const who = await api('/api/auth/whoami', { token: bearer });
    if (who.role === 'public') throw new Error('这不是有效的登录凭据');
    signIn(bearer, who, name);
    navigate(homeOf(who.role));
  }

  mount(
    main,
    h('h1', null, '登录'),
    h('p', { class: 'lead' }, '国家谈判药品“双通道”与单独支付服务：参保患者、定点药店药师与医保经办机构使用。'),
    demo,
    h(
      'form',
      {
        class: 'card',
        onsubmit: async (event) => {
          event.preventDefault();
          result.replaceChildren();
          try {
            await enter(token.value.trim());
          } catch (error) {
            result.replaceChildren(problemView(error));
          }
        },
      },
      h('h2', null, '使用访问令牌登录'),
      field('访问令牌（Bearer token）', token, '由管理员签发（POST /api/auth/tokens），粘贴到此处。'),
      h('button', { type: 'submit' }, '登录'),
    ),
    result,
  );

  if (!status?.demo_data) return;
  mount(
    demo,
    h('h2', { id: 'demo-h' }, '演示环境：选择角色一键进入'),
    h('p', { class: 'hint' }, `演示数据为虚构的${status.admdvs || ''}地区；业务日期 ${status.business_date || ''}。`),
    h(
      'div',
      { class: 'roles' },
      DEMO_ROLES.map(([role, text, what]) =>
        h(
          'button',
          {
            type: 'button',
            class: 'role',
            dataset: { role },
            onclick: async () => {
              result.replaceChildren();
              try {
                const issued = await api('/api/auth/demo-tokens', { method: 'POST', json: { role }, token: null });
                await enter(issued.token, issued.name);
              } catch (error) {
                result.replaceChildren(problemView(error));
              }
            },
          },
          h('strong', null, text),
          h('small', null, what),
        ),
      ),
    ),
  );
  demo.hidden = false;
}
