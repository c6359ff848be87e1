/**
 * Every message kind, numbered once and never reused. Ranges per boundary:
 *   1-19 server <-> server (TCP), 20-39 client <-> server (TCP),
 *   100-199 actor <-> actor (between threads of one server).
 */
export const Kind = {
  // server <-> server
  AppendEntries: 1,
  AppendEntriesReply: 2,
  VoteRequest: 3,
  VoteResponse: 4,
  Refused: 5,
  PeerHello: 6,
  InstallSnapshot: 7,
  InstallSnapshotReply: 8,
  TimeoutNow: 9,
  /** A follower asks the leader for a read index (follower reads), and the leader's answer. */
  ReadIndexRequest: 10,
  ReadIndexReply: 11,
  // client <-> server
  ClientRequest: 20,
  ClientReply: 21,
  StatusRequest: 22,
  StatusReply: 23,
  ClientRequestBatch: 24,
  ClientReplyBatch: 25,
  MetricsRequest: 26,
  MetricsReply: 27,
  SnapshotRequest: 28,
  SnapshotReply: 29,
  AdminRequest: 30,
  AdminReply: 31,
  // main -> log
  LogAppend: 100,
  LogTruncate: 101,
  LogWriteMeta: 102,
  LogReset: 103,
  LogPurge: 104,
  // log -> main
  LogSynced: 110,
  // appender -> log, log -> appender
  LogRead: 115,
  LogReadResult: 116,
  LogWatch: 117,
  LogDurable: 118,
  // log -> updater
  UpdaterEntries: 120,
  UpdaterTruncate: 121,
  UpdaterRestore: 122,
  // main -> updater (and appender -> updater: a leader's commit)
  UpdaterCommit: 130,
  UpdaterQuery: 131,
  UpdaterInstallChunk: 132,
  UpdaterSnapshotNow: 133,
  UpdaterQueryBatch: 134,
  // updater -> main
  UpdaterApplied: 140,
  UpdaterQueryResult: 141,
  UpdaterInstallProgress: 142,
  UpdaterSnapshotTaken: 143,
  UpdaterQueryBatchResult: 144,
  // main -> appender
  AppenderLeaderStart: 150,
  AppenderEntries: 151,
  // 152 was AppenderCommit (the server told the appender a commit it now decides itself): retired.
  AppenderStepDown: 153,
  AppenderHeartbeatRound: 154,
  AppenderSend: 155,
  AppenderSnapshot: 156,
  AppenderConfiguration: 157,
  AppenderTls: 158,
  // appender -> main
  AppenderProgress: 160,
  AppenderHigherTerm: 162,
  // 164 was AppenderPeerMessage (the appender was to forward vote responses to the core; a voter
  // sends its response on its own connection, which the candidate's listener hands to the core):
  // retired, never reused.
} as const;

export type KindName = keyof typeof Kind;
export type KindNumber = (typeof Kind)[KindName];

const names = new Map<number, string>(Object.entries(Kind).map(([name, kind]) => [kind, name]));

/** The name of a kind, for log lines. */
export function kindName(kind: number): string {
  return names.get(kind) ?? `unknown(${kind})`;
}
