// A patient (mobile, 360 px) finds a drug by its pinyin initials, reads whether it is payable
// here, and shows the voucher of a prescription (a QR code of hi_rxno). Also: the first load
// of the patient pages stays under 300 KB transferred, and Chinese headings are drawn with a
// real CJK font, not blank boxes.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { launch, openPage, signInAs, demoToken, prescribedWorld, settledWorld, BASE, SHOTS, closePages } from './harness.mjs';

let browser;
let world;
before(async () => {
  browser = await launch();
  world = await prescribedWorld();
});
afterEach((t) => closePages(t));
after(async () => browser?.close());

test('a patient finds a drug by its pinyin initials and reads its coverage', async () => {
  const { page, check, shot } = await openPage(browser, { width: 360, height: 740, mobile: true });
  await signInAs(page, 'patient');
  assert.equal(new URL(page.url()).pathname, '/app/patient');
  // 艾普拉唑 by its initials, as a patient types them on a phone (the README's example too)
  await page.getByLabel('药品名称或拼音首字母').fill('aplz');
  await page.keyboard.press('Enter');
  // both entries come back: the regular tablet and the negotiated injection
  const tablet = page.locator('a.card.drug').filter({ has: page.locator('strong', { hasText: /^艾普拉唑$/ }) });
  const injection = page.locator('a.card.drug', { hasText: '注射用艾普拉唑钠' });
  await injection.waitFor();
  await shot('patient-search');
  await tablet.click();
  await page.getByRole('heading', { level: 1, name: '艾普拉唑' }).waitFor();
  assert.match(await page.locator('.verdict.yes').innerText(), /可以报销/);
  assert.match(await page.locator('main').innerText(), /不在本地区的双通道、单独支付或门诊保障目录中/);
  // the injection is on the dual-channel list, but its agreement ended on 2025-12-31 (C3)
  await page.getByRole('button', { name: '← 返回' }).click();
  await injection.click();
  await page.getByRole('heading', { level: 1, name: '注射用艾普拉唑钠' }).waitFor();
  const verdict = await page.locator('.verdict.no').innerText();
  assert.match(verdict, /目前不能报销/);
  assert.match(verdict, /医保协议期为 2024-01-01 至 2025-12-31/);
  assert.match(await page.locator('.tags').innerText(), /双通道/);
  // readable at 360 px: nothing wider than the screen
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the 360 px screen`);
  await shot('patient-drug');
  await check();
});

test('the patient pages work from the keyboard alone', async () => {
  const { page, check } = await openPage(browser, { width: 360, height: 740, mobile: false });
  await page.goto(`${BASE}/app/login`);
  await page.getByRole('heading', { level: 1, name: '登录' }).waitFor();
  const focused = () => page.evaluate(() => document.activeElement?.dataset?.role || document.activeElement?.getAttribute('name') || document.activeElement?.textContent?.trim().slice(0, 20));
  for (let i = 0; i < 12 && (await focused()) !== 'patient'; i++) await page.keyboard.press('Tab');
  assert.equal(await focused(), 'patient', 'Tab reaches the demo patient choice');
  await page.keyboard.press('Enter');
  await page.waitForURL('**/app/patient');
  // the page module loads after the URL changes: tabbing before it is mounted walks past it
  await page.locator('input[name="q"]').waitFor();
  for (let i = 0; i < 12 && (await focused()) !== 'q'; i++) await page.keyboard.press('Tab');
  assert.equal(await focused(), 'q', 'Tab reaches the search field');
  await page.keyboard.type('aplz');
  await page.keyboard.press('Enter');
  await page.locator('a.card.drug').first().waitFor();
  for (let i = 0; i < 6 && !/艾普拉唑/.test(await focused()); i++) await page.keyboard.press('Tab');
  assert.match(await focused(), /艾普拉唑/, 'Tab reaches the first result');
  await page.keyboard.press('Enter');
  await page.locator('.verdict').waitFor();
  await check();
});

test('a patient reads the voucher of a prescription, with the QR code of hi_rxno', async () => {
  const { page, check, shot } = await openPage(browser, { width: 360, height: 740, mobile: true });
  await signInAs(page, 'patient');
  await page.getByRole('link', { name: '我的处方' }).click();
  await page.locator(`a.card.rx[href$="${world.hi_rxno}"]`).click();
  await page.getByRole('heading', { level: 1, name: '处方凭证' }).waitFor();
  const qr = page.getByRole('img', { name: `二维码：${world.hi_rxno}` });
  await qr.waitFor();
  const size = await qr.evaluate((img) => [img.naturalWidth, img.complete]);
  assert.deepEqual(size, [240, true]);
  assert.equal(await page.locator('.qr-text').innerText(), world.hi_rxno);
  assert.match(await page.locator('main').innerText(), /有效/);
  await shot('patient-voucher');
  await check();
});

test('a patient reads their filing and a settlement explained step by step', async () => {
  const settled = await settledWorld();
  const { page, check, shot } = await openPage(browser, { width: 360, height: 740, mobile: true });
  await signInAs(page, 'patient');
  await page.getByRole('link', { name: '我的备案' }).click();
  await page.getByRole('heading', { level: 1, name: '我的备案' }).waitFor();
  const filing = page.locator('li.card', { hasText: settled.drug.name }).first();
  await filing.waitFor();
  const said = await filing.innerText();
  assert.match(said, /可用/);
  assert.match(said, /复评截止日期/);
  await page.getByRole('link', { name: '我的结算' }).click();
  const card = page.locator('li.card', { hasText: settled.settlement.setl_id });
  await card.waitFor();
  const text = await card.innerText();
  assert.match(text, new RegExp(`本次药品费用共 ¥${settled.settlement.medfee_sumamt.replace('.', '\\.')}`));
  assert.match(text, new RegExp(`基本医保统筹基金支付 ¥${settled.settlement.hifp_pay.replace('.', '\\.')}`));
  await card.getByText(/计算步骤/).click();
  assert.ok((await card.locator('.steps li').count()) >= 3, 'the rule steps are listed');
  await shot('patient-settlement');
  await check();
});

test('the first load of the patient pages is under 300 KB transferred', async () => {
  const { page, check } = await openPage(browser, { width: 360, height: 740, mobile: true });
  await signInAs(page, 'patient');
  // a cold load of the patient's search page, as a returning patient opens it
  const cold = await browser.newContext({ viewport: { width: 360, height: 740 } });
  const fresh = await cold.newPage();
  const token = await page.evaluate(() => sessionStorage.getItem('nrdl.session'));
  await fresh.addInitScript((value) => sessionStorage.setItem('nrdl.session', value), token);
  let bytes = 0;
  const sizes = [];
  fresh.on('requestfinished', async (request) => {
    const s = await request.sizes();
    bytes += s.responseBodySize + s.responseHeadersSize;
    sizes.push(`${request.url()} ${s.responseBodySize}`);
  });
  await fresh.goto(`${BASE}/app/patient?q=aptn`, { waitUntil: 'networkidle' });
  await fresh.locator('h1').waitFor();
  const scripts = await fresh.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/assets/')));
  assert.ok(!scripts.some((n) => n.includes('charts')), `the patient page loaded the charts: ${scripts}`);
  console.log(`first load of the patient search page: ${bytes} bytes transferred`);
  assert.ok(bytes < 300 * 1024, `first load transferred ${bytes} bytes:\n${sizes.join('\n')}`);
  await fresh.screenshot({ path: path.join(SHOTS, 'patient-first-load.png') });
  await cold.close();
  await check();
});

test('Chinese headings are drawn with a CJK font, not blank boxes', async () => {
  const { page, check, shot } = await openPage(browser);
  await page.goto(`${BASE}/app/login`);
  const heading = page.getByRole('heading', { level: 1 });
  await heading.waitFor();
  const text = await heading.innerText();
  assert.match(text, /\p{Script=Han}/u);
  // Draw each character of the heading in the heading's font, and the same number of
  // unassigned code points (which every font draws as the same "tofu" box). Real glyphs differ
  // from each other and from the box; a missing CJK font draws every character as the box.
  const verdict = await heading.evaluate((h1, chars) => {
    const style = getComputedStyle(h1);
    const canvas = document.createElement('canvas');
    canvas.width = 64;
    canvas.height = 64;
    const g = canvas.getContext('2d', { willReadFrequently: true });
    g.font = `${style.fontWeight} 40px ${style.fontFamily}`;
    const draw = (ch) => {
      g.clearRect(0, 0, 64, 64);
      g.fillStyle = '#000';
      g.textBaseline = 'top';
      g.fillText(ch, 8, 8);
      const data = g.getImageData(0, 0, 64, 64).data;
      let ink = 0;
      let hash = 0;
      for (let i = 3; i < data.length; i += 4) {
        ink += data[i] > 0 ? 1 : 0;
        hash = (hash * 31 + data[i]) | 0;
      }
      return { ink, hash };
    };
    const tofu = draw('\u0378');
    const glyphs = [...chars].map(draw);
    return {
      distinct: new Set(glyphs.map((x) => x.hash)).size,
      count: glyphs.length,
      likeTofu: glyphs.filter((x) => x.hash === tofu.hash).length,
      blank: glyphs.filter((x) => x.ink === 0).length,
      width: g.measureText(chars).width,
      tofuWidth: g.measureText('\u0378'.repeat(chars.length)).width,
    };
  }, text.replace(/\s/g, ''));
  assert.equal(verdict.likeTofu, 0, `characters drawn as tofu: ${JSON.stringify(verdict)}`);
  assert.equal(verdict.blank, 0, `characters drawn blank: ${JSON.stringify(verdict)}`);
  assert.equal(verdict.distinct, new Set(text.replace(/\s/g, '')).size, `different characters drawn alike: ${JSON.stringify(verdict)}`);
  await shot('login');
  await check();
});


test('a registered patient reads their outpatient registration with its 三定', async () => {
  // the demo registers 患者乙 for 托法替布 at H42010000001 (rule S4): signed in as them
  const token = await demoToken('patient', 'P4201000002');
  const { page, check, shot } = await openPage(browser, { width: 360, height: 740, mobile: true });
  // the tab's session as the login page keeps it, there before the app's scripts run
  await page.addInitScript((token) => {
    sessionStorage.setItem('nrdl.session', JSON.stringify({ token, who: { role: 'patient', psn_no: 'P4201000002' }, name: '患者乙' }));
  }, token);
  await page.goto(`${BASE}/app/patient/filings`);
  const card = page.locator('li.card', { hasText: '托法替布' });
  await card.waitFor();
  const text = await card.innerText();
  assert.match(text, /门诊用药保障登记（三定）/);
  assert.match(text, /H42010000001/);
  assert.match(text, /诊断医师[\s\S]*D420100000002/);
  assert.match(text, /登记医师[\s\S]*D420100000006/);
  assert.match(text, /可用/);
  await shot('patient-registration');
  await check();
});
