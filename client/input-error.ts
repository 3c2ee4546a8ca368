/** Bad input to a command that is not a config file's (an unknown workflow or schedule id): exit 2, like a config error. */
export class InputError extends Error {
  readonly exitCode = 2;
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = type;
  }
}

/** Remembers which workflow an error ended, for the failure line. */
export function inWorkflow(err: unknown, workflowId: string): unknown {
  if (err && typeof err === 'object' && !('workflowId' in err)) Object.assign(err, { workflowId });
  return err;
}
