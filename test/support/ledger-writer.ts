/**
 * A write load for the ledger state machine (ledger-sm.ts) that the kill -9 and membership tests
 * share: `outstanding` writes of unique values always in flight, every acknowledged value kept (to
 * look for on every replica afterwards), every failure kept by its message, and the longest gap
 * between two acknowledgements since `start`.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { sleep } from '../../src/cluster/local-cluster.js';
import type { RaftClient } from '../../src/client/raft-client.js';
import { encode } from '../../src/messages/codec.js';

export class LedgerWriter {
  readonly acknowledged = new Set<string>();
  readonly failures: string[] = [];
  longestGapMs = 0;
  private lastAckMs = 0;
  private running = false;
  private loops: Promise<void>[] = [];
  private next = 0;

  constructor(private readonly client: RaftClient, private readonly prefix = 'w', private readonly outstanding = 32,
    private readonly writesMax = 200_000) {}

  start(): void {
    this.running = true;
    this.lastAckMs = performance.now();
    this.longestGapMs = 0;
    this.loops = Array.from({ length: this.outstanding }, () => this.loop());
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  /** Waits until `count` more writes are acknowledged; fails at once on a failed write. */
  async more(count: number, timeoutMs = 30_000): Promise<void> {
    const target = this.acknowledged.size + count;
    const deadline = performance.now() + timeoutMs;
    while (this.acknowledged.size < target) {
      assert.deepEqual(this.failures, [], 'no write failed');
      assert.ok(performance.now() < deadline, `only ${count - (target - this.acknowledged.size)} of ${count} writes in ${timeoutMs} ms`);
      await sleep(10);
    }
  }

  private async loop(): Promise<void> {
    while (this.running && this.next < this.writesMax) {
      const value = `${this.prefix}-${this.next++}`;
      try {
        await this.client.send(encode(value));
        const nowMs = performance.now();
        this.longestGapMs = Math.max(this.longestGapMs, nowMs - this.lastAckMs);
        this.lastAckMs = nowMs;
        this.acknowledged.add(value);
      } catch (error) {
        this.failures.push((error as Error).message);
      }
    }
  }
}
