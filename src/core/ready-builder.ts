/**
 * Accumulates the effects of the inputs between two `RaftCore.ready()` calls and hands them out
 * as one `Ready`. Replies that depend on durable term/vote go to `messagesAfterPersist`, never to
 * `messages`: the ordering lives in the type (etcd's `msgsAfterAppend`, Raft thesis §3.8).
 */

import type { ConfigurationAt } from './configuration.js';
import type { HardState, LeaderStart, OutMessage, ReadReady, Ready, RoleChange } from './types.js';

export class ReadyBuilder {
  hardState: HardState | null = null;
  messages: OutMessage[] = [];
  messagesAfterPersist: OutMessage[] = [];
  roleChange: RoleChange | null = null;
  leaderStart: LeaderStart | null = null;
  commitIndex: number | null = null;
  heartbeatRound: number | null = null;
  readsReady: ReadReady[] = [];
  readsFailed: number[] = [];
  configuration: ConfigurationAt | null = null;
  configurationAppend: Ready['configurationAppend'] = null;

  isEmpty(): boolean {
    return (
      this.hardState === null &&
      this.messages.length === 0 &&
      this.messagesAfterPersist.length === 0 &&
      this.roleChange === null &&
      this.leaderStart === null &&
      this.commitIndex === null &&
      this.heartbeatRound === null &&
      this.readsReady.length === 0 &&
      this.readsFailed.length === 0 &&
      this.configuration === null &&
      this.configurationAppend === null
    );
  }

  /** Returns everything accumulated and starts empty again. */
  take(): Ready {
    const ready: Ready = {
      hardState: this.hardState,
      messages: this.messages,
      messagesAfterPersist: this.messagesAfterPersist,
      roleChange: this.roleChange,
      leaderStart: this.leaderStart,
      commitIndex: this.commitIndex,
      heartbeatRound: this.heartbeatRound,
      readsReady: this.readsReady,
      readsFailed: this.readsFailed,
      configuration: this.configuration,
      configurationAppend: this.configurationAppend,
    };
    this.hardState = null;
    this.messages = [];
    this.messagesAfterPersist = [];
    this.roleChange = null;
    this.leaderStart = null;
    this.commitIndex = null;
    this.heartbeatRound = null;
    this.readsReady = [];
    this.readsFailed = [];
    this.configuration = null;
    this.configurationAppend = null;
    return ready;
  }
}
