/**
 * Trust between real processes over real TLS on 127.0.0.1: a 3-server cluster made from
 * `raftline certs create` serves writes and reads to TLS clients (API and command line), and
 * hostile connections change no term, leader or log (the hostile fixture's checks around each
 * case) and are each counted under their reason: a peer certificate of another CA, a valid
 * certificate for one server saying hello as another, plaintext frames (a forged vote with a huge
 * term among them), a handshake that stalls, no client certificate; and a client whose certificate
 * grants `read` is answered PERMISSION_DENIED for a write or an admin call, nothing appended.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { testPort } from '../support/ports.js';
import { errorOf, HostileCluster } from '../support/hostile-cluster.js';
import { RawConnection } from '../support/raw-connection.js';
import { runCli } from '../support/cli.js';
import { Kind } from '../../src/messages/kinds.js';
import { encodeFrame } from '../../src/messages/framing.js';
import { clientTlsFromDir, withTimeout, type LocalNode } from '../../src/cluster/local-cluster.js';
import { RaftClient } from '../../src/client/raft-client.js';
import { kv } from '../../src/client/kv.js';
import { PermissionDeniedError, type RaftlineError } from '../../src/errors.js';
import { formatPrometheus } from '../../src/metrics/prometheus.js';
import { termMax } from '../../src/limits.js';
import type { TlsRefusalReason } from '../../src/shell/tls-identity.js';
import { checkTlsMaterial, tlsRefusalCounter } from '../../src/shell/tls-identity.js';
import { issueCertificate } from '../../src/cluster/dev-certificates.js';

let hostile: HostileCluster;
let work: string;
let certs: string;
let otherCa: string;

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'raftline-tls-'));
  certs = path.join(work, 'certs');
  otherCa = path.join(work, 'other');
  for (const out of [certs, otherCa]) {
    const made = await runCli(['certs', 'create', '--nodes', '3', '--out', out], { timeoutMs: 30_000 });
    assert.equal(made.code, 0, made.stderr);
  }
  hostile = await HostileCluster.start(testPort(20771), certs);
});

after(async () => {
  await hostile?.stop();
  if (work !== undefined) fs.rmSync(work, { recursive: true, force: true });
});

const caseTimeout = { timeout: 90_000 };
const pem = (dir: string, name: string): string => fs.readFileSync(path.join(dir, name), 'utf8');
const certificateOf = (dir: string, stem: string): { cert: string; key: string } => ({ cert: pem(dir, `${stem}.pem`), key: pem(dir, `${stem}-key.pem`) });

async function counters(node: LocalNode): Promise<Record<string, number>> {
  return (await withTimeout(hostile.client.metrics(node.address), 5000)).counters;
}

/** Runs `body`, then expects `node`'s counter of `reason` to have grown by at least `times`. */
async function counted(node: LocalNode, reason: TlsRefusalReason, times: number, body: () => Promise<void>): Promise<void> {
  const name = tlsRefusalCounter(reason);
  const before = (await counters(node))[name]!;
  await body();
  const deadline = Date.now() + 3000;
  let now = (await counters(node))[name]!;
  while (now - before < times && Date.now() < deadline) now = (await counters(node))[name]!;
  assert.ok(now - before >= times, `${node.id}: ${name} went from ${before} to ${now}, expected +${times}`);
}

/** Expects the server to close `connection` within 4 s, having sent nothing but refusals. */
async function expectClosed(connection: RawConnection, what: string, frames: Uint8Array[] = []): Promise<void> {
  try {
    for (const frame of frames) connection.write(frame);
    await connection.closed(4000).catch((error: Error) => assert.fail(`${what}: ${error.message}`));
    for (const reply of connection.replies) {
      assert.equal(reply['k'], Kind.Refused, `${what}: the server answered ${JSON.stringify(reply)}`);
      assert.equal(errorOf(reply).code, 'PERMISSION_DENIED', what);
    }
  } finally {
    connection.destroy();
  }
}

const hugeVote = (from: string): Uint8Array =>
  encodeFrame({ k: Kind.VoteRequest, g: 'default', from, preVote: false, term: termMax - 1, candidateId: from, lastIndex: 1_000_000, lastTerm: termMax - 1 });
const hugeVoteResponse = (from: string): Uint8Array =>
  encodeFrame({ k: Kind.VoteResponse, g: 'default', from, preVote: false, term: termMax - 1, granted: false });

