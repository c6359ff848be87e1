/**
 * A replica that loses what it had acknowledged, against three real server processes under a
 * steady write load: a follower restarted on an empty data directory (a replaced disk), and one
 * whose last log record was damaged on disk and is cut at restart. Each must catch up from the
 * leader that stays in office (no election may be needed to unstick it), count again toward the
 * majority (writes go on with the other follower down), and a cut tail is reported in the log, in
 * `status` and in the metrics.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { LocalCluster, sleep, withTimeout, type LocalNode } from '../../src/cluster/local-cluster.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { kv } from '../../src/client/kv.js';
import type { DivisionStatus } from '../../src/messages/messages.js';
import { parseSegmentName, recordOffsets } from '../../src/log/log-record.js';
import { SteadyWriter } from '../support/hostile-cluster.js';
import { testPort } from '../support/ports.js';

let dir: string;
let cluster: LocalCluster;
let client: RaftClient;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-replica-loss-'));
  // Long election timeouts: a loaded machine must not elect a new leader, which would unstick a
  // follower for another reason than the one under test.
  cluster = new LocalCluster({
    nodes: 3, dir, basePort: testPort(19701), actors: 'workers', logLevel: 'warn', logFile: path.join(dir, 'servers.log'),
    limits: { electionTicksMin: 40, electionTicksMax: 80 },
  });
  cluster.startAll();
  await cluster.waitForLeader(30_000);
  client = await RaftClient.connect({ peers: cluster.addresses, requestTimeoutMs: 15_000 });
});

after(async () => {
  await client?.close();
  await cluster?.stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

const caseTimeout = { timeout: 90_000 };

async function statusOf(node: LocalNode): Promise<DivisionStatus> {
  return withTimeout(client.status(node.address), 5000);
}

/**
 * Waits until `node` has applied everything the leader had committed when the wait began, and,
 * with `whole`, holds, commits and applies the leader's whole log (only once writes have stopped:
 * under load a follower's commit index trails the leader's by a heartbeat). Returns its status.
 */
async function caughtUp(node: LocalNode, leader: LocalNode, timeoutMs: number, whole = true): Promise<DivisionStatus> {
  const deadline = performance.now() + timeoutMs;
  const target = (await statusOf(leader)).commit;
  for (;;) {
    const [mine, theirs] = await Promise.all([statusOf(node).catch(() => null), statusOf(leader)]);
    if (mine !== null && mine.applied >= target &&
        (!whole || (mine.applied === theirs.commit && mine.commit === theirs.commit && mine.lastIndex >= theirs.commit))) return mine;
    assert.ok(performance.now() < deadline,
      `${node.id} did not catch up within ${timeoutMs} ms: ${JSON.stringify(mine && { commit: mine.commit, applied: mine.applied, lastIndex: mine.lastIndex })}, leader commit ${theirs.commit}`);
    await sleep(100);
  }
}

async function put(count: number, prefix: string): Promise<void> {
  const store = kv(client);
  for (let i = 0; i < count; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, k) => store.put(`${prefix}-${i + k}`, 'v')));
  }
}

/** The leader, its term, and the two followers. */
async function roles(): Promise<{ leader: LocalNode; term: number; followers: LocalNode[] }> {
  const leader = await cluster.waitForLeader(30_000);
  const { term } = await statusOf(leader);
  return { leader, term, followers: cluster.nodes.filter((node) => node !== leader) };
}

/** Restarts a node killed earlier and checks the other follower can then go: the leader and it are a majority. */
async function majorityWithout(other: LocalNode, prefix: string): Promise<void> {
  cluster.kill(other.id);
  await cluster.waitExit(other.id);
  try {
    await withTimeout(put(20, prefix), 20_000);
  } finally {
    cluster.start(other.id);
  }
}

test('a follower restarted on an empty data directory catches up from the same leader and counts toward the majority again', caseTimeout, async () => {
  const { leader, term, followers } = await roles();
  const [wiped, other] = followers as [LocalNode, LocalNode];
  await put(300, 'before-wipe');
  await caughtUp(wiped, leader, 20_000);
  const resetsBefore = (await client.metrics(leader.address)).counters['followerLogResets']!;
  const writer = new SteadyWriter(client);
  writer.start();
  try {
    cluster.kill(wiped.id);
    await cluster.waitExit(wiped.id);
    fs.rmSync(wiped.dir, { recursive: true, force: true });
    cluster.start(wiped.id);
    await writer.more(50);
    // Under the writer's load: everything committed when the wait began is applied there.
    const status = await caughtUp(wiped, leader, 20_000, false);
    assert.ok(status.lastIndex > 300, `${wiped.id} holds the log again (last index ${status.lastIndex})`);
  } finally {
    await writer.stop();
  }
  await caughtUp(wiped, leader, 20_000);
  const now = await statusOf(leader);
  assert.deepEqual([now.role, now.term], ['leader', term], 'the same leader, in the same term: no election was needed');
  const metrics = await client.metrics(leader.address);
  assert.ok(metrics.counters['followerLogResets']! > resetsBefore, 'the leader counted the follower that lost its log');
  assert.equal(metrics.followers[wiped.id]!.matchIndex, now.lastIndex, 'and reports its match afresh');
  // The leader and the wiped follower alone are a majority: writes go on without the other one.
  await majorityWithout(other, 'after-wipe');
  await caughtUp(other, leader, 20_000);
});

test('a follower whose damaged last record is cut at restart says so (log, status, metrics) and catches up', caseTimeout, async () => {
  const { leader, term, followers } = await roles();
  const [damaged, other] = followers as [LocalNode, LocalNode];
  await put(100, 'before-damage');
  const before = await caughtUp(damaged, leader, 20_000);
  cluster.kill(damaged.id);
  await cluster.waitExit(damaged.id);
  const groupDir = path.join(damaged.dir, 'default', 'current');
  const segment = fs.readdirSync(groupDir).map(parseSegmentName).filter((name) => name !== null)
    .sort((a, b) => b!.firstIndex - a!.firstIndex)[0]!;
  const file = path.join(groupDir, segment.fileName);
  const bytes = fs.readFileSync(file);
  const offsets = recordOffsets(bytes);
  assert.equal(segment.firstIndex + offsets.length - 1, before.lastIndex, 'the last record on disk is the last entry');
  const lastOffset = offsets.at(-1)!;
  bytes[lastOffset + 30] = bytes[lastOffset + 30]! ^ 0xff;
  fs.writeFileSync(file, bytes);
  cluster.start(damaged.id);
  const status = await caughtUp(damaged, leader, 20_000);
  const cut = status.logTailCut;
  assert.ok(cut !== null, 'status reports the cut');
  assert.deepEqual([cut.file, cut.offset, cut.firstIndex, cut.lastIndex], [file, lastOffset, before.lastIndex, before.lastIndex]);
  assert.equal(cut.reason, 'checksum mismatch');
  const counters = (await client.metrics(damaged.address)).counters;
  assert.deepEqual([counters['logTailCuts'], counters['entriesCutAtRecovery']], [1, 1]);
  const log = fs.readFileSync(path.join(dir, 'servers.log'), 'utf8');
  assert.match(log, new RegExp(`log recovery cut a damaged tail: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} from byte ${lastOffset}, entries ${before.lastIndex}-${before.lastIndex} dropped`));
  const now = await statusOf(leader);
  assert.deepEqual([now.role, now.term], ['leader', term], 'the same leader, in the same term');
  await majorityWithout(other, 'after-damage');
  await caughtUp(other, leader, 20_000);
});
