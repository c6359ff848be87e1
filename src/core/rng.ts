/**
 * The seeded pseudo-random generator the core draws its election timeouts from. The core has no
 * randomness of its own (STYLE.md: no global randomness, unlike etcd's `globalRand`), so a run is
 * replayed exactly from its seed. mulberry32: 32 bits of state, fast, and good enough to spread
 * election timeouts; it is not meant for anything cryptographic.
 */

import { assert } from '../errors.js';
import type { Rng } from './types.js';

export class SeededRng implements Rng {
  private state: number;

  constructor(seed: number) {
    assert(Number.isInteger(seed), `rng seed must be an integer, got ${seed}`);
    this.state = seed | 0;
  }

  /** The next 32-bit unsigned integer (mulberry32). */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / 0x1_0000_0000;
  }

  /** An integer in [min, max], both inclusive. */
  intBetween(min: number, max: number): number {
    assert(Number.isInteger(min) && Number.isInteger(max) && min <= max, `bad range [${min}, ${max}]`);
    return min + Math.floor(this.nextFloat() * (max - min + 1));
  }
}
