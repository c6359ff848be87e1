/** The error registry: codes are unique and stable, survive the wire, and agree with docs/errors.md. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorClasses, errorFromWire, errorToWire, NotLeaderError, RaftlineError } from '../../src/errors.js';

const errorsPage = fs.readFileSync(fileURLToPath(new URL('../../../docs/errors.md', import.meta.url)), 'utf8');

test('every registered class carries its own code and round-trips through the wire form', () => {
  for (const [code, cls] of Object.entries(errorClasses)) {
    const error = new cls(`a ${code}`, { n: 1 });
    assert.equal(error.code, code);
    assert.ok(error instanceof RaftlineError);
    const rebuilt = errorFromWire(JSON.parse(JSON.stringify(errorToWire(error))));
    assert.equal(rebuilt.constructor, cls);
    assert.equal(rebuilt.code, code);
    assert.equal(rebuilt.message, `a ${code}`);
    assert.deepEqual(rebuilt.details, { n: 1 });
  }
});

test('NotLeader keeps its leader hint across the wire', () => {
  const rebuilt = errorFromWire(new NotLeaderError('no', { leaderId: 'n2', leaderAddress: '127.0.0.1:7102' }).toWire());
  assert.ok(rebuilt instanceof NotLeaderError);
  assert.equal(rebuilt.leaderId, 'n2');
  assert.equal(rebuilt.leaderAddress, '127.0.0.1:7102');
});

test('an unknown code is kept, not turned into another', () => {
  const rebuilt = errorFromWire({ code: 'SOMETHING_NEW', message: 'm' });
  assert.equal(rebuilt.code, 'SOMETHING_NEW');
  assert.equal(rebuilt.constructor, RaftlineError);
});

test('the error table (docs/errors.md) and the registry list the same codes and classes', () => {
  const rows = [...errorsPage.matchAll(/^\| `([A-Z_]+)` \| `([A-Za-z]+)` \|/gm)].map((match): [string, string] => [match[1]!, match[2]!]);
  const documented = new Map(rows);
  assert.equal(documented.size, rows.length, 'no code documented twice');
  assert.deepEqual([...documented.keys()].sort(), Object.keys(errorClasses).sort());
  for (const [code, className] of documented) assert.equal(errorClasses[code]!.name, className, code);
});
