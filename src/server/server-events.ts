/**
 * The server's events (src/events.ts): delivery to the state machine's hooks and the embedder's
 * listeners, and the two watches that decide when a follower is slow and when a server has gone
 * too long without a leader. Pure bookkeeping; the server feeds it what it observes.
 */
import type { Logger } from 'pino';
import type { ServerEventListener, ServerEventName, ServerEvents } from '../events.js';
import type { StateMachine } from '../state-machine.js';

type Listeners = { [E in ServerEventName]: ServerEventListener<E>[] };

/**
 * Delivers each event to the state machine's hook, then to the listeners, in emission order. An
 * event emitted while another is being delivered (a listener that calls back into the server)
 * waits for it to finish, so every listener sees the same order and none runs inside another.
 */
export class ServerEventHub {
  private readonly listeners: Listeners = {
    leaderChanged: [], leaderReady: [], configurationChanged: [], followerSlow: [], followerCaughtUp: [], noLeader: [],
  };
  private readonly queue: (() => void)[] = [];
  private delivering = false;
  private hooks: StateMachine | null = null;

  constructor(private readonly logger: Logger) {}

  /** The main-thread state machine whose `notify...` hooks are called, once loaded. */
  setHooks(hooks: StateMachine | null): void {
    this.hooks = hooks;
  }

  on<E extends ServerEventName>(event: E, listener: ServerEventListener<E>): void {
    this.listeners[event].push(listener);
  }

  off<E extends ServerEventName>(event: E, listener: ServerEventListener<E>): void {
    const list = this.listeners[event];
    const at = list.lastIndexOf(listener);
    if (at >= 0) list.splice(at, 1);
  }

  emit<E extends ServerEventName>(event: E, payload: ServerEvents[E]): void {
    this.queue.push(() => this.deliver(event, payload));
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) next();
    } finally {
      this.delivering = false;
    }
  }

  private deliver<E extends ServerEventName>(event: E, payload: ServerEvents[E]): void {
    // Each receiver gets its own copy: one that changes its payload changes nothing for the others.
    const hooks = this.hooks;
    if (hooks !== null) this.guard(event, 'state machine hook', () => callHook(hooks, event, structuredClone(payload)));
    // A copy of the list: a listener that removes itself (once) does not skip the next one.
    for (const listener of [...this.listeners[event]]) this.guard(event, 'listener', () => listener(structuredClone(payload)));
  }

  private guard(event: ServerEventName, receiver: string, run: () => unknown): void {
    try {
      const result = run();
      // A hook may be async: its rejection is a throw that arrives later.
      if (typeof result === 'object' && result !== null && 'then' in result) {
        Promise.resolve(result).catch((error: unknown) => this.warn(event, receiver, error));
      }
    } catch (error) {
      this.warn(event, receiver, error);
    }
  }

  private warn(event: ServerEventName, receiver: string, error: unknown): void {
    this.logger.warn({ event, err: error }, `${event} ${receiver} threw; the server goes on`);
  }
}

/** The hook of `event` on `stateMachine`, if it has one. */
function callHook<E extends ServerEventName>(stateMachine: StateMachine, event: E, payload: ServerEvents[E]): unknown {
  // Each case narrows `payload` by its own event name; the casts restate what the switch proved.
  switch (event) {
    case 'leaderChanged': return stateMachine.notifyLeaderChanged?.(payload as ServerEvents['leaderChanged']);
    case 'leaderReady': return stateMachine.notifyLeaderReady?.(payload as ServerEvents['leaderReady']);
    case 'configurationChanged': return stateMachine.notifyConfigurationChanged?.(payload as ServerEvents['configurationChanged']);
    case 'followerSlow': return stateMachine.notifyFollowerSlow?.(payload as ServerEvents['followerSlow']);
    case 'followerCaughtUp': return stateMachine.notifyFollowerCaughtUp?.(payload as ServerEvents['followerCaughtUp']);
    case 'noLeader': return stateMachine.notifyNoLeader?.(payload as ServerEvents['noLeader']);
  }
  return undefined;
}

/**
 * A leader's followers against `lagMax` entries: slow once a follower's match is more than
 * `lagMax` behind the commit index, reported once; caught up once it is back below half of it
 * (the gap keeps a follower hovering at the bound from reporting at every check).
 */
export class FollowerLagWatch {
  private readonly slow = new Set<string>();

  constructor(private readonly lagMax: number) {}

  /** A new leadership (or none): every follower starts over as not slow. */
  reset(): void {
    this.slow.clear();
  }

  /** 'slow' or 'caughtUp' when the follower crossed a bound with this report; null otherwise. */
  check(follower: string, matchIndex: number, commitIndex: number): 'slow' | 'caughtUp' | null {
    const lag = commitIndex - matchIndex;
    if (!this.slow.has(follower)) {
      if (lag <= this.lagMax) return null;
      this.slow.add(follower);
      return 'slow';
    }
    if (lag * 2 >= this.lagMax) return null;
    this.slow.delete(follower);
    return 'caughtUp';
  }
}

/**
 * How long a server has known no leader: a stretch starts when it loses the leader (or starts
 * without one) and ends when it knows one; it is reported once, when it outlasts `boundMs`.
 */
export class NoLeaderWatch {
  private sinceMs: number | null;
  private reported = false;

  constructor(private readonly boundMs: number, nowMs: number) {
    this.sinceMs = nowMs;
  }

  /** The leader this server knows now. */
  onLeader(leaderId: string | null, nowMs: number): void {
    if (leaderId !== null) {
      this.sinceMs = null;
      this.reported = false;
    } else {
      this.sinceMs ??= nowMs;
    }
  }

  /** The stretch's length when it has just outlasted the bound (once per stretch); null otherwise. */
  check(nowMs: number): number | null {
    if (this.sinceMs === null || this.reported) return null;
    const elapsed = nowMs - this.sinceMs;
    if (elapsed <= this.boundMs) return null;
    this.reported = true;
    return elapsed;
  }
}
