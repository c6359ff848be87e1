/**
 * The safety summary of a test run. Each safety suite (the simulator, the chaos runs) writes its
 * figures to `.safety/<suite>.json` at the repository root:
 * `{ suite, seeds?, histories?, operations?, faults?, lostWrites, violations, duplicateApplies, snapshots?, crashPoints?, transfers? }`
 * (the simulator adds what its seeds did with snapshots and the crashes aimed at them; the
 * simulator and the chaos runs, the leadership transfers they asked for and the elections they paused).
 * `npm test` clears the folder first (`--clear`), so a stale file never counts, and runs this at
 * the end to print ONE line with the totals; it exits 1 when any suite counted a lost write, a
 * violation or a duplicate apply, or when a file is malformed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SafetyFigures {
  suite: string;
  seeds?: number;
  histories?: number;
  operations?: number;
  faults?: number;
  lostWrites: number;
  violations: number;
  duplicateApplies: number;
  snapshots?: { taken: number; purges: number; installs: number; installsInterrupted: number; installsAfterDiskLoss: number; restarts: number };
  crashPoints?: { snapshotWrite: number; install: number; beforePurge: number };
  transfers?: { started: number; completed: number; failed: number; pauses: number; membershipStarted?: number; membershipDone?: number };
}

export const safetyDir = fileURLToPath(new URL('../../../.safety/', import.meta.url));

/** Writes one suite's figures (replacing that suite's earlier file). */
export function writeSafetyFigures(figures: SafetyFigures): void {
  fs.mkdirSync(safetyDir, { recursive: true });
  fs.writeFileSync(path.join(safetyDir, `${figures.suite}.json`), JSON.stringify(figures, null, 2) + '\n');
}

export function readSafetyFigures(dir = safetyDir): SafetyFigures[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((name) => name.endsWith('.json')).sort().map((name) => {
    const value = JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8')) as Partial<SafetyFigures>;
    for (const field of ['lostWrites', 'violations', 'duplicateApplies'] as const) {
      if (!Number.isInteger(value[field])) throw new Error(`${name}: ${field} must be an integer`);
    }
    if (typeof value.suite !== 'string') throw new Error(`${name}: suite must be a string`);
    return value as SafetyFigures;
  });
}

export function summaryLine(all: readonly SafetyFigures[]): string {
  const sum = (field: keyof Omit<SafetyFigures, 'suite' | 'snapshots' | 'crashPoints' | 'transfers'>): number =>
    all.reduce((total, figures) => total + (figures[field] ?? 0), 0);
  const snapshots = all.filter((figures) => figures.snapshots !== undefined);
  const ofSnapshots = (field: keyof NonNullable<SafetyFigures['snapshots']>): number =>
    snapshots.reduce((total, figures) => total + figures.snapshots![field], 0);
  const ofCrashPoints = (field: keyof NonNullable<SafetyFigures['crashPoints']>): number =>
    all.reduce((total, figures) => total + (figures.crashPoints?.[field] ?? 0), 0);
  const snapshotPart = snapshots.length === 0 ? '' : `, snapshots taken ${ofSnapshots('taken')}, log purges ${ofSnapshots('purges')}, ` +
    `snapshots installed ${ofSnapshots('installs')} (${ofSnapshots('installsInterrupted')} interrupted by a crash), ` +
    `crashes while writing a snapshot ${ofCrashPoints('snapshotWrite')}, while installing ${ofCrashPoints('install')}, ` +
    `before the purge ${ofCrashPoints('beforePurge')}`;
  const transfers = all.filter((figures) => figures.transfers !== undefined);
  const ofTransfers = (field: keyof NonNullable<SafetyFigures['transfers']>): number =>
    transfers.reduce((total, figures) => total + (figures.transfers![field] ?? 0), 0);
  const transferPart = transfers.length === 0 ? '' : `, leadership transfers ${ofTransfers('started')} ` +
    `(${ofTransfers('completed')} completed, ${ofTransfers('failed')} failed), elections paused ${ofTransfers('pauses')}, ` +
    `membership changes ${ofTransfers('membershipStarted')} (${ofTransfers('membershipDone')} committed)`;
  const suites = all.length === 0 ? 'no safety suites ran' : all.map((figures) => figures.suite).join(', ');
  return `safety: seeds run ${sum('seeds')}, histories checked ${sum('histories')}, operations checked ${sum('operations')}, ` +
    `faults injected ${sum('faults')}, acknowledged writes lost ${sum('lostWrites')}, linearizability violations ${sum('violations')}, ` +
    `duplicate applies ${sum('duplicateApplies')}${snapshotPart}${transferPart} (${suites})`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--clear')) {
    fs.rmSync(safetyDir, { recursive: true, force: true });
  } else {
    try {
      const all = readSafetyFigures();
      process.stdout.write(summaryLine(all) + '\n');
      if (all.some((figures) => figures.lostWrites + figures.violations + figures.duplicateApplies > 0)) process.exitCode = 1;
    } catch (error) {
      process.stdout.write(`safety: unreadable summary: ${(error as Error).message}\n`);
      process.exitCode = 1;
    }
  }
}
