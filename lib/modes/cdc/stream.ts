// Pure (workflows import it): the name of a cdc workflow's stream.

/**
 * The slot and publication name of a cdc workflow: PostgreSQL allows
 * lower-case letters, digits and _ (63 bytes) in slot names, so the workflow
 * id is folded to that and followed by a hash of it, so two ids that fold
 * alike still get two slots.
 */
export function cdcStreamName(workflowId: string): string {
  let h = 0x811c9dc5;
  for (const ch of workflowId) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  const folded = workflowId.toLowerCase().replace(/[^a-z0-9_]+/g, '_').slice(0, 40);
  return `tablesync_${folded}_${h.toString(16).padStart(8, '0')}`;
}
