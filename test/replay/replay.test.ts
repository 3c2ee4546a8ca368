import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../helpers/temporal';

// Saved histories of real runs (npm run record-histories). Replaying them
// against today's workflow code fails if a change would break workflows that
// are already running: a non-deterministic change must fail CI.
const dir = join(__dirname, '..', '..', '..', 'test', 'replay', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('replay of saved workflow histories', () => {
  it('has histories to replay', () => {
    assert.ok(files.length >= 5, `expected saved histories in ${dir}`);
  });

  for (const file of files) {
    it(`replays ${file} deterministically`, async () => {
      // history is the JSON the CLI and Web UI export; the worker converts it itself.
      const { workflowId, history } = JSON.parse(readFileSync(join(dir, file), 'utf8'));
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: file }, history, workflowId);
    });
  }
});
