// Runs the whole vitest suite and ends with one plain line,
// "tests: N passed, N failed, N skipped". Under CI=true a skipped test is a
// failure: CI must run everything.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'weft-tests-'));
const out = join(dir, 'results.json');
const args = ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...process.argv.slice(2)];
const r = spawnSync('npx', args, { stdio: 'inherit' });
let passed = 0, failed = 0, skipped = 0;
try {
  const res = JSON.parse(readFileSync(out, 'utf8'));
  passed = res.numPassedTests;
  failed = res.numFailedTests;
  skipped = res.numPendingTests + res.numTodoTests;
  // A file that failed to load has no tests but still failed.
  failed += res.testResults.filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length;
  slowest(res.testResults);
} catch {
  failed = Math.max(failed, 1);
}
rmSync(dir, { recursive: true, force: true });

/** The files that took longest, so a CI log shows where the suite's time goes. */
function slowest(files) {
  const rows = files.map((f) => [(f.endTime - f.startTime) / 1000, f.name.replace(/^.*?\btest\//, 'test/')]).sort((a, b) => b[0] - a[0]);
  if (rows.length < 2) return;
  console.log('slowest test files (s):');
  for (const [s, name] of rows.slice(0, 10)) console.log(`  ${s.toFixed(1).padStart(6)}  ${name}`);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
let code = r.status ?? 1;
if (process.env.CI === 'true' && skipped > 0) {
  console.log('CI=true: skipped tests count as failures');
  code = code || 1;
}
if (passed === 0) code = code || 1;
process.exit(code);
