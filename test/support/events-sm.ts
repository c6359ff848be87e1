/**
 * A test state machine that records its event hooks (the `notify...` methods) per server, in a
 * table the test reads: the server loads this module by path on its main thread, and so does the
 * test, so both see the same module. Its notifyLeaderChanged throws and its notifyLeaderReady
 * returns a rejected promise, on purpose: the server must log them and go on. Writes apply as nothing.
 */
import type { ServerEventName, ServerEvents } from '../../src/events.js';
import type { StateMachine, StateMachineContext } from '../../src/state-machine.js';

/** One hook call: the event it stands for, and its payload. */
export type HookCall = { [E in ServerEventName]: { event: E; payload: ServerEvents[E] } }[ServerEventName];

/** Server id -> the hook calls of its main-thread instance, in order. */
export const hookCalls = new Map<string, HookCall[]>();

export default function createEventsRecorder(): StateMachine {
  let serverId = '';
  const record = (call: HookCall): void => {
    let calls = hookCalls.get(serverId);
    if (calls === undefined) hookCalls.set(serverId, calls = []);
    calls.push(call);
  };
  return {
    initialize(context: StateMachineContext) {
      serverId = context.serverId;
    },
    applyTransaction() {
      return null;
    },
    query() {
      return null;
    },
    notifyConfigurationChanged(event) {
      record({ event: 'configurationChanged', payload: event });
    },
    notifyLeaderChanged(event) {
      record({ event: 'leaderChanged', payload: event });
      throw new Error('notifyLeaderChanged throws, on purpose');
    },
    notifyLeaderReady(event) {
      record({ event: 'leaderReady', payload: event });
      return Promise.reject(new Error('notifyLeaderReady rejects, on purpose'));
    },
    notifyFollowerSlow(event) {
      record({ event: 'followerSlow', payload: event });
    },
    notifyFollowerCaughtUp(event) {
      record({ event: 'followerCaughtUp', payload: event });
    },
    notifyNoLeader(event) {
      record({ event: 'noLeader', payload: event });
    },
  };
}
