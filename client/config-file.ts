import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { ConfigError, parseConfigFile } from '../lib/config';

export function loadConfigFile(path: string, env = process.env) {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`Cannot read config file ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    // The YAML parser (~40 ms to load) only for a YAML file.
    raw = extname(path) === '.json' ? JSON.parse(text) : (require('yaml') as typeof import('yaml')).parse(text);
  } catch (err) {
    throw new ConfigError(`Config file ${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  return parseConfigFile(raw, env, `config file ${path}`);
}
