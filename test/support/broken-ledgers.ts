/**
 * Deliberately broken ledgers for the simulator's updaters, so its tests can show that the
 * snapshot checker catches a snapshot that does not hold the state it claims to.
 */
import type { SnapshotWriter } from '../../src/state-machine.js';
import { SimLedger, type ApplyObserver, type LoadObserver } from '../../src/sim/sim-ledger.js';

/** Its snapshots leave out the newest value: a node that loads one (installed, or at a restart) lacks it. */
export class ForgetfulSnapshotLedger extends SimLedger {
  override takeSnapshot(writer: SnapshotWriter): number {
    const newest = this.values.pop();
    try {
      return super.takeSnapshot(writer);
    } finally {
      if (newest !== undefined) this.values.push(newest);
    }
  }
}

export const makeForgetfulSnapshots = (observer: ApplyObserver, loadObserver: LoadObserver): SimLedger =>
  new ForgetfulSnapshotLedger(observer, loadObserver);
