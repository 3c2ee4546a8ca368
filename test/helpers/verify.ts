import type { VerifyInput, VerifyResult } from '../../workflows/verify';
import { runWorkflow } from './run';

/** Runs verifyWorkflow as runWorkflow does; a failed workflow throws its own error. */
export async function runTestVerify(connections: Record<string, string>, input: VerifyInput): Promise<VerifyResult> {
  const { outcome } = await runWorkflow<VerifyResult>(connections, 'verifyWorkflow', input, 'verify');
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}
