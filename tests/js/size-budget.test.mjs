// What each vexil bundle ships (size.mjs), against its budget (size-budgets.json): sizes are
// deterministic, so growing past a budget is a regression, not noise. After a saving (or a
// deliberate growth, said in its commit), `VEXIL_BLESS=1 node --test size-budget.test.mjs`
// sets every budget to the size measured plus 1%.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { VEXIL, measure } from './size.mjs';

const file = new URL('./size-budgets.json', import.meta.url);
const budgets = JSON.parse(readFileSync(file, 'utf8'));
const bless = process.env.VEXIL_BLESS === '1';
const withMargin = (bytes) => Math.ceil(bytes * 1.01);

for (const bundle of VEXIL) {
  test(`${bundle.name}: within its size budget`, async () => {
    const { js, total } = await measure(bundle);
    if (bless) {
      budgets[bundle.name] = { js_gzip: withMargin(js.gzip), total_gzip: withMargin(total.gzip) };
      return;
    }
    const budget = budgets[bundle.name];
    assert.ok(budget, `size-budgets.json has no budget for ${bundle.name}`);
    // What to do about it, for a growth that is meant.
    const howTo = '(if the growth is deliberate: VEXIL_BLESS=1 node --test size-budget.test.mjs in tests/js, and say why in the commit)';
    assert.ok(js.gzip <= budget.js_gzip, `${bundle.name}: JS is ${js.gzip} bytes gzip, over its budget of ${budget.js_gzip} in size-budgets.json ${howTo}`);
    assert.ok(total.gzip <= budget.total_gzip, `${bundle.name}: JS + wasm is ${total.gzip} bytes gzip, over its budget of ${budget.total_gzip} in size-budgets.json ${howTo}`);
  });
}

if (bless) {
  test.after(() => {
    const lines = Object.entries(budgets).map(([name, b]) => `  ${JSON.stringify(name)}: ${name === '//' ? JSON.stringify(b) : `{ "js_gzip": ${b.js_gzip}, "total_gzip": ${b.total_gzip} }`}`);
    writeFileSync(file, `{\n${lines.join(',\n')}\n}\n`);
  });
}