test('a TLS cluster made by raftline certs create serves writes and reads, and says its connections are authenticated', caseTimeout, async () => {
  const leader = await hostile.leader();
  const store = kv(hostile.client);
  await store.put('tls-key', 'tls-value');
  assert.equal(await store.get('tls-key'), 'tls-value');
  const reader = await RaftClient.connect({ peers: hostile.cluster.addresses, requestTimeoutMs: 10_000, tls: clientTlsFromDir(certs, 'reader') });
  try {
    assert.equal(await kv(reader).get('tls-key'), 'tls-value');
  } finally {
    await reader.close();
  }
  const peers = hostile.cluster.addresses.join(',');
  const flags = ['--peers', peers, '--tls-ca', path.join(certs, 'ca.pem'), '--tls-cert', path.join(certs, 'writer.pem'), '--tls-key', path.join(certs, 'writer-key.pem')];
  const put = await runCli(['kv', 'put', 'cli-key', 'cli-value', ...flags]);
  assert.equal(put.code, 0, put.stderr);
  const got = await runCli(['kv', 'get', 'cli-key', ...flags]);
  assert.equal(got.code, 0, got.stderr);
  assert.equal(JSON.parse(got.stdout), 'cli-value');
  for (const status of await hostile.statuses()) assert.equal(status.tls, true, status.id);
  const metrics = await hostile.client.metrics(leader.address);
  assert.ok(metrics.gauges['tlsMemberConnections']! >= 1, `the leader holds authenticated member connections: ${metrics.gauges['tlsMemberConnections']}`);
  assert.ok(metrics.gauges['tlsClientConnections']! >= 1, 'and authenticated client connections');
  assert.match(formatPrometheus(metrics), /raftline_tls_handshakes_refused_total\{server="n\d",reason="plaintext"\} \d+/);
});

test('peers that cannot prove who they are are closed before any message is taken, and counted by reason', caseTimeout, async () => {
  const leader = await hostile.leader();
  const follower = await hostile.follower();
  const ca = pem(certs, 'ca.pem');
  await hostile.attack(leader, async () => {
    // A server certificate from another CA, saying hello in a follower's name.
    await counted(leader, 'badCertificate', 1, async () => {
      await expectClosed(await RawConnection.openTls(leader.address, { ...certificateOf(otherCa, follower.id), ca }), 'a certificate of another CA',
        [encodeFrame({ k: Kind.PeerHello, g: 'default', from: follower.id }), hugeVoteResponse(follower.id)]);
    });
    // A valid certificate for one server, claiming to be another in its hello.
    const other = hostile.cluster.nodes.find((node) => node.id !== leader.id && node.id !== follower.id)!;
    await counted(leader, 'wrongId', 1, async () => {
      await expectClosed(await RawConnection.openTls(leader.address, { ...certificateOf(certs, follower.id), ca }), `${follower.id}'s certificate saying hello as ${other.id}`,
        [encodeFrame({ k: Kind.PeerHello, g: 'default', from: other.id }), hugeVoteResponse(other.id)]);
    });
    // A client's certificate cannot say hello as a server.
    await counted(leader, 'notPeer', 1, async () => {
      await expectClosed(await RawConnection.openTls(leader.address, { ...certificateOf(certs, 'client'), ca }), 'a client certificate saying hello',
        [encodeFrame({ k: Kind.PeerHello, g: 'default', from: follower.id }), hugeVoteResponse(follower.id)]);
    });
    // No certificate at all.
    await counted(follower, 'noCertificate', 1, async () => {
      await expectClosed(await RawConnection.openTls(follower.address, { ca }), 'a connection without a certificate',
        [encodeFrame({ k: Kind.PeerHello, g: 'default', from: leader.id }), hugeVote(leader.id)]);
    });
    // Plaintext: a forged hello and RequestVote with a huge term from an unauthenticated socket, to each server.
    for (const node of hostile.cluster.nodes) {
      const claimed = node.id === leader.id ? follower.id : leader.id;
      await counted(node, 'plaintext', 1, async () => {
        const connection = await RawConnection.open(node.address);
        try {
          connection.write(Buffer.concat([encodeFrame({ k: Kind.PeerHello, g: 'default', from: claimed }), hugeVote(claimed)]));
          await connection.closed(4000);
          // One plaintext frame says why, before the close: a plaintext client fails at once.
          assert.equal(connection.replies.length, 1, 'one frame answers plaintext');
          const refused = connection.replies[0] as unknown as { k: number; error: { code: string; details: { reason: string } } };
          assert.equal(refused.k, Kind.Refused);
          assert.equal(refused.error.code, 'PERMISSION_DENIED');
          assert.equal(refused.error.details.reason, 'plaintext');
        } finally {
          connection.destroy();
        }
      });
    }
    // A handshake that starts and stalls (the first bytes of a TLS record, then nothing).
    await counted(follower, 'timeout', 1, async () => {
      const socket = net.connect({ host: '127.0.0.1', port: Number(follower.address.split(':')[1]) });
      socket.on('error', () => {});
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02]));
      const started = Date.now();
      await new Promise((resolve) => socket.once('close', resolve));
      const ms = Date.now() - started;
      assert.ok(ms < 5000, `the stalled handshake was closed after ${ms} ms`);
    });
  });
  for (const status of await hostile.statuses()) assert.equal(status.termCeilingReached, false, status.id);
});

