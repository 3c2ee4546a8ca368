import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { notifyTargetSchema } from '../lib/config';
import { NOTIFY_ATTEMPT_TIMEOUT_MS, type NotifyPayload } from '../lib/notify';
import { nonRetryable } from './errors';

// Notification: one webhook call with the run's summary. The URL is read here,
// on the worker, from the environment variable the config names: it never
// travels in workflow input or history, and no message here ever holds it
// (a webhook URL usually carries its token).

export interface NotifyWebhookInput {
  /** The config's notify entry (validated here, as any workflow input). */
  target: unknown;
  /** Its place in notify:, for messages (notify[1].urlEnv). */
  index: number;
  payload: NotifyPayload;
}

export interface NotifyWebhookResult {
  status: number;
}

export function createNotifyActivities(env: Record<string, string | undefined>, identity: string) {
  return {
    async notifyWebhook({ target, index, payload }: NotifyWebhookInput): Promise<NotifyWebhookResult> {
      const parsed = notifyTargetSchema.safeParse(target);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw nonRetryable('InvalidConfig', `notify[${index}]${issue.path.length ? `.${issue.path.join('.')}` : ''}: ${issue.message}`);
      }
      const name = parsed.data.urlEnv;
      const field = `notify[${index}].urlEnv`;
      const raw = env[name];
      if (!raw) {
        throw nonRetryable(
          'InvalidConfig',
          `${field}: environment variable ${name} is not set on worker ${identity}; set it there to the webhook's URL (the URL is never in the config)`,
        );
      }
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw nonRetryable('InvalidConfig', `${field}: ${name} on worker ${identity} does not hold a URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw nonRetryable('InvalidConfig', `${field}: ${name} on worker ${identity} does not hold an http:// or https:// URL`);
      }
      let response: Response;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'tablesync' },
          body: JSON.stringify(payload),
          // A retry starts its own attempt; a stuck receiver must not hold this one to the activity's timeout.
          signal: AbortSignal.any([AbortSignal.timeout(NOTIFY_ATTEMPT_TIMEOUT_MS - 2_000), Context.current().cancellationSignal]),
        });
      } catch (err) {
        // Only the failure's code (ECONNREFUSED, ENOTFOUND, TimeoutError): fetch's messages may quote the URL.
        const cause = (err as { cause?: { code?: string } }).cause;
        const why = cause?.code ?? (err as Error).name ?? 'error';
        throw ApplicationFailure.create({ type: 'WebhookUnreachable', message: `${field}: the webhook in ${name} could not be reached (${why})` });
      }
      // The receiver's body is not ours to log or keep.
      await response.body?.cancel().catch(() => undefined);
      if (response.ok) {
        log.info(`notify[${index}] (${name}): webhook answered ${response.status}`);
        return { status: response.status };
      }
      const message = `${field}: the webhook in ${name} answered HTTP ${response.status}`;
      // A server error, a timeout or rate limit may pass; any other refusal will not.
      const passing = response.status >= 500 || response.status === 408 || response.status === 429;
      throw ApplicationFailure.create({ type: passing ? 'WebhookFailed' : 'WebhookRefused', message, nonRetryable: !passing });
    },
  };
}
