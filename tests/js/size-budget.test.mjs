// What each vexil bundle ships (size.mjs), against its budget (size-budgets.json): sizes are
// deterministic, so growing past a budget is a regression, not noise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { VEXIL, measure } from './size.mjs';

const budgets = JSON.parse(readFileSync(new URL('./size-budgets.json', import.meta.url), 'utf8'));

for (const bundle of VEXIL) {
  test(`${bundle.name}: within its size budget`, async () => {
    const budget = budgets[bundle.name];
    assert.ok(budget, `size-budgets.json has no budget for ${bundle.name}`);
    const { js, total } = await measure(bundle);
    assert.ok(js.gzip <= budget.js_gzip, `JS: ${js.gzip} bytes gzip, budget ${budget.js_gzip}`);
    assert.ok(total.gzip <= budget.total_gzip, `JS + wasm: ${total.gzip} bytes gzip, budget ${budget.total_gzip}`);
  });
}
