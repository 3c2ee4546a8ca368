import { Client, type ClientConfig, type Pool } from 'pg';
import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import { quotePg } from './sql';

// One slot's changes over the streaming replication protocol: a replication
// connection (START_REPLICATION ... LOGICAL, pgoutput) kept open by the
// worker from one batch to the next, so the server decodes the log once
// (a peek decoded it again from the slot's restart point every batch) and
// sends the next changes while a batch is applied. Only what the caller
// says is applied is reported as flushed to the server (confirmed_flush_lsn):
// a stream that breaks or is closed loses nothing, the next one starts again
// from the slot's confirmed position.

/** Messages held unread before the socket is paused (the server then waits), at least: the reader sets about one batch. */
export const MIN_READ_AHEAD = 1_000;
/** Status updates at least this often, also while paused: the server ends a silent stream after wal_sender_timeout (1 min by default). */
const STATUS_MS = 10_000;
/** Asks for the server's position (a keepalive reply) at most this often. */
const ASK_MS = 100;
/** How long a takeover waits for the slot's previous reader to go away. */
const TAKEOVER_MS = 15_000;
/** How long a close waits for the server to end streaming (it releases the slot first) before cutting the connection. */
const CLOSE_MS = 5_000;
/** 2000-01-01 in Unix milliseconds: the protocol's epoch. */
const PG_EPOCH_MS = 946_684_800_000;

