/**
 * What a run does with snapshots, seen from outside the servers: after every step the simulation
 * looks (read only) at each live node's updater and log actor. The servers' own counters die with
 * their life; these figures are the run's:
 *  - snapshots taken (a newer snapshot that the updater did not load);
 *  - purges (a LogPurge that moved the log's first index up);
 *  - installs completed (the ledger loaded from the leader's snapshot), those a crash interrupted
 *    (chunks received, not finished), and those of a node whose disk had been replaced;
 *  - restarts from a snapshot (the ledger loaded at start).
 * It also says whether a node is in one of the windows a targeted crash aims at (`inWindow`).
 */
import type { Life } from './scheduler.js';
import type { SimNode, SnapshotLoad } from './sim-node.js';

/**
 * Where a targeted crash lands: while the updater writes a snapshot (takeSnapshot done, manifest
 * not yet renamed); while a follower installs one from the leader (chunks received, the snapshot
 * not yet loaded, or loaded but the log not yet reset after it); after a snapshot's manifest is
 * durable but before the purge below it ran (SnapshotTaken or LogPurge in flight).
 */
export type CrashPoint = 'snapshotWrite' | 'install' | 'beforePurge';
export const crashPoints: readonly CrashPoint[] = ['snapshotWrite', 'install', 'beforePurge'];

export interface SnapshotFigures {
  taken: number;
  purges: number;
  installs: number;
  installsInterrupted: number;
  /** Installs on a node that had lost its disk since its last crash: it caught up by snapshot. */
  installsAfterDiskLoss: number;
  restarts: number;
}

export function noSnapshotFigures(): SnapshotFigures {
  return { taken: 0, purges: 0, installs: 0, installsInterrupted: 0, installsAfterDiskLoss: 0, restarts: 0 };
}

/** One life of one node, as last seen. */
interface NodeView {
  life: Life;
  snapshotIndex: number;
  /** The index of the last snapshot the ledger loaded in this life, of the last one installed, and of the last one taken. */
  loadedIndex: number;
  installedIndex: number;
  takenIndex: number;
  firstIndex: number;
  purgedUpTo: number;
}

export class SnapshotActivity {
  readonly figures = noSnapshotFigures();
  private readonly views = new Map<string, NodeView>();
  private readonly diskReplaced = new Set<string>();

  constructor(private readonly logKeep: number) {}

  afterStep(nodes: readonly SimNode[]): void {
    for (const node of nodes) {
      const updater = node.updater;
      const log = node.log;
      if (!node.isUp || updater === null || log === null) continue;
      const view = this.viewOf(node);
      const index = updater.snapshotIndex;
      if (index > view.snapshotIndex) {
        if (index !== view.loadedIndex) {
          this.figures.taken++;
          view.takenIndex = index;
        }
        view.snapshotIndex = index;
      }
      // One message per step: the first index moved in the step that ran a purge, or by a reset.
      const purgedUpTo = log.purgedUpTo;
      if (purgedUpTo !== view.purgedUpTo) {
        if (log.firstIndex > view.firstIndex) this.figures.purges++;
        view.purgedUpTo = purgedUpTo;
      }
      view.firstIndex = log.firstIndex;
    }
  }

  onLoaded(node: SimNode, how: SnapshotLoad, index: number): void {
    if (node.life === null) return;
    const view = this.viewOf(node);
    view.loadedIndex = index;
    if (how === 'install') view.installedIndex = index;
    if (how === 'restart') {
      this.figures.restarts++;
      return;
    }
    this.figures.installs++;
    if (this.diskReplaced.delete(node.id)) this.figures.installsAfterDiskLoss++;
  }

  /** Before the node's life ends. */
  onCrash(node: SimNode): void {
    if (node.updater?.installInProgress === true) this.figures.installsInterrupted++;
    this.views.delete(node.id);
    this.diskReplaced.delete(node.id);
  }

  onDiskLost(node: SimNode): void {
    this.diskReplaced.add(node.id);
  }

  inWindow(node: SimNode, point: CrashPoint): boolean {
    const updater = node.updater;
    const log = node.log;
    if (!node.isUp || updater === null || log === null) return false;
    switch (point) {
      case 'snapshotWrite':
        return updater.snapshotWriteInProgress;
      case 'install': {
        if (updater.installInProgress) return true;
        // Loaded; the server has not heard yet, or its core reset the log after it and the log actor has not.
        const view = this.views.get(node.id);
        const index = updater.snapshotIndex;
        if (view === undefined || view.life !== node.life || view.installedIndex !== index || index === 0) return false;
        return (node.server?.latestSnapshot()?.index ?? 0) < index || (node.core!.firstKnownIndex >= index && log.firstIndex <= index);
      }
      case 'beforePurge': {
        // Only a snapshot taken here is followed by a purge (an installed one resets the log or keeps it).
        const view = this.views.get(node.id);
        if (view === undefined || view.life !== node.life || view.takenIndex !== updater.snapshotIndex) return false;
        const upTo = view.takenIndex - this.logKeep;
        return upTo > 0 && log.purgedUpTo < upTo;
      }
    }
  }

  private viewOf(node: SimNode): NodeView {
    const known = this.views.get(node.id);
    if (known !== undefined && known.life === node.life) return known;
    const view: NodeView = {
      life: node.life!, snapshotIndex: node.updater?.snapshotIndex ?? 0, loadedIndex: 0, installedIndex: 0, takenIndex: 0,
      firstIndex: node.log?.firstIndex ?? 0, purgedUpTo: node.log?.purgedUpTo ?? 0,
    };
    this.views.set(node.id, view);
    return view;
  }
}
