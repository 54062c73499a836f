// The agency side: an admin imports a national edition by uploading its file, an agency
// publishes a version of the region's separate-payment list, and the agency's charts render
// (ECharts loaded on that page only).
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, signInAs, ok, settledWorld, closePages } from './harness.mjs';

let browser;
before(async () => {
  browser = await launch();
});
afterEach((t) => closePages(t));
after(async () => browser?.close());

/** A small edition in the flat CSV layout (a file of its own each run: an edition is named by its content). */
function editionCsv() {
  return [
    'sheet,class_code,class_name,ab,no,name,dosage_form,payment_standard,remark,validity',
    '西药部分,XA01,口腔科制剂,甲,1,复方硼砂,外用液体剂,,,',
    '西药部分,XA01,口腔科制剂,乙,2,糠甾醇,口服常释剂型,,,',
    `协议西药,XL01,抗肿瘤药,乙,1,测试网页导入单抗${Date.now()},注射剂,1000.00元(100mg/瓶),限晚期患者。,2027年1月1日至2030年12月31日`,
  ].join('\n');
}

test('an admin imports a catalogue edition by upload', async () => {
  const { page, check, shot } = await openPage(browser);
  await signInAs(page, 'admin');
  await page.getByRole('heading', { level: 1, name: '政策与目录' }).waitFor();
  const before = (await ok('/api/catalogue/editions')).editions.length;
  await page.getByLabel('目录文件（官方 xlsx、CSV 或 JSON）').setInputFiles({ name: 'edition-2027.csv', mimeType: 'text/csv', buffer: Buffer.from(editionCsv()) });
  // a date of its own: one edition per effective date (C1), and a rerun against the same store
  const from = new Date(Date.UTC(2027, 0, 1 + (Math.floor(Date.now() / 1000) % 3000))).toISOString().slice(0, 10);
  await page.getByLabel('执行日期').first().fill(from);
  await page.getByLabel('版本名称').fill(`网页导入 ${Date.now()}`);
  await page.getByRole('button', { name: '上传并导入' }).click();
  const done = page.getByRole('status').filter({ hasText: '已导入' });
  await done.waitFor();
  assert.match(await done.innerText(), new RegExp(`3 条，自 ${from} 起执行`));
  await page.locator('table.editions tbody tr').nth(before).waitFor();
  await shot('agency-import');
  await check();
});

test('an agency publishes a version of its separate-payment list', async () => {
  const { page, check, shot } = await openPage(browser);
  await signInAs(page, 'agency');
  await page.getByRole('heading', { level: 1, name: '政策与目录' }).waitFor();
  // the policies in force are shown
  await page.getByRole('heading', { name: '结算政策' }).waitFor();
  assert.match(await page.locator('main').innerText(), /统筹基金年度限额/);
  await page.getByLabel('清单', { exact: true }).selectOption('separate_payment');
  await page.getByText(/现行版本：自/).waitFor();
  const entries = page.getByLabel('条目', { exact: true });
  const codes = (await entries.inputValue()).split('\n').filter(Boolean);
  assert.ok(codes.length > 1, 'the list in force is loaded for editing');
  // the next version drops the last drug, from a later date
  const status = await ok('/api/catalogue/status');
  const next = new Date(`${status.business_date}T00:00:00Z`);
  next.setUTCDate(next.getUTCDate() + 7 + (Date.now() % 50));
  await entries.fill(codes.slice(0, -1).join('\n'));
  await page.locator('form:has(#entries)').getByLabel('执行日期').fill(next.toISOString().slice(0, 10));
  await page.getByRole('button', { name: '发布新版本' }).click();
  const done = page.getByRole('status').filter({ hasText: '已发布' });
  await done.waitFor();
  assert.match(await done.innerText(), new RegExp(`单独支付清单：自 ${next.toISOString().slice(0, 10)} 起执行，${codes.length - 1} 个条目`));
  await shot('agency-publish');
  await check();
});

test('the agency charts of use and payment render', async () => {
  // a settlement this month, so the charts have a drug to show
  const settled = await settledWorld();
  const { page, check, shot } = await openPage(browser);
  await signInAs(page, 'agency');
  await page.getByRole('link', { name: '用药与支付统计' }).first().click();
  await page.getByRole('heading', { level: 1, name: '用药与支付统计' }).waitFor();
  await page.locator('.chart canvas').first().waitFor();
  await page.locator('table.list td', { hasText: settled.drug.name }).first().waitFor();
  assert.equal(await page.locator('.chart canvas').count(), 2, 'a chart by month and one by drug');
  await shot('agency-charts');
  await check();
});
