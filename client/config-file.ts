import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { ConfigError, configFileSchema, parseConfigFile } from '../lib/config';

/** A YAML parse error as one line: where (line, column), why, and the line itself; not the parser's caret drawing. */
export function yamlErrorText(err: unknown, text: string): string {
  const e = err as { message?: string; linePos?: { line: number; col: number }[] };
  const reason = (e.message ?? String(err)).split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  const at = e.linePos?.[0];
  if (!at) return reason;
  const line = text.split(/\r?\n/)[at.line - 1];
  return `line ${at.line}, column ${at.col}: ${reason}${line !== undefined ? ` (line ${at.line} is ${JSON.stringify(line)})` : ''}`;
}

function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read config file ${path}: ${(err as Error).message}`);
  }
  const json = extname(path) === '.json';
  try {
    // The YAML parser (~40 ms to load) only for a YAML file.
    return json ? JSON.parse(text) : (require('yaml') as typeof import('yaml')).parse(text);
  } catch (err) {
    throw new ConfigError(`Config file ${path} is not valid ${json ? 'JSON' : 'YAML'}: ${json ? (err as Error).message : yamlErrorText(err, text)}`);
  }
}

export function loadConfigFile(path: string, env = process.env) {
  return parseConfigFile(readConfigFile(path), env, `config file ${path}`);
}

/** What a worker reads from a file: its connections (and task queue). Only those keys is enough. */
const workerFileSchema = configFileSchema.pick({ connections: true, taskQueue: true }).strict();

/**
 * A worker's --config: a whole sync config (checked as one, so a file shared
 * with `run` is still checked whole), or a file with only `connections:`
 * (and `taskQueue:`), the only parts a worker uses.
 */
export function loadWorkerConfigFile(path: string, env = process.env): { connections?: Record<string, { url: string }>; taskQueue?: string } {
  const raw = readConfigFile(path);
  const keys = raw && typeof raw === 'object' && !Array.isArray(raw) ? Object.keys(raw) : null;
  if (!keys || keys.some((k) => k !== 'connections' && k !== 'taskQueue')) return parseConfigFile(raw, env, `config file ${path}`);
  const result = workerFileSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(`Invalid config file ${path}: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  return result.data;
}