/** PostgreSQL's object_in_use: START_REPLICATION on a slot another walsender holds. */
const SLOT_IN_USE = '55006';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class PgReplicationStream {
  private readonly queue: Pgoutput.Message[] = [];
  private head = 0;
  private readonly parser: PgoutputPlugin;
  /** Everything the server decoded before this position is in the queue (or read): from keepalives and commits. */
  private received = 0n;
  /** The last position said to be applied (flushed); 0: none yet, which the server ignores. */
  private flushed = 0n;
  private paused = false;
  /** When the server was last asked for its position (Date.now()). */
  private asked = 0;
  private wake: (() => void) | null = null;
  private readonly timer: NodeJS.Timeout;
  private ended: Promise<unknown>;
  /** Why the stream stopped (the server ended it, the connection broke, or close). */
  failed: Error | null = null;
  /** Messages held unread before the socket is paused (the caller sets it from its batch size). */
  readAhead = MIN_READ_AHEAD;

  private constructor(
    private readonly client: Client,
    publication: string,
  ) {
    this.parser = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication] });
    this.ended = Promise.resolve();
    this.timer = setInterval(() => this.status(false), STATUS_MS);
    this.timer.unref();
  }

  /**
   * Starts streaming `slot` from its confirmed position. A slot another
   * walsender still holds (an earlier attempt's connection on this or another
   * worker, cut off but not yet gone) is taken over: that walsender is ended,
   * so two readers never stream at once, and this one starts once it is gone.
   */
  static async open(pool: Pool, slot: string, beat: () => void): Promise<PgReplicationStream> {
    const options = (pool as unknown as { options: ClientConfig }).options;
    const deadline = Date.now() + TAKEOVER_MS;
    for (;;) {
      beat();
      // The pool's options carry the pinned session settings (startup options), which a walsender takes as any session does.
      const client = new Client({ ...options, replication: 'database' } as ClientConfig);
      const stream = new PgReplicationStream(client, slot);
      try {
        await stream.start(slot);
        return stream;
      } catch (err) {
        await stream.close();
        if ((err as { code?: string }).code !== SLOT_IN_USE || Date.now() > deadline) throw err;
      }
      await pool.query('SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL', [slot]);
      await sleep(50);
    }
  }

  private async start(slot: string): Promise<void> {
    const client = this.client;
    client.on('error', (err) => this.fail(err));
    await client.connect().catch((err: Error) => {
      this.fail(err);
      throw err;
    });
    const connection = (client as unknown as { connection: ConnectionInternals }).connection;
    connection.on('copyData', ({ chunk }: { chunk: Buffer }) => this.receive(chunk));
    await new Promise<void>((resolve, reject) => {
      connection.once('replicationStart', () => resolve());
      // Resolves when streaming ends (after close's CopyDone), rejects when the server refuses or ends it.
      this.ended = client
        .query(`START_REPLICATION SLOT ${quotePg(slot)} LOGICAL 0/0 (proto_version '1', publication_names '${slot.replace(/'/g, "''")}')`)
        .then(
          () => this.fail(new Error(`replication stream of slot "${slot}" ended`)),
          (err: Error) => {
            this.fail(err);
            reject(err);
          },
        );
    });
  }

  private get socket(): { pause(): void; resume(): void; destroy(): void } {
    return (this.client as unknown as { connection: ConnectionInternals }).connection.stream;
  }

  private fail(err: Error): void {
    this.failed ??= err;
    this.wake?.();
  }

  private receive(chunk: Buffer): void {
    if (this.failed) return;
    if (chunk[0] === 0x77) {
      // XLogData: header (start, end, send time), then one pgoutput message. Only a commit's carries its end.
      const end = chunk.readBigUInt64BE(9);
      const msg = this.parser.parse(chunk.subarray(25));
      // Values stay the source's text (exact: no JS Date, no float), as a load reads them.
      if (msg.tag === 'relation') for (const c of msg.columns) c.parser = (raw: unknown) => raw;
      this.queue.push(msg);
      if (end > this.received) this.received = end;
      if (!this.paused && this.queue.length - this.head >= this.readAhead) {
        this.paused = true;
        this.socket.pause();
        this.wake?.();
      }
      // A reader waits for a whole transaction (or a full buffer, a keepalive, its timeout): woken by every message,
      // it took each change of a transaction still arriving alone and waited again, a heartbeat each (2-3 s of CPU
      // per 1M changes where the server's decoding was the slower side).
      if (msg.tag === 'commit') this.wake?.();
    } else if (chunk[0] === 0x6b) {
      // Keepalive: the server has sent everything it decoded before its position.
      const end = chunk.readBigUInt64BE(1);
      if (end > this.received) this.received = end;
      if (chunk[17]) this.status(false);
      this.wake?.();
    }
  }

  /** The next message received, if any (never waits). */
  take(): Pgoutput.Message | undefined {
    if (this.failed) throw this.failed;
    if (this.head === this.queue.length) return undefined;
    const msg = this.queue[this.head++];
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
    if (this.paused && this.queue.length - this.head < this.readAhead / 2) {
      this.paused = false;
      this.socket.resume();
    }
    return msg;
  }

  /** Nothing unread, and the server decoded up to at least `lsn` (an earlier reply request makes it say so). */
  drainedTo(lsn: bigint): boolean {
    return this.head === this.queue.length && this.received >= lsn;
  }

  /** Where the server had decoded to when the last message came, with nothing of it unread: a quiet stream may be acknowledged there. */
  get idleAt(): bigint | null {
    return this.head === this.queue.length && this.received > 0n ? this.received : null;
  }

  /**
   * Waits up to `ms` for a transaction's end, a full buffer, a keepalive or
   * the stream's end. `askPosition`: asks the server where it has decoded to
   * (a keepalive answers), for a reader that must know when nothing more is
   * coming; inside a transaction the rest is on its way, and asking on every
   * wait would have the server answer every one.
   */
  async wait(ms: number, askPosition: boolean): Promise<void> {
    if (this.failed) throw this.failed;
    // At most one request per ASK_MS: a server still decoding towards the reader's position answers at once, and
    // asked again on each answer the two would trade status messages as fast as they can (seen: 1.6 s of the
    // worker's CPU per 1M changes, and the walsender's time besides).
    if (askPosition && Date.now() - this.asked >= ASK_MS) {
      this.asked = Date.now();
      this.status(true);
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
    this.wake = null;
  }

  /** Tells the server everything up to `lsn` is applied: the slot's confirmed position moves there (never backwards). */
  acknowledge(lsn: bigint): void {
    if (lsn <= this.flushed) return;
    this.flushed = lsn;
    this.status(false);
  }

  /** A standby status update: received up to `received`, applied (flushed) up to `flushed`. */
  private status(reply: boolean): void {
    if (this.failed) return;
    const b = Buffer.alloc(34);
    b[0] = 0x72; // 'r'
    b.writeBigUInt64BE(this.received, 1);
    b.writeBigUInt64BE(this.flushed, 9);
    b.writeBigUInt64BE(this.flushed, 17);
    b.writeBigUInt64BE(BigInt(Date.now() - PG_EPOCH_MS) * 1000n, 25);
    b[33] = reply ? 1 : 0;
    try {
      (this.client as unknown as { connection: ConnectionInternals }).connection.sendCopyFromChunk(b);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /**
   * Ends the stream. The server ends streaming on CopyDone and releases the
   * slot before it answers, so once this returns the slot is free for the
   * next reader (or a drop); a connection that does not answer is cut.
   */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const wasFailed = this.failed;
    this.fail(new Error('replication stream closed'));
    this.queue.length = 0;
    this.head = 0;
    const connection = (this.client as unknown as { connection?: ConnectionInternals }).connection;
    try {
      if (!wasFailed && connection) {
        this.socket.resume(); // what the server still sends is read and dropped
        connection.endCopyFrom(); // CopyDone
        await Promise.race([this.ended, sleep(CLOSE_MS)]);
      }
      await Promise.race([this.client.end(), sleep(CLOSE_MS).then(() => Promise.reject(new Error('end timed out')))]);
    } catch {
      connection?.stream.destroy();
    }
  }
}

interface ConnectionInternals {
  on(event: string, listener: (msg: never) => void): void;
  once(event: string, listener: () => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  stream: { pause(): void; resume(): void; destroy(): void };
}
