/** The innermost message of an error's cause chain: what actually went wrong, not "Activity task failed". */
export function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  let message = e?.message ?? String(err);
  while (e?.cause) {
    e = e.cause as typeof e;
    if (e?.message) message = e.message;
  }
  return message;
}

// Errors no retry can fix; activities also mark their own failures non-retryable.
export const NON_RETRYABLE = [
  'InvalidConfig',
  'UnknownConnection',
  'UnknownTable',
  'UnknownColumn',
  'UnknownSchema',
  'UnknownDatabase',
  'MissingPrimaryKey',
  'PermissionDenied',
  'AuthenticationFailed',
  'UnsupportedType',
  'UnsupportedValue',
  'UnsupportedSource',
  'InvalidInput',
  'ConnectionRole',
];
