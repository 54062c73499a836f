// A pharmacist at the fixed pharmacy scans a prescription, sees the filing check, reviews it,
// dispenses it with two pack codes typed by a barcode scanner, pre-settles and settles it; and
// sees a refusal (a pack code already used) with its rule and reason.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, signInAs, prescribedWorld, packCodes, closePages } from './harness.mjs';

let browser;
before(async () => {
  browser = await launch();
});
afterEach((t) => closePages(t));
after(async () => browser?.close());

/** Scans a code into the workstation's field as a scanner does: the digits, then Enter. */
async function scan(field, code) {
  await field.pressSequentially(code, { delay: 2 });
  await field.press('Enter');
}

async function openPrescription(page, hi_rxno) {
  const lookup = page.getByLabel('扫描或输入处方编号 / 人员编号');
  await lookup.waitFor();
  await scan(lookup, hi_rxno);
  await page.getByRole('heading', { level: 2, name: `处方 ${hi_rxno}` }).waitFor();
}

async function reviewAndDispense(page, codes) {
  await page.getByLabel('审方意见').fill('用法用量适宜');
  await page.getByRole('button', { name: '审核通过' }).click();
  await page.locator('[data-stage="approved"]').waitFor();
  await page.getByLabel('批号').fill('B2026001');
  const trace = page.getByLabel('药品追溯码');
  for (const code of codes) await scan(trace, code);
  assert.equal(await page.locator('ol.codes li').count(), codes.length);
  await page.getByRole('button', { name: '确认发药' }).click();
}

test('a pharmacist reviews, dispenses with two pack codes, pre-settles and settles', async () => {
  const world = await prescribedWorld();
  const { page, check, shot } = await openPage(browser);
  await signInAs(page, 'pharmacist');
  // the patient's insurance number finds their prescriptions here
  await scan(page.getByLabel('扫描或输入处方编号 / 人员编号'), world.psn_no);
  await page.getByRole('heading', { level: 2, name: `人员 ${world.psn_no} 的处方` }).waitFor();
  await page.locator('.found').getByRole('button', { name: world.hi_rxno }).click();
  await page.getByRole('heading', { level: 2, name: `处方 ${world.hi_rxno}` }).waitFor();
  await page.locator('td.check .ok').waitFor();
  assert.match(await page.locator('td.check').innerText(), /备案有效/);
  await shot('pharmacist-prescription');

  await reviewAndDispense(page, packCodes(2));
  await page.locator('[data-stage="dispensed"]').waitFor();

  await page.getByRole('button', { name: '试算' }).click();
  await page.getByRole('heading', { name: '试算结果（未结算）' }).waitFor();
  await page.getByRole('button', { name: '结算', exact: true }).click();
  const receipt = page.locator('#receipt');
  await receipt.locator('[data-stage="settled"]').waitFor();
  const text = await receipt.innerText();
  assert.match(text, /医保结算单/);
  assert.match(text, /统筹基金支付/);
  assert.match(text, new RegExp(world.hi_rxno));
  await page.getByRole('button', { name: '打印结算单' }).waitFor();
  await shot('pharmacist-settled');
  // printed, the receipt stands alone: no header, scan field or buttons
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('header.top').isVisible(), false);
  assert.equal(await page.getByRole('button', { name: '打印结算单' }).isVisible(), false);
  assert.equal(await receipt.isVisible(), true);
  await shot('pharmacist-receipt-print');
  await page.emulateMedia({ media: 'screen' });
  // and reversed, once (S8)
  await page.getByLabel('冲正原因').fill('价格录入错误');
  await page.getByRole('button', { name: '冲正' }).click();
  await receipt.locator('[data-stage="reversed"]').waitFor();
  await page.getByRole('button', { name: '重新结算' }).waitFor();
  await check();
});

test('a pharmacist sees a refusal with its rule and reason: a pack code already used', async () => {
  const first = await prescribedWorld();
  const second = await prescribedWorld();
  const codes = packCodes(3);
  const { page, check, expect, shot } = await openPage(browser);
  await signInAs(page, 'pharmacist');
  await openPrescription(page, first.hi_rxno);
  await reviewAndDispense(page, codes.slice(0, 2));
  await page.locator('[data-stage="dispensed"]').waitFor();

  // the second prescription, with one of the packs already handed out on the first
  expect(`/api/prescriptions/${second.hi_rxno}/dispense`, 409);
  await openPrescription(page, second.hi_rxno);
  await reviewAndDispense(page, [codes[1], codes[2]]);
  const problem = page.getByRole('alert').filter({ hasText: 'PACK_ALREADY_USED' });
  await problem.waitFor();
  const said = await problem.innerText();
  assert.match(said, /规则 P7/, said);
  assert.match(said, /追溯码 \d{20} 已在处方 RX/, said);
  await shot('pharmacist-refusal');
  await check();
});

test('a pharmacist rejects a prescription, and is told an opinion is needed first', async () => {
  const world = await prescribedWorld();
  const { page, check, expect, shot } = await openPage(browser);
  await signInAs(page, 'pharmacist');
  await openPrescription(page, world.hi_rxno);
  expect(`/api/prescriptions/${world.hi_rxno}/review`, 422);
  await page.getByRole('button', { name: '审核不通过' }).click();
  await page.getByRole('alert').filter({ hasText: 'INVALID_BODY' }).waitFor();
  await page.getByLabel('审方意见').fill('剂量超出说明书推荐，请医师确认');
  await page.getByRole('button', { name: '审核不通过' }).click();
  await page.locator('[data-stage="rejected"]').waitFor();
  assert.match(await page.locator('.workspace').innerText(), /剂量超出说明书推荐/);
  await shot('pharmacist-rejected');
  await check();
});
