/**
 * The micro-benchmarks' timing loop: run a step until `seconds` have passed (or `stepsMax` steps,
 * whichever comes first), after a short warm-up, and report operations per second.
 */
export interface MicroResult {
  name: string;
  /** What the operations are, plural: "entries", "round trips", "frames". */
  unit: string;
  opsPerSecond: number;
  /** Mean time of one operation, µs. */
  meanUs: number;
  operations: number;
  seconds: number;
  /** Anything else the benchmark reports (batch size, bytes, ...). */
  details: Record<string, number | string>;
}

export interface MeasureOptions {
  seconds: number;
  stepsMax?: number;
  warmupSteps?: number;
}

const stepsMaxDefault = 50_000_000;

export function result(name: string, unit: string, operations: number, seconds: number, details: Record<string, number | string> = {}): MicroResult {
  return {
    name, unit, operations, seconds: Math.round(seconds * 1000) / 1000,
    opsPerSecond: Math.round(operations / seconds),
    meanUs: Math.round((seconds * 1e6 / Math.max(1, operations)) * 1000) / 1000,
    details,
  };
}

/** Times a synchronous step that performs `opsPerStep` operations. */
export function measureSync(name: string, unit: string, opsPerStep: number, step: () => void, options: MeasureOptions,
  details: Record<string, number | string> = {}): MicroResult {
  for (let i = 0; i < (options.warmupSteps ?? 20); i++) step();
  const stepsMax = options.stepsMax ?? stepsMaxDefault;
  const endMs = performance.now() + options.seconds * 1000;
  const startMs = performance.now();
  let steps = 0;
  // The clock is read every 16 steps, so cheap steps are not dominated by it.
  while (steps < stepsMax) {
    step();
    steps++;
    if ((steps & 15) === 0 && performance.now() >= endMs) break;
  }
  return result(name, unit, steps * opsPerStep, (performance.now() - startMs) / 1000, { opsPerStep, ...details });
}

/** Times an asynchronous step that performs `opsPerStep` operations. */
export async function measureAsync(name: string, unit: string, opsPerStep: number, step: () => Promise<void>, options: MeasureOptions,
  details: Record<string, number | string> = {}): Promise<MicroResult> {
  for (let i = 0; i < (options.warmupSteps ?? 20); i++) await step();
  const stepsMax = options.stepsMax ?? stepsMaxDefault;
  const endMs = performance.now() + options.seconds * 1000;
  const startMs = performance.now();
  let steps = 0;
  while (steps < stepsMax && performance.now() < endMs) {
    await step();
    steps++;
  }
  return result(name, unit, steps * opsPerStep, (performance.now() - startMs) / 1000, { opsPerStep, ...details });
}
