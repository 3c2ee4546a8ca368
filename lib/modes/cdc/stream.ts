// Pure (workflows import it): the name of a cdc workflow's stream.

function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (const ch of text) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

const fold = (workflowId: string) => workflowId.toLowerCase().replace(/[^a-z0-9_]+/g, '_');

/**
 * The slot and publication name of a cdc workflow: PostgreSQL allows
 * lower-case letters, digits and _ (63 bytes) in slot names, so the workflow
 * id is folded to that (without a leading "tablesync_", which the name
 * starts with anyway: the default id tablesync-cdc-shop gives
 * tablesync_cdc_shop_…) and followed by a hash of the whole id, so two ids
 * that fold alike still get two slots. At most 10 + 40 + 1 + 8 = 59 bytes.
 */
export function cdcStreamName(workflowId: string): string {
  const folded = fold(workflowId).replace(/^tablesync_+/, '').slice(0, 40);
  return `tablesync_${folded}_${fnv1a(workflowId)}`;
}

/**
 * The name streams started before the fix above were given (the prefix
 * twice: tablesync_tablesync_cdc_shop_…). A stream whose tables' state names
 * it keeps it: renaming a slot would lose its place in the log.
 */
export function legacyCdcStreamName(workflowId: string): string {
  return `tablesync_${fold(workflowId).slice(0, 40)}_${fnv1a(workflowId)}`;
}
