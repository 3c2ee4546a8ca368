import assert from 'node:assert/strict';
import { defaultWorkflowId } from '../../client/start';

describe('default workflow ids', () => {
  it('differ for two runs started in the same millisecond, and begin with the time', () => {
    const now = new Date('2026-12-07T16:41:10.169Z');
    const [a, b] = [defaultWorkflowId(now), defaultWorkflowId(now)];
    assert.notEqual(a, b);
    for (const id of [a, b]) assert.match(id, /^tablesync-2026-12-07T16-41-10-169Z-[0-9a-f]{6}$/);
  });
});
