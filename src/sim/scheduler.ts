/**
 * The simulator's seeded scheduler and virtual clock. Everything that runs in a simulation runs
 * from here, one step at a time, on one thread:
 *  - ready work at the current instant: a message waiting on a virtual actor channel, or an
 *    actor's deferred callback (its setImmediate). Which ready source runs next is drawn from the
 *    seed, so the interleavings of the actors of one node, and of all nodes, vary per seed;
 *  - timed work (timeouts, intervals, network arrivals) in a heap by (time, sequence); the clock
 *    jumps to the next one only when nothing is ready. Work takes no virtual time.
 * Work belongs to a `Life` (one incarnation of a node, or a client): when a node crashes its life
 * ends and every pending step of it is dropped, as a kill -9 drops a process's queues and timers.
 * Each step folds into a trace hash, so two runs of one seed can be compared step for step.
 */
import { SeededRng } from '../core/rng.js';
import type { TimerHandle, Timers } from '../shell/timers.js';

export class Life {
  alive = true;
  /**
   * A process stall (a long GC pause, SIGSTOP, a VM descheduled): its timed work (timers, network
   * arrivals) waits until this time; zero-time work already ready finishes first, as a process
   * runs on a little before it stalls. Its clock runs on meanwhile (a monotonic clock does).
   */
  pausedUntilMs = 0;
  constructor(readonly name: string) {}
}

/**
 * A node's monotonic clock, which may run at a rate other than real (virtual) time: `rate` local
 * ms per real ms. Kept across the node's restarts (it is the machine's clock). Timers on it fire
 * after their delay in local time.
 */
export class SimClock {
  private anchorRealMs = 0;
  private anchorLocalMs = 0;
  private currentRate = 1;

  constructor(private readonly scheduler: { now: number }) {}

  get rate(): number {
    return this.currentRate;
  }

  readonly now = (): number => this.anchorLocalMs + (this.scheduler.now - this.anchorRealMs) * this.currentRate;

  setRate(rate: number): void {
    this.anchorLocalMs = this.now();
    this.anchorRealMs = this.scheduler.now;
    this.currentRate = rate;
  }
}

interface TimedStep {
  at: number;
  seq: number;
  life: Life;
  run: () => void;
  cancelled: boolean;
  /** Source id for the trace. */
  source: number;
}

/** Something that has zero-time work while `hasWork()`; the scheduler picks among them. */
export interface ReadySource {
  readonly life: Life;
  readonly sourceId: number;
  /** Set by the scheduler while the source is in its ready list. */
  queued: boolean;
  hasWork(): boolean;
  runOne(): void;
}

export class SimScheduler {
  now = 0;
  steps = 0;
  readonly rng: SeededRng;
  private trace = 0x811c9dc5;
  private readonly heap: TimedStep[] = [];
  private sequence = 0;
  private readonly ready: ReadySource[] = [];
  private nextSourceId = 1;

  constructor(seed: number) {
    this.rng = new SeededRng(seed);
  }

  /** A number naming a source in the trace; sources are created in a deterministic order. */
  newSourceId(): number {
    return this.nextSourceId++;
  }

  get traceHash(): number {
    return this.trace >>> 0;
  }

  /** Folds a value into the trace (used by the simulation for its own decisions, too). */
  mix(value: number): void {
    this.trace = Math.imul(this.trace ^ (value | 0), 16777619);
  }

  random(): number {
    return this.rng.nextFloat();
  }

  chance(probability: number): boolean {
    return probability > 0 && this.rng.nextFloat() < probability;
  }

  /** Runs `run` at now + delayMs (not before now). */
  at(delayMs: number, life: Life, run: () => void, source = 0): TimedStep {
    const step: TimedStep = { at: this.now + Math.max(0, delayMs), seq: this.sequence++, life, run, cancelled: false, source };
    this.push(step);
    return step;
  }

  markReady(source: ReadySource): void {
    if (source.queued) return;
    source.queued = true;
    this.ready.push(source);
  }

  /** The time of the next timed step, or Infinity. */
  get nextTimeMs(): number {
    return this.heap.length > 0 ? this.heap[0]!.at : Infinity;
  }

