import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where the Chinook scripts live: CHINOOK_DIR, or the workspace's shared data folder. */
export function chinookScript(name: 'Chinook_MySql.sql' | 'Chinook_PostgreSql.sql' | 'Chinook_SqlServer.sql'): string {
  const dirs = [process.env.CHINOOK_DIR, '/work/shared/data/chinook', join(__dirname, '../../../../shared/data/chinook')];
  for (const dir of dirs) {
    if (dir && existsSync(join(dir, name))) return readFileSync(join(dir, name), 'utf8');
  }
  throw new Error(`Chinook script ${name} not found: set CHINOOK_DIR to the folder holding it (tried ${dirs.filter(Boolean).join(', ')})`);
}
