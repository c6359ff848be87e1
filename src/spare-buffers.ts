/**
 * Buffers kept for reuse. Batch-sized buffers that come and go (a frame per AppendEntries, a
 * record buffer per log append) are fresh memory each time if left to the allocator: pages the
 * kernel faults in and zeroes, and on a VM every fault is a hypervisor exit. A holder that knows
 * when a buffer is free again gives it back here, and the next buffer of its size class is that
 * one. Size classes are a quarter of a power of two apart (a 44.5 KiB batch takes 48 KiB).
 */
export class SpareBuffers {
  private readonly kept: Buffer[] = [];

  /**
   * @param bytesMin smallest buffer handed out
   * @param bytesMax largest size served; larger requests get a buffer of their own, never kept
   * @param keptMax buffers kept at most (the oldest kept goes first)
   */
  constructor(private readonly bytesMin: number, private readonly bytesMax: number, private readonly keptMax: number) {}

  /** The size class of `size`: the buffer length `take` hands out for it. */
  classOf(size: number): number {
    if (size <= this.bytesMin) return this.bytesMin;
    let octave = 1;
    while (octave * 2 <= size) octave *= 2;
    const step = Math.max(this.bytesMin, octave / 4);
    return Math.ceil(size / step) * step;
  }

  /** A buffer of at least `size` bytes (its whole length may be more: use the part you need). */
  take(size: number): Buffer {
    if (size > this.bytesMax) return Buffer.allocUnsafeSlow(size);
    const capacity = this.classOf(size);
    const kept = this.kept;
    for (let i = kept.length - 1; i >= 0; i--) {
      if (kept[i]!.length === capacity) {
        const buffer = kept[i]!;
        kept.splice(i, 1);
        return buffer;
      }
    }
    return Buffer.allocUnsafeSlow(capacity);
  }

  /** A buffer from `take` that its holder no longer uses. */
  giveBack(buffer: Buffer): void {
    if (buffer.length > this.bytesMax || buffer.length !== this.classOf(buffer.length)) return;
    if (this.kept.length >= this.keptMax) this.kept.shift();
    this.kept.push(buffer);
  }

  /** Buffers kept now. */
  get keptCount(): number {
    return this.kept.length;
  }
}
