import { log, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { SyncConfig } from '../lib/config';
import { rootMessage } from '../lib/failures';
import { NOTIFY_ATTEMPT_TIMEOUT_MS, notifyRetry, notifyTargets, targetLabel, wantsCall, type NotifyPayload } from '../lib/notify';
import type { SyncSummary } from '../lib/types';

/**
 * Calls the config's webhooks (notify:) for a run that ended with `summary`,
 * or failed with `error`: each its own activity, all at once, each retried a
 * few times (lib/notify.ts). A webhook that cannot be told never fails the
 * run: it is logged and returned as a warning. Runs started before webhooks
 * (no marker in their history) call none.
 */
export async function notifyRunEnd(
  config: unknown,
  retry: Partial<SyncConfig['retry']> | undefined,
  end: { summary: SyncSummary } | { error: unknown },
): Promise<string[]> {
  const summary = 'summary' in end ? end.summary : null;
  const failed = !summary || summary.tablesFailed > 0;
  const targets = notifyTargets(config)
    .map((target, index) => ({ target, index }))
    .filter(({ target }) => wantsCall(target, failed));
  if (!targets.length || !patched('notify-webhook')) return [];
  const info = workflowInfo();
  const payload: NotifyPayload = {
    workflowId: info.workflowId,
    runId: info.runId,
    status: failed ? 'failed' : 'completed',
    summary,
    ...('error' in end && { error: rootMessage(end.error) }),
  };
  const warnings = await Promise.all(
    targets.map(async ({ target, index }) => {
      const { notifyWebhook } = proxyActivities<Activities>({
        startToCloseTimeout: NOTIFY_ATTEMPT_TIMEOUT_MS,
        retry: notifyRetry(retry),
        summary: `notify ${targetLabel(target, index)}: run ${payload.status}`,
      });
      try {
        await notifyWebhook({ target, index, payload });
        return null;
      } catch (err) {
        const warning = `${targetLabel(target, index)} was not notified: ${rootMessage(err)}`;
        log.warn(warning);
        return warning;
      }
    }),
  );
  return warnings.filter((w): w is string => w !== null);
}
