#!/usr/bin/env node
// Workflow code must replay deterministically: no I/O, no clocks or randomness
// outside Temporal's, no database drivers. This check fails the build if any
// file under workflows/ reaches for them.
const { readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = join(__dirname, '..', 'workflows');
const forbiddenModules = /^(pg|pg-copy-streams|mysql2.*|mssql|tedious|p-limit|zod|yaml|fs|net|http|https|child_process|crypto|os|node:.*|@temporalio\/(activity|worker|client))$/;
const forbiddenCalls = [
  [/\bDate\.now\s*\(/, 'Date.now()'],
  [/\bnew Date\s*\(/, 'new Date()'],
  [/\bMath\.random\s*\(/, 'Math.random()'],
  [/\bsetTimeout\s*\(|\bsetInterval\s*\(/, 'timers (use sleep from @temporalio/workflow)'],
  [/\bprocess\.(env|argv|hrtime)/, 'process'],
  [/\brequire\s*\(/, 'require()'],
];
// Value imports are allowed only from Temporal's workflow API, the other
// workflow files and the pure helpers in lib/ listed here.
const allowedLocal = /^\.\/|^\.\.\/lib\/(concurrency|failures|limits|planner|summary|modes\/names|notify|modes\/plans|modes\/[a-z]+\/stream)$/;

let problems = 0;
for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
  const text = readFileSync(join(dir, file), 'utf8');
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const where = `workflows/${file}:${i + 1}`;
    const imp = /^\s*import\s+(type\s+)?.*?from\s+'([^']+)'/.exec(line) || /^\s*export\s+.*from\s+'([^']+)'/.exec(line);
    if (imp) {
      const typeOnly = Boolean(imp[1]) && imp.length === 3;
      const mod = imp[imp.length - 1];
      if (!typeOnly) {
        if (forbiddenModules.test(mod)) {
          console.error(`${where}: imports ${mod}`);
          problems++;
        } else if (mod.startsWith('.') && !allowedLocal.test(mod)) {
          console.error(`${where}: value import of ${mod} (only type imports from outside workflows/ and pure lib helpers)`);
          problems++;
        }
      }
    }
    for (const [re, what] of forbiddenCalls) {
      if (re.test(line.replace(/\/\/.*$/, ''))) {
        console.error(`${where}: uses ${what}`);
        problems++;
      }
    }
  });
}
if (problems) {
  console.error(`${problems} problem(s) in workflow code`);
  process.exit(1);
}
console.log('workflows/: deterministic imports and APIs only');
