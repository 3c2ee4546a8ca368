import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parse } from 'yaml';
import { parseConfigFile } from '../../lib/config';

// The README is what a newcomer reads in five minutes; the reference is in docs/.
// These checks keep both in shape: a short README that starts with the two
// commands, links that reach their file and heading, examples that still hold.

const ROOT = resolve(__dirname, '../../..');
const README = join(ROOT, 'README.md');
const DOCS = join(ROOT, 'docs');
const MAX_README_LINES = 250;

const read = (file: string) => readFileSync(file, 'utf8');
const pages = (): string[] => [README, ...readdirSync(DOCS).filter((f) => f.endsWith('.md')).map((f) => join(DOCS, f))];

/** The lines outside fenced code blocks, with inline code spans blanked out (links there are examples, not links). */
function prose(markdown: string): string[] {
  let fenced = false;
  return markdown.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return '';
    }
    return fenced ? '' : line.replace(/`+[^`]*`+/g, (span) => ' '.repeat(span.length));
  });
}

/** The fenced code blocks, in order, with their info string. */
function codeBlocks(markdown: string): { info: string; text: string }[] {
  const blocks: { info: string; text: string }[] = [];
  const re = /^```([^\n]*)\n([\s\S]*?)^```/gm;
  for (let m = re.exec(markdown); m; m = re.exec(markdown)) blocks.push({ info: m[1].trim(), text: m[2] });
  return blocks;
}

/**
 * GitHub's anchor of a heading: its text without markdown (code ticks, links,
 * emphasis), lower-cased, every character that is not a letter, digit, space,
 * '-' or '_' removed, spaces as '-'; a repeated anchor gets -1, -2, …
 */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/`/g, '')
    .replace(/(\*\*|__)(.*?)\1/g, '$2')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/ /g, '-');
}

function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of read(file).split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = githubSlug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Relative links and images of a page: [text](target) and ![alt](target), target without its title. */
function relativeLinks(file: string): { line: number; target: string }[] {
  const links: { line: number; target: string }[] = [];
  prose(read(file)).forEach((text, i) => {
    for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = m[1];
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      links.push({ line: i + 1, target });
    }
  });
  return links;
}

describe('README and docs/', () => {
  it(`keep the README to at most ${MAX_README_LINES} lines`, () => {
    const lines = read(README).replace(/\n$/, '').split('\n').length;
    assert.ok(lines <= MAX_README_LINES, `README.md has ${lines} lines; move reference text into docs/ (at most ${MAX_README_LINES})`);
  });

  it("hold the two commands in the README's first code block: the demo and the tests, as package.json and .ci/run define them", () => {
    const first = codeBlocks(read(README))[0];
    assert.ok(first, 'README.md has no code block');
    const commands = first.text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
    assert.deepEqual(commands, ['npm run demo', 'npm test'], "the README's first code block runs the demo, then the tests");
    const scripts = JSON.parse(read(join(ROOT, 'package.json'))).scripts as Record<string, string>;
    assert.ok(scripts.demo && scripts.test, 'package.json defines the demo and test scripts');
    assert.ok(existsSync(join(ROOT, scripts.demo.replace(/^bash\s+/, ''))), `npm run demo runs ${scripts.demo}, which exists`);
    // .ci/run says it runs "the README's test command": the same command, on a line of its own.
    const ci = read(join(ROOT, '.ci/run')).split('\n').map((l) => l.trim());
    assert.ok(ci.includes('npm test'), '.ci/run runs npm test');
  });

  it('link only to files that exist, and to headings those files have (GitHub anchors)', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const page of pages()) {
      for (const { line, target } of relativeLinks(page)) {
        checked++;
        const [path, anchor] = target.split('#', 2) as [string, string | undefined];
        const file = path ? resolve(dirname(page), decodeURIComponent(path)) : page;
        const where = `${relative(ROOT, page)}:${line} → ${target}`;
        if (!existsSync(file)) {
          broken.push(`${where}: no file ${relative(ROOT, file)}`);
          continue;
        }
        if (anchor === undefined) continue;
        if (statSync(file).isDirectory() || !file.endsWith('.md')) {
          broken.push(`${where}: an anchor into a file that is not markdown`);
          continue;
        }
        if (!anchors(file).has(anchor)) broken.push(`${where}: ${relative(ROOT, file)} has no heading #${anchor}`);
      }
    }
    assert.ok(checked > 20, `only ${checked} relative links found: is the link pattern still right?`);
    assert.deepEqual(broken, []);
  });

  it('link every docs/ page from the README', () => {
    const linked = new Set(relativeLinks(README).map((l) => resolve(ROOT, l.target.split('#')[0])));
    const unlinked = readdirSync(DOCS)
      .filter((f) => f.endsWith('.md'))
      .filter((f) => !linked.has(join(DOCS, f)));
    assert.deepEqual(unlinked, [], 'docs pages the README does not link');
  });

  it("slug headings as GitHub does", () => {
    assert.equal(githubSlug('Starting from your database: `tablesync init`'), 'starting-from-your-database-tablesync-init');
    assert.equal(githubSlug('`_migration_state`'), '_migration_state');
    assert.equal(githubSlug('Table state: reset-state, set-mode, status'), 'table-state-reset-state-set-mode-status');
    assert.equal(githubSlug('Rows behind a difference; cursor and change-log tables'), 'rows-behind-a-difference-cursor-and-change-log-tables');
    assert.equal(githubSlug('Deletes: hard and soft'), 'deletes-hard-and-soft');
  });

  it("keep configuration.md's full example a valid config", () => {
    const yaml = codeBlocks(read(join(DOCS, 'configuration.md'))).find((b) => b.info === 'yaml');
    assert.ok(yaml, 'configuration.md has a yaml example');
    const config = parseConfigFile(parse(yaml.text), {}, 'configuration.md example');
    assert.ok(config.tables.length > 1 && config.connections, 'the example shows tables and connections');
  });

  it('name only commands the CLI has, in the npx tablesync lines of their code blocks', function () {
    this.timeout(20_000);
    const cli = join(ROOT, 'dist/client/cli.js');
    const help = (...args: string[]) => execFileSync(process.execPath, [cli, ...args, '--help'], { encoding: 'utf8' });
    const commandsOf = (text: string) => new Set([...text.matchAll(/^ {2}([a-z-]+)\b/gm)].map((m) => m[1]));
    const top = commandsOf(help());
    const sub: Record<string, Set<string>> = { cdc: commandsOf(help('cdc')), schedule: commandsOf(help('schedule')) };
    const unknown: string[] = [];
    for (const page of pages()) {
      for (const block of codeBlocks(read(page))) {
        for (const m of block.text.matchAll(/npx tablesync ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?/g)) {
          const [, command, subcommand] = m;
          if (!top.has(command)) unknown.push(`${relative(ROOT, page)}: tablesync ${command}`);
          else if (sub[command] && !sub[command].has(subcommand ?? '')) unknown.push(`${relative(ROOT, page)}: tablesync ${command} ${subcommand}`);
        }
      }
    }
    assert.ok(top.has('run') && sub.cdc.has('start'), 'the help lists commands as expected');
    assert.deepEqual(unknown, []);
  });
});
