/**
 * A register history as the chaos workloads record it and the linearizability checker reads it:
 * JSON Lines, one event per line, in real-time order. An operation is an `invoke` by a process
 * followed by that process's completion: `ok` (it took effect, with its result), `fail` (it
 * definitely did not take effect) or `info` (unknown: a timeout or a lost connection; it may take
 * effect at any time after its invoke, even after the history ends). A process that got `info`
 * issues nothing more; its client continues under a fresh process id (as in Jepsen).
 */
import fs from 'node:fs';

export type RegisterFunction = 'put' | 'get' | 'cas';
export type EventType = 'invoke' | 'ok' | 'fail' | 'info';

/**
 * - put: `value` is the value written (invoke and completion);
 * - get: `value` is null on invoke, the value read on ok (null when absent);
 * - cas: `value` is `[expected, next]` on invoke; true or false on ok.
 */
export interface HistoryEvent {
  process: number;
  type: EventType;
  f: RegisterFunction;
  key: string;
  value: unknown;
}

/** Appends events to a JSON Lines file as they happen (buffered; `close` flushes). */
export class HistoryWriter {
  private readonly fd: number;
  private lines: string[] = [];
  private count = 0;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, 'w');
  }

  get eventCount(): number {
    return this.count;
  }

  write(event: HistoryEvent): void {
    this.lines.push(JSON.stringify(event));
    this.count++;
    if (this.lines.length >= 512) this.flush();
  }

  flush(): void {
    if (this.lines.length === 0) return;
    fs.writeSync(this.fd, this.lines.join('\n') + '\n');
    this.lines = [];
  }

  close(): void {
    this.flush();
    fs.closeSync(this.fd);
  }
}

const functions = new Set<string>(['put', 'get', 'cas']);
const types = new Set<string>(['invoke', 'ok', 'fail', 'info']);

/** Parses a JSON Lines history; throws an Error naming the line of the first malformed event. */
export function parseHistory(text: string): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new Error(`history line ${i + 1}: not JSON: ${(error as Error).message}`);
    }
    const event = value as Partial<HistoryEvent> | null;
    if (event === null || typeof event !== 'object' || !Number.isInteger(event.process) ||
        typeof event.type !== 'string' || !types.has(event.type) || typeof event.f !== 'string' || !functions.has(event.f) ||
        typeof event.key !== 'string' || !('value' in event)) {
      throw new Error(`history line ${i + 1}: not an event {process, type, f, key, value}: ${line}`);
    }
    events.push(event as HistoryEvent);
  }
  return events;
}

export function readHistory(file: string): HistoryEvent[] {
  return parseHistory(fs.readFileSync(file, 'utf8'));
}
