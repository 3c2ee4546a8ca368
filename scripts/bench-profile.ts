// Summarises `node --cpu-prof` output: where the worker's main-thread CPU went,
// by package/file and by function. Usage: node dist/scripts/bench-profile.js FILE.cpuprofile…
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Package, project file or V8 pseudo-node a frame belongs to. */
function category(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const own = /\/dist\/(.+)$/.exec(url);
  return own ? own[1] : basename(url);
}

export interface ProfileSummary {
  file: string;
  wallMs: number;
  sampledMs: number;
  byCategory: [string, number][];
  byFunction: [string, number][];
}

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute it to that sample's node.
  p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const cats = new Map<string, number>();
  const fns = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
    const cat = category(url, functionName);
    const fn = `${functionName || '(anonymous)'} ${url ? `${category(url, functionName)}:${lineNumber + 1}` : ''}`.trim();
    cats.set(cat, (cats.get(cat) ?? 0) + us);
    fns.set(fn, (fns.get(fn) ?? 0) + us);
    total += us;
  }
  const sorted = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, v]) => [k, v / 1000] as [string, number]);
  return { file, wallMs: (p.endTime - p.startTime) / 1000, sampledMs: total / 1000, byCategory: sorted(cats), byFunction: sorted(fns) };
}

export function renderProfile(s: ProfileSummary): string {
  const busy = s.sampledMs - (s.byCategory.find(([k]) => k === '(idle)')?.[1] ?? 0);
  const line = ([k, ms]: [string, number]) => `    ${ms.toFixed(0).padStart(8)} ms  ${((100 * ms) / s.sampledMs).toFixed(1).padStart(5)}%  ${k}`;
  return [
    `${basename(s.file)}: ${(s.wallMs / 1000).toFixed(1)} s profiled, ${(busy / 1000).toFixed(1)} s not idle`,
    '  self time by package / file:',
    ...s.byCategory.map(line),
    '  self time by function:',
    ...s.byFunction.map(line),
  ].join('\n');
}

if (require.main === module) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.log('usage: node dist/scripts/bench-profile.js FILE.cpuprofile...');
    process.exit(2);
  }
  for (const f of files) console.log(renderProfile(summarizeProfile(f)));
}
