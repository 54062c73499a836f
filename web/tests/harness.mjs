// Browser-test harness: Debian's Chromium (/usr/bin/chromium) driven by playwright-core (no
// browser download), against the app the project's test host serves (APP_URL, started by
// scripts/browser-test.sh). Every page fails its test on any console error, uncaught
// exception or failed request, unless the test declared that request's refusal expected.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import assert from 'node:assert/strict';

export const BASE = process.env.APP_URL || 'http://127.0.0.1:3000';
const here = path.dirname(fileURLToPath(import.meta.url));
export const SHOTS = process.env.SCREENSHOT_DIR || path.resolve(here, '../../target/browser-tests');
mkdirSync(SHOTS, { recursive: true });

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

const opened = [];

/**
 * After each test (an `afterEach` hook): a screenshot of every page it opened as it was at the
 * end (`end-<test>.png`, to see what a failed test saw), then the pages are closed.
 */
export async function closePages(t) {
  const slug = (t?.name || 'test').replace(/[^\p{L}\p{N}]+/gu, '-').slice(0, 60);
  const pages = opened.splice(0);
  for (const [n, page] of pages.entries()) {
    await page.screenshot({ path: path.join(SHOTS, `end-${slug}${n ? `-${n}` : ''}.png`), fullPage: true }).catch(() => {});
    await page.context().close().catch(() => {});
  }
}

/**
 * A page (in a fresh context) that records what went wrong. `expect(urlPart, status)` declares a
 * refusal the test provokes on purpose; `check()` asserts nothing else failed.
 */
