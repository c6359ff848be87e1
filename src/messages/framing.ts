/**
 * TCP framing: each frame is a u32 big-endian body length followed by a msgpack body. The reader
 * accepts arbitrary chunk boundaries and refuses a frame over the size limit before buffering it,
 * so a bad peer cannot make the server hold an unbounded amount of memory.
 */
import { encodeView } from './codec.js';
import { MalformedMessageError } from '../errors.js';

export const frameHeaderBytes = 4;

/** Encodes a value as one frame (header + body) in a fresh buffer. */
export function encodeFrame(value: unknown): Buffer {
  const body = encodeView(value);
  return frameOfBody(body);
}

/** Wraps an already-packed body in a frame. */
export function frameOfBody(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(frameHeaderBytes + body.length);
  frame.writeUInt32BE(body.length, 0);
  frame.set(body, frameHeaderBytes);
  return frame;
}

/**
 * Splits a byte stream into frame bodies. `push` returns the complete bodies in order. Chunks of a
 * frame are only joined once the whole frame is there, so a large frame arriving in many chunks
 * is copied once, not once per chunk.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  /** Header plus body of the frame being received; 0 until its header is complete. */
  private frameBytes = 0;

  constructor(private readonly frameBytesMax: number) {}

  /** Bytes of a frame that has begun but is not complete (0 between frames). */
  get partialBytes(): number {
    return this.bufferedBytes;
  }

  /**
   * Returns the bodies completed by this chunk; throws MalformedMessageError on a frame with an
   * empty body or over the size limit, as soon as its header is read.
   */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.bufferedBytes += chunk.length;
    const bodies: Buffer[] = [];
    if (this.bufferedBytes < (this.frameBytes === 0 ? frameHeaderBytes : this.frameBytes)) return bodies;
    let buffer = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bufferedBytes);
    let offset = 0;
    this.frameBytes = 0;
    while (buffer.length - offset >= frameHeaderBytes) {
      const bodyLength = buffer.readUInt32BE(offset);
      if (bodyLength > this.frameBytesMax || bodyLength === 0) {
        throw new MalformedMessageError(
          bodyLength === 0 ? 'frame with an empty body' : `frame of ${bodyLength} bytes is over the limit of ${this.frameBytesMax} bytes`,
          { sizeBytes: bodyLength, limitBytes: this.frameBytesMax });
      }
      const end = offset + frameHeaderBytes + bodyLength;
      if (end > buffer.length) {
        this.frameBytes = frameHeaderBytes + bodyLength;
        break;
      }
      bodies.push(buffer.subarray(offset + frameHeaderBytes, end));
      offset = end;
    }
    buffer = buffer.subarray(offset);
    this.chunks = buffer.length > 0 ? [buffer] : [];
    this.bufferedBytes = buffer.length;
    return bodies;
  }
}