  /** Runs one step; false when there is nothing left to run at or before `untilMs`. */
  step(untilMs: number): boolean {
    const ready = this.ready;
    while (ready.length > 0) {
      const position = ready.length === 1 ? 0 : Math.floor(this.rng.nextFloat() * ready.length);
      const source = ready[position]!;
      if (source.life.alive && source.hasWork()) {
        this.steps++;
        this.mix(source.sourceId);
        source.runOne();
      }
      // runOne may only append to the list, so the source is still at `position`.
      if (!source.life.alive || !source.hasWork()) {
        source.queued = false;
        ready[position] = ready[ready.length - 1]!;
        ready.pop();
      }
      return true;
    }
    for (;;) {
      const next = this.heap[0];
      if (next === undefined || next.at > untilMs) return false;
      this.pop();
      if (next.cancelled || !next.life.alive) continue;
      if (next.life.pausedUntilMs > next.at) {
        // Its process is stalled: the step waits (the same object, so a cancel still reaches it).
        next.at = next.life.pausedUntilMs;
        next.seq = this.sequence++;
        this.push(next);
        continue;
      }
      this.now = next.at;
      this.steps++;
      this.mix(next.source);
      this.mix(Math.floor(next.at * 1000));
      next.run();
      return true;
    }
  }

  /** Moves the clock forward to `timeMs` when nothing is due before it. */
  advanceTo(timeMs: number): void {
    if (timeMs > this.now) this.now = timeMs;
  }

  private push(step: TimedStep): void {
    const heap = this.heap;
    heap.push(step);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
  }
}

function before(a: TimedStep, b: TimedStep): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * One actor's timers on the virtual clock. Deferred callbacks (setImmediate) are a ready source of
 * their own, so the scheduler interleaves them with the actor's channel deliveries. Timeouts and
 * intervals fire with a seeded jitter of up to `jitterMs`, as real timers never fire exactly.
 */
export class SimTimers implements Timers, ReadySource {
  readonly sourceId: number;
  queued = false;
  private immediates: (() => void)[] = [];
  private head = 0;

  constructor(private readonly scheduler: SimScheduler, readonly life: Life, private readonly jitterMs: number, private readonly clock: SimClock | null = null) {
    this.sourceId = scheduler.newSourceId();
  }

  /** A delay on this actor's clock, in real (virtual) ms. */
  private real(delayMs: number): number {
    return this.clock === null ? delayMs : delayMs / this.clock.rate;
  }

  hasWork(): boolean {
    return this.head < this.immediates.length;
  }

  runOne(): void {
    const run = this.immediates[this.head++]!;
    if (this.head === this.immediates.length) {
      this.immediates = [];
      this.head = 0;
    }
    run();
  }

  readonly setImmediate = (run: () => void): void => {
    this.immediates.push(run);
    this.scheduler.markReady(this);
  };

  readonly setTimeout = (run: () => void, delayMs: number): TimerHandle => {
    return this.scheduler.at(this.real(delayMs) + this.jitter(), this.life, run, this.sourceId);
  };

  readonly clearTimeout = (handle: TimerHandle): void => {
    if (handle !== null && handle !== undefined) (handle as { cancelled: boolean }).cancelled = true;
  };

  readonly setInterval = (run: () => void, intervalMs: number): TimerHandle => {
    const handle = { cancelled: false, current: null as { cancelled: boolean } | null };
    const arm = (): void => {
      handle.current = this.scheduler.at(this.real(intervalMs) + this.jitter(), this.life, () => {
        if (handle.cancelled) return;
        arm();
        run();
      }, this.sourceId);
    };
    arm();
    return handle;
  };

  readonly clearInterval = (handle: TimerHandle): void => {
    const interval = handle as { cancelled: boolean; current: { cancelled: boolean } | null };
    interval.cancelled = true;
    if (interval.current !== null) interval.current.cancelled = true;
  };

  private jitter(): number {
    return this.jitterMs > 0 ? this.scheduler.random() * this.jitterMs : 0;
  }
}