test('an expired certificate from the right CA, naming a member, is refused at the handshake and counted; nothing changes', caseTimeout, async () => {
  const leader = await hostile.leader();
  const follower = await hostile.follower();
  const expired = path.join(work, 'expired');
  fs.mkdirSync(expired, { recursive: true });
  for (const file of ['ca.pem', 'ca-key.pem']) fs.copyFileSync(path.join(certs, file), path.join(expired, file));
  issueCertificate(expired, follower.id, follower.id, [`URI:raftline://peer/${follower.id}`], 0);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const before = (await hostile.statuses()).find((status) => status?.id === leader.id)!;
  await hostile.attack(leader, async () => {
    await counted(leader, 'badCertificate', 1, async () => {
      await expectClosed(await RawConnection.openTls(leader.address, { ...certificateOf(expired, follower.id), ca: pem(certs, 'ca.pem') }),
        'an expired certificate', [encodeFrame({ k: Kind.PeerHello, g: 'default', from: follower.id }), hugeVoteResponse(follower.id)]);
    });
  });
  const after = (await hostile.statuses()).find((status) => status?.id === leader.id)!;
  assert.equal(after.term, before.term, 'the term did not move');
  assert.equal(after.role, 'leader');
});

test('a flood of stalled handshakes is bounded and timed out, counted, while the group goes on serving', caseTimeout, async () => {
  const leader = await hostile.leader();
  const [host, port] = [leader.address.slice(0, leader.address.lastIndexOf(':')), Number(leader.address.slice(leader.address.lastIndexOf(':') + 1))];
  const before = (await counters(leader))[tlsRefusalCounter('timeout')]!;
  const sockets: net.Socket[] = [];
  try {
    // More than the bound of sockets the port takes at once (2 × connectionsMax = 96 here).
    for (let i = 0; i < 150; i++) {
      const socket = net.connect({ host, port });
      socket.on('error', () => {});
      socket.once('connect', () => socket.write(Buffer.from([0x16, 0x03, 0x01, 0x02])));
      sockets.push(socket);
    }
    // Meanwhile a client's writes go through.
    await kv(hostile.client).put('during-flood', 'yes');
    assert.equal(await kv(hostile.client).get('during-flood'), 'yes');
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !sockets.every((socket) => socket.destroyed || socket.readableEnded)) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(sockets.every((socket) => socket.destroyed || socket.readableEnded), 'every stalled socket was closed');
    // Those over the bound were closed at once; those taken were timed out and counted.
    const timedOut = (await counters(leader))[tlsRefusalCounter('timeout')]! - before;
    assert.ok(timedOut >= 50 && timedOut < 150, `${timedOut} of 150 stalled handshakes were timed out and counted, the rest refused at the bound`);
  } finally {
    for (const socket of sockets) socket.destroy();
  }
});

test('a plaintext client of a TLS group fails at once with PERMISSION_DENIED, not at its deadline', caseTimeout, async () => {
  const plain = await RaftClient.connect({ peers: hostile.cluster.addresses, requestTimeoutMs: 20_000 });
  try {
    const started = Date.now();
    await assert.rejects(kv(plain).put('plaintext-key', 'v'), (error: RaftlineError) => error.code === 'PERMISSION_DENIED' && /TLS connections only/.test(error.message));
    const ms = Date.now() - started;
    assert.ok(ms < 5000, `refused after ${ms} ms`);
  } finally {
    await plain.close();
  }
});

