/**
 * An error no retry can fix, with its type name (PascalCase) for Temporal's
 * non-retryable error types. Pure, so lib/ can throw it without the SDK.
 */
export class TablesyncError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = type;
  }
}
