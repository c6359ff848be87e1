/**
 * The first check of the gateway: a walk over a frame body's msgpack structure before anything
 * is decoded. msgpackr trusts what a frame declares: an array header of 2^32 - 1 elements makes
 * it allocate for them before it finds the bytes missing, a run of one-byte empty arrays decodes
 * into tens of bytes of memory each, and ten thousand nested arrays exhaust its recursion. This
 * walk allocates nothing and refuses, per frame:
 *   - a declared element count or length beyond the bytes left in the frame (every element takes
 *     at least one byte, every map pair two);
 *   - nesting deeper than `nestingDepthMax`, and more than `itemsMax` values in all;
 *   - msgpack extension types and the never-used byte 0xc1 (raftline sends neither, so msgpackr's
 *     extension handlers are never reached from a socket);
 *   - map keys that are not strings, a top level that is not a map, trailing bytes.
 * Its cost is one step per msgpack value: a string or binary payload is skipped by its length,
 * so a batch of entries costs two steps per entry whatever their size.
 */

export interface FrameShapeLimits {
  nestingDepthMax: number;
  itemsMax: number;
}

/**
 * Returns null when `body` is one well-shaped msgpack map within the limits, otherwise the
 * reason it is refused.
 */
export function frameShapeProblem(body: Uint8Array, limits: FrameShapeLimits): string | null {
  const end = body.length;
  if (end === 0) return 'empty frame';
  const first = body[0]!;
  if (!((first >= 0x80 && first <= 0x8f) || first === 0xde || first === 0xdf)) return 'frame is not a message map';
  // The container being read: values still to read in it, and whether it is a map. The
  // enclosing ones wait on the stacks (depth 0: the frame itself, one value).
  const remainingStack: number[] = [];
  const isMapStack: boolean[] = [];
  let remaining = 1;
  let inMap = false;
  let position = 0;
  let items = 0;
  for (;;) {
    if (remaining === 0) {
      if (remainingStack.length === 0) return position === end ? null : `${end - position} trailing bytes after the message`;
      remaining = remainingStack.pop()!;
      inMap = isMapStack.pop()!;
      continue;
    }
    if (position >= end) return 'frame ends inside a value';
    const keyExpected = inMap && remaining % 2 === 0;
    remaining--;
    if (++items > limits.itemsMax) return `more than ${limits.itemsMax} values in one frame`;
    const byte = body[position++]!;
    if (keyExpected) {
      if (!((byte >= 0xa0 && byte <= 0xbf) || (byte >= 0xd9 && byte <= 0xdb))) return 'a map key is not a string';
    } else if (byte <= 0x7f || byte >= 0xe0) {
      continue; // fixint: the byte is the value (the commonest value, e.g. every entry's term)
    } else if (byte === 0xc4 && position < end) {
      // bin8, the commonest payload (an entry under 256 bytes)
      const skipBytes = 1 + body[position]!;
      if (skipBytes > end - position) return `a value declares ${skipBytes} bytes, ${end - position} are left in the frame`;
      position += skipBytes;
      continue;
    }
    const left = end - position;
    let count = -1; // elements of a container opened by this byte
    let map = false;
    let skip = 0; // bytes of payload after the type byte
    if (byte <= 0x7f || byte >= 0xe0 || byte === 0xc0 || byte === 0xc2 || byte === 0xc3) {
      // fixint, nil, false, true: the byte is the value
    } else if (byte <= 0x8f) {
      count = byte & 0x0f;
      map = true;
    } else if (byte <= 0x9f) {
      count = byte & 0x0f;
    } else if (byte <= 0xbf) {
      skip = byte & 0x1f;
    } else {
      switch (byte) {
        case 0xc4: case 0xd9: // bin8, str8
          if (left < 1) return 'frame ends inside a length';
          skip = 1 + body[position]!;
          break;
        case 0xc5: case 0xda: // bin16, str16
          if (left < 2) return 'frame ends inside a length';
          skip = 2 + readLength(body, position, 2);
          break;
        case 0xc6: case 0xdb: // bin32, str32
          if (left < 4) return 'frame ends inside a length';
          skip = 4 + readLength(body, position, 4);
          break;
        case 0xca: case 0xce: case 0xd2: skip = 4; break; // float32, uint32, int32
        case 0xcb: case 0xcf: case 0xd3: skip = 8; break; // float64, uint64, int64
        case 0xcc: case 0xd0: skip = 1; break; // uint8, int8
        case 0xcd: case 0xd1: skip = 2; break; // uint16, int16
        case 0xdc: case 0xde: // array16, map16
          if (left < 2) return 'frame ends inside a count';
          count = readLength(body, position, 2);
          position += 2;
          map = byte === 0xde;
          break;
        case 0xdd: case 0xdf: // array32, map32
          if (left < 4) return 'frame ends inside a count';
          count = readLength(body, position, 4);
          position += 4;
          map = byte === 0xdf;
          break;
        default:
          return byte === 0xc1 ? 'byte 0xc1 is never used in msgpack' : `msgpack extension type 0x${byte.toString(16)} is not accepted`;
      }
    }
    if (skip > 0) {
      if (skip > end - position) return `a value declares ${skip} bytes, ${end - position} are left in the frame`;
      position += skip;
    } else if (count > 0) {
      const values = map ? count * 2 : count;
      if (values > end - position) {
        return `${map ? 'a map' : 'an array'} declares ${count} elements, ${end - position} bytes are left in the frame`;
      }
      if (remainingStack.length + 1 > limits.nestingDepthMax) return `nesting deeper than ${limits.nestingDepthMax}`;
      remainingStack.push(remaining);
      isMapStack.push(inMap);
      remaining = values;
      inMap = map;
    }
  }
}

function readLength(body: Uint8Array, position: number, width: 2 | 4): number {
  if (width === 2) return (body[position]! << 8) | body[position + 1]!;
  return body[position]! * 0x1000000 + ((body[position + 1]! << 16) | (body[position + 2]! << 8) | body[position + 3]!);
}