test('a client whose certificate grants read gets PERMISSION_DENIED for a write or an admin call, and nothing is appended', caseTimeout, async () => {
  const leader = await hostile.leader();
  const reader = await RaftClient.connect({ peers: hostile.cluster.addresses, requestTimeoutMs: 10_000, tls: clientTlsFromDir(certs, 'reader') });
  try {
    // Refused by whichever server the call reached (the role is checked before leadership).
    const denied = async (): Promise<number> => {
      let sum = 0;
      for (const node of hostile.cluster.nodes) sum += (await counters(node))['permissionDenied']!;
      return sum;
    };
    const deniedBefore = await denied();
    await hostile.attack(leader, async () => {
      await assert.rejects(kv(reader).put('forbidden', 'x'), (error: Error) => error instanceof PermissionDeniedError && /needs write/.test(error.message));
      await assert.rejects(reader.admin().pauseElection(leader.address), PermissionDeniedError);
      await assert.rejects(reader.admin().stepDown(), PermissionDeniedError);
      await assert.rejects(reader.admin().snapshot(leader.address), PermissionDeniedError);
      await assert.rejects(reader.metrics(leader.address, { reset: true }), PermissionDeniedError);
      // What read allows still works.
      assert.equal((await reader.admin().configuration(leader.address)).voters.length, 3);
      assert.equal(await kv(reader).get('forbidden'), null);
    });
    assert.ok(await denied() - deniedBefore >= 5, 'each denial is counted');
    assert.equal((await hostile.statusOf(leader)).electionPaused, false);
  } finally {
    await reader.close();
  }
});

/** The SHA-256 fingerprint of the certificate a TLS connection to `address` is shown. */
function servedFingerprint(address: string): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, ...certificateOf(certs, 'client'), ca: pem(certs, 'ca.pem'), checkServerIdentity: () => undefined }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

test('SIGHUP reloads a renewed certificate (new connections get it); a key that is not the certificate\'s is refused and the old one stays', caseTimeout, async () => {
  const node = await hostile.follower();
  const before = await servedFingerprint(node.address);
  // Renewed: a new key and certificate for the same id, from the same CA, where the server reads its files.
  issueCertificate(certs, node.id, node.id, [`URI:raftline://peer/${node.id}`, 'DNS:localhost', 'IP:127.0.0.1']);
  const renewed = new X509Certificate(pem(certs, `${node.id}.pem`)).fingerprint256;
  assert.notEqual(renewed, before);
  node.process!.kill('SIGHUP');
  const deadline = Date.now() + 5000;
  let served = before;
  while (served !== renewed && Date.now() < deadline) served = await servedFingerprint(node.address);
  assert.equal(served, renewed, 'new connections are shown the renewed certificate');
  // A key that is not the certificate's: refused, logged, the renewed certificate still served.
  const keyFile = path.join(certs, `${node.id}-key.pem`);
  const goodKey = pem(certs, `${node.id}-key.pem`);
  const other = hostile.cluster.nodes.find((each) => each.id !== node.id)!;
  fs.writeFileSync(keyFile, pem(certs, `${other.id}-key.pem`));
  try {
    node.process!.kill('SIGHUP');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(await servedFingerprint(node.address), renewed);
  } finally {
    fs.writeFileSync(keyFile, goodKey);
  }
  // The group still works, the reloaded server in it (its peers dial it with the same CA).
  const leader = await hostile.leader();
  await kv(hostile.client).put('after-reload', 'yes');
  assert.equal((await hostile.statuses()).find((status) => status?.id === node.id)?.leader, leader.id);
});

test('TLS material that cannot be used is refused at once with CONFIGURATION, naming the mismatch', () => {
  const mismatched = { cert: pem(certs, 'n1.pem'), key: pem(certs, 'n2-key.pem'), ca: pem(certs, 'ca.pem') };
  assert.throws(() => checkTlsMaterial(mismatched, 'test'), (error: RaftlineError) => error.code === 'CONFIGURATION' && /the key is not the certificate's/.test(error.message));
  assert.doesNotThrow(() => checkTlsMaterial({ cert: pem(certs, 'n1.pem'), key: pem(certs, 'n1-key.pem'), ca: pem(certs, 'ca.pem') }, 'test'));
  assert.throws(() => checkTlsMaterial({ cert: 'not a PEM', key: pem(certs, 'n1-key.pem'), ca: pem(certs, 'ca.pem') }, 'test'),
    (error: RaftlineError) => error.code === 'CONFIGURATION');
});
