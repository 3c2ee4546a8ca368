import { log } from '@temporalio/activity';
import type { Pool } from 'pg';
import type { HeldSnapshot, SourceConnection } from '../lib/sources/base';
import { qualifyPg } from '../lib/target/sql';
import type { TableRef } from '../lib/types';

// The snapshots full loads read their block ranges under. An exported
// snapshot lives as long as the transaction that exported it, so a session
// has to stay open while the load's partitions run, wherever they run. It is
// kept here, in the worker process of the createLoadTable that opened it,
// outside any activity: an activity holding it would take one of the
// worker's activity slots for the whole load, and loads in parallel could take
// every slot and leave none for their own partitions.
//
// Its end: the swap (or the drop) of its load table releases it at once when
// it runs in this process; otherwise the holder sees, by polling the target,
// that the load table it was opened for is gone (swapped, dropped, or made
// again by a retried createLoadTable), or it reaches its time limit. When the
// process dies, the server ends the session and the snapshot with it: the
// partitions still to read fail with SourceSnapshotLost, and the load is given
// up (dropped, not swapped in) for the next run to start over.

const POLL_MS = 5_000;

interface Holder {
  snapshot: HeldSnapshot;
  timer: NodeJS.Timeout;
}

export class SnapshotHolders {
  private readonly held = new Map<string, Holder>();

  /**
   * Exports a snapshot of `source` for the load table `load` (whose oid the
   * target gives now) and keeps it until released, the load table is gone, or
   * maxMs passed. Returns the snapshot's name.
   */
  async open(key: string, source: SourceConnection, target: Pool, load: TableRef, maxMs: number): Promise<string> {
    await this.release(key);
    if (!source.holdSnapshot) throw new Error('this source cannot export snapshots');
    const loadOid = (await target.query('SELECT to_regclass($1)::oid AS oid', [qualifyPg(load)])).rows[0].oid;
    const snapshot = await source.holdSnapshot();
    const started = Date.now();
    const check = async () => {
      const holder = this.held.get(key);
      if (holder?.snapshot !== snapshot) return;
      let reason = snapshot.lost ? `its session ended (${snapshot.lost.message})` : Date.now() - started > maxMs ? 'held for its time limit' : '';
      if (!reason) {
        const now = await target.query('SELECT to_regclass($1)::oid AS oid', [qualifyPg(load)]).catch(() => null);
        if (now && now.rows[0].oid !== loadOid) reason = 'its load table is gone';
      }
      if (!reason) return;
      log.info(`source snapshot ${snapshot.name} for ${qualifyPg(load)} released: ${reason}`);
      await this.release(key);
    };
    const timer = setInterval(() => void check().catch(() => undefined), POLL_MS);
    // A holder never keeps a process alive on its own.
    timer.unref();
    this.held.set(key, { snapshot, timer });
    return snapshot.name;
  }

  async release(key: string): Promise<void> {
    const holder = this.held.get(key);
    if (!holder) return;
    this.held.delete(key);
    clearInterval(holder.timer);
    await holder.snapshot.release();
  }

  async releaseAll(): Promise<void> {
    await Promise.all([...this.held.keys()].map((k) => this.release(k)));
  }
}
