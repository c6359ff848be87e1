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
  // remaining[d]: values still to read in the container open at depth d (depth 0: the frame itself).
  const remaining: number[] = [1];
  const isMap: boolean[] = [false];
  let depth = 0;
  let position = 0;
  let items = 0;
  for (;;) {
    while (remaining[depth] === 0) {
      if (depth === 0) return position === end ? null : `${end - position} trailing bytes after the message`;
      depth--;
    }
    if (position >= end) return 'frame ends inside a value';
    const keyExpected = isMap[depth]! && remaining[depth]! % 2 === 0;
    remaining[depth]!--;
    if (++items > limits.itemsMax) return `more than ${limits.itemsMax} values in one frame`;
    const byte = body[position++]!;
    const left = end - position;
    if (keyExpected && !((byte >= 0xa0 && byte <= 0xbf) || (byte >= 0xd9 && byte <= 0xdb))) return 'a map key is not a string';
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
    } else if (count >= 0) {
      const values = map ? count * 2 : count;
      if (values > end - position) {
        return `a ${map ? 'map' : 'array'} declares ${count} elements, ${end - position} bytes are left in the frame`;
      }
      if (values > 0) {
        if (depth + 1 > limits.nestingDepthMax) return `nesting deeper than ${limits.nestingDepthMax}`;
        depth++;
        remaining[depth] = values;
        isMap[depth] = map;
      }
    }
  }
}

function readLength(body: Uint8Array, position: number, width: 2 | 4): number {
  if (width === 2) return (body[position]! << 8) | body[position + 1]!;
  return body[position]! * 0x1000000 + ((body[position + 1]! << 16) | (body[position + 2]! << 8) | body[position + 3]!);
}
