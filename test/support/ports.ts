/**
 * Test ports. Every fixed port in the tests goes through `testPort`, so several checkouts can run
 * their suites side by side on one machine: `RAFTLINE_TEST_PORT_OFFSET=2000 npm test`.
 */
const offset = Number(process.env.RAFTLINE_TEST_PORT_OFFSET ?? '0');
if (!Number.isSafeInteger(offset) || offset < 0 || offset > 40_000) {
  throw new Error(`RAFTLINE_TEST_PORT_OFFSET must be an integer from 0 to 40000, got ${process.env.RAFTLINE_TEST_PORT_OFFSET}`);
}

export function testPort(port: number): number {
  return port + offset;
}
