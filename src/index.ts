/** raftline's public API: the server, the client and its key-value facade, state machines, errors. */
export { RaftServer, type ServerStatus } from './server/raft-server.js';
export {
  leaderStageNames, followerStageNames, type LeaderStageName, type FollowerStageName, type HistogramSnapshot,
  type StageSnapshot, type FollowerReplicationSnapshot, type MetricsSnapshot,
} from './metrics/types.js';
export { formatPrometheus } from './metrics/prometheus.js';
export { parsePeers, type RaftServerOptions, type PeerAddress } from './server/options.js';
export type { ActorMode } from './server/actor-hosts.js';
export { RaftClient, type RaftClientOptions, type RaftAdmin } from './client/raft-client.js';
export { readTlsFiles, type ClientTls, type TlsFiles, type TlsMaterial, type Role } from './shell/tls-identity.js';
export { kv, type KvClient } from './client/kv.js';
export type {
  StateMachine, StateMachineFactory, StateMachineContext, TransactionContext, AppliedTransaction,
  SnapshotInfo, SnapshotFileInfo, SnapshotWriter, SnapshotReader, SnapshotConfiguration,
} from './state-machine.js';
export { defaultLimits, type Limits } from './limits.js';
export { serverEventNames } from './events.js';
export type {
  ServerEvents, ServerEventName, ServerEventListener, LeaderChangedEvent, LeaderReadyEvent, ConfigurationChangedEvent,
  FollowerSlowEvent, FollowerCaughtUpEvent, NoLeaderEvent, MemberAddress,
} from './events.js';
export type { DivisionStatus, ConfigurationReport, TransferOutcome, ElectionState } from './messages/messages.js';
export type { GroupConfiguration, Member } from './core/configuration.js';
export * from './errors.js';
