// The web app's entry: the router, the header (who is signed in, the role's pages) and the
// page modules, each loaded when first shown.
import './style.css';
import { h, mount } from './lib/dom.js';
import { route, start, match, navigate } from './lib/router.js';
import { session, signOut, homeOf, ROLE_NAMES } from './lib/session.js';
import { problemView } from './lib/problems.js';

const NAV = {
  patient: [
    ['/app/patient', '查药品'],
    ['/app/patient/filings', '我的备案'],
    ['/app/patient/prescriptions', '我的处方'],
    ['/app/patient/settlements', '我的结算'],
  ],
  pharmacist: [['/app/pharmacy', '药师工作台']],
  agency: [
    ['/app/agency', '政策与目录'],
    ['/app/agency/reports', '用药与支付统计'],
  ],
};
NAV.admin = NAV.agency;

// [pattern, module loader, roles allowed (empty: anyone)]
const pages = [
  [/^\/app\/?$/, null, []],
  [/^\/app\/login\/?$/, () => import('./pages/login.js'), []],
  [/^\/app\/patient\/?$/, () => import('./pages/patient.js').then((m) => m.search), ['patient']],
  [/^\/app\/patient\/drugs\/([^/]+)$/, () => import('./pages/patient.js').then((m) => m.drug), ['patient']],
  [/^\/app\/patient\/filings\/?$/, () => import('./pages/patient.js').then((m) => m.filings), ['patient']],
  [/^\/app\/patient\/prescriptions\/?$/, () => import('./pages/patient.js').then((m) => m.prescriptions), ['patient']],
  [/^\/app\/patient\/prescriptions\/([^/]+)$/, () => import('./pages/patient.js').then((m) => m.voucher), ['patient']],
  [/^\/app\/patient\/settlements\/?$/, () => import('./pages/patient.js').then((m) => m.settlements), ['patient']],
  [/^\/app\/pharmacy\/?$/, () => import('./pages/pharmacy.js'), ['pharmacist']],
  [/^\/app\/agency\/?$/, () => import('./pages/agency.js'), ['agency', 'admin']],
  [/^\/app\/agency\/reports\/?$/, () => import('./pages/reports.js'), ['agency', 'admin']],
];
for (const [pattern, load, roles] of pages) route(pattern, { load, roles });

const main = document.getElementById('main');

function header() {
  const me = session();
  const role = me?.who?.role;
  mount(
    document.getElementById('nav'),
    (NAV[role] || []).map(([href, text]) => h('a', { href, 'aria-current': location.pathname === href ? 'page' : null }, text)),
  );
  mount(
    document.getElementById('who'),
    me
      ? [
          h('span', { class: 'who-name', title: JSON.stringify(me.who) }, `${ROLE_NAMES[role] || role}${me.name ? ` · ${me.name}` : ''}`),
          h('button', { type: 'button', class: 'link', onclick: () => { signOut(); navigate('/app/login'); } }, '退出'),
        ]
      : h('a', { href: '/app/login' }, '登录'),
  );
}

// Each navigation draws its page into a root of its own: a page still loading when the user
// moves on keeps drawing into its detached root and never into the page shown after it.
let shown = 0;

async function show() {
  const navigation = ++shown;
  const found = match(location.pathname);
  const me = session();
  if (!found) {
    mount(main, h('h1', null, '页面不存在'), h('p', null, h('a', { href: '/app/' }, '返回首页')));
    header();
    return;
  }
  const { load, roles } = found.load;
  if (!load) {
    navigate(me ? homeOf(me.who.role) : '/app/login', { replace: true });
    return;
  }
  if (roles.length && !roles.includes(me?.who?.role)) {
    navigate('/app/login', { replace: true });
    return;
  }
  header();
  const root = h('div', { class: 'page' });
  try {
    const page = await load();
    if (navigation !== shown) return;
    const view = page.default || page;
    main.replaceChildren(root);
    // after a navigation, keyboard and screen-reader users start at the new page's content;
    // focused before the page draws, so a page may move focus on (the scan field) and nothing
    // takes it back while the user types
    if (!firstPage) main.focus();
    firstPage = false;
    await view(root, ...found.params);
  } catch (error) {
    if (navigation === shown) mount(main, h('h1', null, '页面加载失败'), problemView(error));
  }
  if (navigation === shown) document.title = `${main.querySelector('h1')?.textContent || ''} · 双通道药品服务`;
}
let firstPage = true;

start(show);
