/**
 * A test state machine whose updater can be made to die: a write of `'exit:<serverId>'` makes
 * the updater of that server, and of no other, call `process.exit(7)`. In a worker thread that
 * ends only the updater's worker, which is how a crashing state machine looks to its server.
 * Every other write is a string, applied as nothing. Loaded by path, as a user's state machine is.
 */
import { decode, encode } from '../../src/messages/codec.js';
import type { AppliedTransaction, StateMachine, StateMachineContext } from '../../src/state-machine.js';

export const fatalExitCode = 7;

export default function createFatal(): StateMachine {
  let serverId = '';
  let applied = 0;
  return {
    initialize(context: StateMachineContext) {
      serverId = context.serverId;
    },
    startTransaction(transaction) {
      if (typeof decode(transaction.data) !== 'string') throw new Error('fatal-sm writes are strings');
      return transaction;
    },
    applyTransaction(transaction: AppliedTransaction) {
      const value = decode(transaction.data) as string;
      if (value === `exit:${serverId}`) process.exit(fatalExitCode);
      applied++;
      return null;
    },
    query() {
      return encode(applied);
    },
  };
}
