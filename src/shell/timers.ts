/**
 * The timers an actor or the server shell uses (deferral to the end of the current turn,
 * timeouts, intervals), as an interface, so that the simulator can run them on its virtual clock
 * under its seeded scheduler. Production passes `nodeTimers`: Node's own functions.
 */

/** An opaque handle for clearTimeout / clearInterval. */
export type TimerHandle = unknown;

export interface Timers {
  /** Runs `run` after the work already queued for this actor (Node's setImmediate). */
  setImmediate(run: () => void): void;
  setTimeout(run: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  setInterval(run: () => void, intervalMs: number): TimerHandle;
  clearInterval(handle: TimerHandle): void;
}

export const nodeTimers: Timers = {
  setImmediate: (run) => { setImmediate(run); },
  setTimeout: (run, delayMs) => setTimeout(run, delayMs),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  setInterval: (run, intervalMs) => setInterval(run, intervalMs),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};