export async function openPage(browser, { width = 1280, height = 900, mobile = false } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, isMobile: mobile, hasTouch: mobile, locale: 'zh-CN', deviceScaleFactor: 1 });
  const page = await context.newPage();
  // layout shifts not caused by the user's own input (CLS), summed over the page's life
  await page.addInitScript(() => {
    window.__layoutShift = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__layoutShift += entry.value;
    }).observe({ type: 'layout-shift', buffered: true });
  });
  const problems = [];
  const expected = [];
  const isExpected = (url, status) => expected.some((e) => url.includes(e.urlPart) && e.status === status && !e.seen && (e.seen = true));
  const expectedConsole = (text) => expected.some((e) => e.seen && text.includes(`status of ${e.status}`) && !e.logged && (e.logged = true));
  page.on('console', (message) => {
    if (message.type() === 'error' && !expectedConsole(message.text())) problems.push(`console error: ${message.text()} (${message.location()?.url || ''})`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText || ''}`));
  page.on('response', (response) => {
    if (response.status() >= 400 && !isExpected(response.url(), response.status())) problems.push(`HTTP ${response.status()}: ${response.request().method()} ${response.url()}`);
  });
  opened.push(page);
  return {
    page,
    context,
    expect(urlPart, status) {
      expected.push({ urlPart, status });
    },
    async check() {
      assert.deepEqual(problems, [], `the page had errors:\n${problems.join('\n')}`);
      const shift = await page.evaluate(() => window.__layoutShift);
      assert.ok(shift < 0.1, `the layout shifted while loading (CLS ${shift})`);
      for (const e of expected) assert.ok(e.seen, `the expected refusal ${e.status} of ${e.urlPart} did not happen`);
    },
    async shot(name) {
      await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
    },
  };
}

/** Calls the API directly (test setup: the world the UI then works on). */
export async function api(pathname, { method = 'GET', json, token, body, type } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (type) headers['content-type'] = type;
  const response = await fetch(BASE + pathname, { method, headers, body });
  const text = await response.text();
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    value = text;
  }
  return { status: response.status, body: value };
}

export async function ok(pathname, options) {
  const answer = await api(pathname, options);
  assert.ok(answer.status < 300, `${options?.method || 'GET'} ${pathname}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** A demo token (POST /api/auth/demo-tokens), as the login page's one-click choice gets it. */
export async function demoToken(role, subject) {
  return (await ok('/api/auth/demo-tokens', { method: 'POST', json: subject ? { role, subject } : { role } })).token;
}

/** Signs in through the login page's demo choice for `role`. */
export async function signInAs(page, role) {
  await page.goto(`${BASE}/app/login`);
  await page.locator(`button.role[data-role="${role}"]`).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/app/login'));
}

let seq = Date.now() % 1e9;
/** A number unique to this run (prescription numbers, pack codes). */
export function unique() {
  return ++seq;
}

/** `n` distinct 20-digit traceability codes no other test run used. */
/** The unit a payment standard's specification is quoted per (`10mg/片` → 片): a prescription
 *  line in that unit is compared with the standard as it is (issue 14: like with like). */
export function unitOf(specification) {
  return (specification.split('/').pop() || '').split(/[(（\s]/)[0] || '盒';
}

export function packCodes(n) {
  const base = `${Date.now()}${Math.floor(Math.random() * 1e6)}`.padEnd(18, '0').slice(0, 18);
  return Array.from({ length: n }, (_, k) => `${base}${String(unique() % 100).padStart(2, '0')}`);
}

/**
 * A separate-payment prescription for the demo patient, made through the API as the hospital
 * would: the patient applies for a filing, the responsible physician recommends it, the
 * insurance office approves it with the demo pharmacy as fixed pharmacy, then the physician
 * pre-checks and uploads a prescription. Returns its hi_rxno and the drug.
 */
export async function prescribedWorld({ psn_no = 'P4201000001' } = {}) {
  const patient = await demoToken('patient', psn_no);
  const physician = await demoToken('physician');
  const office = await demoToken('hospital_office');
  const me = await ok('/api/auth/whoami', { token: physician });
  const drug = await separatePaymentDrug();
  const application = { psn_no, code: drug.code, fixmedins_code: me.fixmedins_code, dr_code: me.dr_code, diagnoses: ['C34.901'], records: ['病理报告 2025-0001'], treatment_plan: '每三周一次' };
  const applied = await api('/api/filings', { method: 'POST', json: application, token: patient });
  let filing = applied.body;
  if (applied.status === 409) {
    // an earlier test of this run already holds it: use the live filing
    const mine = await ok('/api/filings', { token: patient });
    filing = mine.items.find((f) => f.application.code === drug.code && ['awaiting_physician', 'awaiting_office', 'approved'].includes(f.state));
  } else {
    assert.ok(applied.status < 300, JSON.stringify(applied.body));
  }
  if (filing.state === 'awaiting_physician') {
    filing = await ok(`/api/filings/${filing.id}/actions`, { method: 'POST', json: { action: 'recommend', attestation: '符合限定支付范围' }, token: physician });
  }
  if (filing.state === 'awaiting_office') {
    filing = await ok(`/api/filings/${filing.id}/actions`, { method: 'POST', json: { action: 'approve', pharmacy: 'P42010000001' }, token: office });
  }
  const rx = {
    hosp_rxno: `WEB-${unique()}`,
    psn_no,
    fixmedins_code: me.fixmedins_code,
    dr_code: me.dr_code,
    rx_exra_attr_code: '01',
    diagnoses: ['C34.901'],
    vali_days: 3,
    lines: [{ med_list_codg: drug.code, drug_dosform: drug.dosage_form || '片剂', drug_spec: drug.standard.specification, drug_cnt: '2', drug_dosunt: unitOf(drug.standard.specification), medc_days: 28, medc_way_dscr: '口服 每日一次', drug_pric: drug.standard.amount.amount, restriction_attested: true }],
  };
  const checked = await ok('/api/prescriptions/pre-check', { method: 'POST', json: rx, token: physician });
  const uploaded = await ok('/api/prescriptions', { method: 'POST', json: { rx_trace_code: checked.rx_trace_code }, token: physician });
  return { hi_rxno: uploaded.hi_rxno, drug, psn_no };
}

let chosenDrug;
/** A separate-payment drug payable today in the demo region. */
export async function separatePaymentDrug() {
  if (chosenDrug) return chosenDrug;
  const status = await ok('/api/catalogue/status');
  const found = await ok('/api/catalogue/drugs?separate_payment=true&page_size=100');
  for (const drug of found.items) {
    const coverage = await ok(`/api/catalogue/regions/${status.admdvs}/drugs/${drug.code}`);
    // a published standard: a confidential one (C6) needs the admin's amounts to settle
    const published = coverage.payment_standards.find((s) => s.amount?.type === 'published' && s.specification);
    if (coverage.payable && coverage.lists.separate_payment && published) {
      chosenDrug = { ...drug, standard: published };
      return chosenDrug;
    }
  }
  throw new Error('no separate-payment drug is payable today in the demo region (is the sandbox clock set? see scripts/browser-test.sh)');
}

/** Reviews, dispenses (two new pack codes) and settles `hi_rxno` through the API, as a pharmacy system would. */
export async function settledWorld() {
  const world = await prescribedWorld();
  const pharmacist = await demoToken('pharmacist');
  const rx = await ok(`/api/prescriptions/${world.hi_rxno}`, { token: pharmacist });
  const line = rx.prescription.lines[0];
  await ok(`/api/prescriptions/${world.hi_rxno}/review`, { method: 'POST', json: { approved: true }, token: pharmacist });
  await ok(`/api/prescriptions/${world.hi_rxno}/dispense`, {
    method: 'POST',
    json: { dispensing_no: `API-${unique()}`, lines: [{ med_list_codg: line.med_list_codg, batch: 'B1', drug_cnt: line.drug_cnt, drug_trac_codg: packCodes(2) }] },
    token: pharmacist,
  });
  const settlement = await ok('/api/settlements', {
    method: 'POST',
    json: { setl_no: `API-${unique()}`, hi_rxno: world.hi_rxno, lines: [{ med_list_codg: line.med_list_codg, unit_price: line.drug_pric }], acct_balance: '10.00' },
    token: pharmacist,
  });
  return { ...world, settlement };
}
