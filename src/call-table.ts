/**
 * One client's calls by call id, kept sorted: the leader's retry cache and the updater's
 * exactly-once table hold one per client, and a client its calls still awaited. Shared by the
 * client, the server's request path and the updater, none of them the consensus core, so it
 * lives here beside the other modules every part uses (errors, limits, spare buffers).
 *
 * A client numbers its calls in order and they reach the log in nearly that order, so a new call
 * almost always goes at the end and the oldest leave from the front (when the client's
 * `firstUnacked` passes them). Two parallel arrays with a moving head do both without hashing and
 * without the grow-and-shrink rehashing a Map goes through under that churn (a table of a few
 * hundred calls rebuilt every few hundred writes: 16 % of the cluster's page faults and 3 % of its
 * CPU samples at 256 outstanding). A call out of order is found by binary search and inserted in
 * place.
 */
export class CallTable<V> {
  private ids: number[] = [];
  private values: V[] = [];
  /** Entries before head are dropped; compacted once they are half the arrays. */
  private head = 0;

  get size(): number {
    return this.ids.length - this.head;
  }

  /** The value of the oldest (lowest) call id, if any. */
  oldest(): V | undefined {
    return this.head < this.ids.length ? this.values[this.head] : undefined;
  }

  /** The oldest (lowest) call id held, if any. */
  oldestId(): number | undefined {
    return this.head < this.ids.length ? this.ids[this.head] : undefined;
  }

  get(callId: number): V | undefined {
    const at = this.find(callId);
    return at >= 0 ? this.values[at] : undefined;
  }

  /** Adds or replaces the value of `callId`. */
  set(callId: number, value: V): void {
    const ids = this.ids;
    const last = ids.length - 1;
    if (last < this.head || ids[last]! < callId) {
      ids.push(callId);
      this.values.push(value);
      return;
    }
    const at = this.find(callId);
    if (at >= 0) {
      this.values[at] = value;
      return;
    }
    const insertAt = -at - 1;
    ids.splice(insertAt, 0, callId);
    this.values.splice(insertAt, 0, value);
  }

  /** Removes `callId` when it holds `value` (or any value when `value` is undefined). */
  delete(callId: number, value?: V): boolean {
    const at = this.find(callId);
    if (at < 0 || (value !== undefined && this.values[at] !== value)) return false;
    if (at === this.head) {
      this.dropFront(1);
    } else {
      this.ids.splice(at, 1);
      this.values.splice(at, 1);
    }
    return true;
  }

  /**
   * Drops calls from the oldest while their id is below `callIdLimit` and `canDrop` allows,
   * stopping at the first that stays. Costs what it removes.
   */
  pruneBelow(callIdLimit: number, canDrop?: (value: V) => boolean): void {
    const ids = this.ids;
    let at = this.head;
    while (at < ids.length && ids[at]! < callIdLimit && (canDrop === undefined || canDrop(this.values[at]!))) at++;
    if (at > this.head) this.dropFront(at - this.head);
  }

  private dropFront(count: number): void {
    const values = this.values;
    // Let go of the values at once; the slots go at the next compaction.
    for (let i = this.head; i < this.head + count; i++) values[i] = undefined as V;
    this.head += count;
    if (this.head === this.ids.length) {
      this.ids.length = 0;
      values.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.ids.length) {
      this.ids = this.ids.slice(this.head);
      this.values = values.slice(this.head);
      this.head = 0;
    }
  }

  /** Every call held, oldest first: their ids and values (copies of the lists), for a snapshot. */
  entries(): { ids: number[]; values: V[] } {
    return { ids: this.ids.slice(this.head), values: this.values.slice(this.head) };
  }

  /**
   * A table holding `ids` with `values` (as `entries` gave them): ids strictly ascending, one
   * value each. The table takes the arrays.
   */
  static fromEntries<V>(ids: number[], values: V[]): CallTable<V> {
    if (ids.length !== values.length) throw new RangeError(`call table: ${ids.length} ids for ${values.length} values`);
    for (let i = 0; i < ids.length; i++) {
      if (!Number.isSafeInteger(ids[i]) || (i > 0 && ids[i]! <= ids[i - 1]!)) throw new RangeError(`call table: call id ${ids[i]} out of order`);
    }
    const table = new CallTable<V>();
    table.ids = ids;
    table.values = values;
    return table;
  }

  /** Position of `callId`, or -(insertion point) - 1 when absent. */
  private find(callId: number): number {
    const ids = this.ids;
    let low = this.head;
    let high = ids.length - 1;
    if (high < low) return -low - 1;
    // The common lookups: the newest call, or one beyond it.
    if (ids[high] === callId) return high;
    if (ids[high]! < callId) return -(high + 1) - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const found = ids[middle]!;
      if (found === callId) return middle;
      if (found < callId) low = middle + 1;
      else high = middle - 1;
    }
    return -low - 1;
  }
}
