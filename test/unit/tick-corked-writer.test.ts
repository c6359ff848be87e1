/**
 * The corked frame writer over a real loopback TCP connection: bodies written from one scratch
 * buffer (overwritten between writes, as the codec does) arrive intact and in order, in frames of
 * every size class, a frame too large for a kept buffer included; and once the socket is done
 * with a frame, its buffer carries a later one instead of a fresh allocation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { TickCorkedWriter } from '../../src/shell/tick-corked-writer.js';
import { FrameReader } from '../../src/messages/framing.js';

async function connectedPair(): Promise<{ client: net.Socket; server: net.Socket; close: () => void }> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as net.AddressInfo;
  const accepted = once(listener, 'connection');
  const client = net.connect({ host: '127.0.0.1', port });
  await once(client, 'connect');
  const [server] = (await accepted) as [net.Socket];
  return { client, server, close: () => { client.destroy(); server.destroy(); listener.close(); } };
}

test('writeBody: bodies from a reused scratch arrive intact and in order; buffers are reused after their write', async () => {
  const { client, server, close } = await connectedPair();
  try {
    const reader = new FrameReader(64 * 1024 * 1024);
    const received: Buffer[] = [];
    server.on('data', (chunk: Buffer) => received.push(...reader.push(chunk)));
    const writer = new TickCorkedWriter(client);
    const scratch = Buffer.alloc(5 * 1024 * 1024);
    const sizes = [1, 100, 16 * 1024 - 4, 16 * 1024, 50_000, 200_000, 4 * 1024 * 1024 + 1, 3, 70_000];
    const expected: Buffer[] = [];
    for (const [i, size] of sizes.entries()) {
      // The same scratch bytes, rewritten for every body: the writer must have copied the last one.
      scratch.fill(i + 1, 0, size);
      expected.push(Buffer.from(scratch.subarray(0, size)));
      assert.equal(writer.writeBody(scratch.subarray(0, size)), 4 + size);
      if (i % 3 === 2) await new Promise((resolve) => setImmediate(resolve));
    }
    const deadline = Date.now() + 10_000;
    while (received.length < sizes.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(received.length, sizes.length);
    for (let i = 0; i < sizes.length; i++) assert.ok(received[i]!.equals(expected[i]!), `frame ${i} of ${sizes[i]} bytes`);

    // After the writes completed, frames of a kept size class reuse the kept buffers.
    const spares = (writer as unknown as { spares: { kept: Buffer[] } }).spares.kept;
    assert.ok(spares.length > 0 && spares.length <= 4, `${spares.length} kept buffers`);
    const kept = new Set(spares.map((buffer) => buffer.buffer));
    writer.writeBody(scratch.subarray(0, 1000));
    assert.equal(spares.length, kept.size - 1, 'one kept buffer taken for the frame');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(spares.every((buffer) => kept.has(buffer.buffer)), 'the frame went out in a kept buffer, which came back');
    assert.equal(spares.length, kept.size);
  } finally {
    close();
  }
});
