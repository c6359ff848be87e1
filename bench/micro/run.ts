/**
 * `npm run bench:micro`: the hot primitives in operations per second — codec (entry batch encode
 * and decode), one entry's layout against msgpack and the record CRC, log append + sync, the
 * thread hop between worker threads, and TCP frames on loopback. Prints a table and, with
 * --json FILE, the results as JSON.
 *
 *   node dist/bench/micro/run.js [--seconds 1] [--only codec,entry,log,hop,tcp] [--json FILE]
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { codecBenchmarks } from './codec.js';
import { entryLayoutBenchmarks } from './entry-layout.js';
import { logBenchmarks } from './log-append.js';
import { threadHopBenchmarks } from './thread-hop.js';
import { tcpFrameBenchmarks } from './tcp-frame.js';
import { machineInfo, versions } from '../run-info.js';
import type { MeasureOptions, MicroResult } from './measure.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '1' }, only: { type: 'string', default: 'codec,entry,log,hop,tcp' }, json: { type: 'string' } },
});
const seconds = Number(values.seconds);
if (!(seconds > 0 && seconds <= 600)) throw new Error(`--seconds must be in (0, 600], got ${values.seconds}`);
const only = new Set(values.only.split(','));
const options: MeasureOptions = { seconds };

const results: MicroResult[] = [];
const print = (batch: MicroResult[]): void => {
  for (const entry of batch) {
    results.push(entry);
    process.stdout.write(`${entry.name.padEnd(40)} ${entry.opsPerSecond.toLocaleString('en-US').padStart(14)} ${entry.unit}/s   ${entry.meanUs.toFixed(3).padStart(9)} µs each\n`);
  }
};
if (only.has('codec')) print(codecBenchmarks(options));
if (only.has('entry')) print(entryLayoutBenchmarks(options));
if (only.has('log')) print(logBenchmarks(options));
if (only.has('hop')) print(await threadHopBenchmarks(options));
if (only.has('tcp')) print(await tcpFrameBenchmarks(options));
if (values.json !== undefined) {
  fs.writeFileSync(values.json, JSON.stringify({ machine: machineInfo(), versions: versions(), seconds, results }, null, 2) + '\n');
}
