/**
 * SHA-256 (FIPS 180-4), synchronous and allocation-free, for the hash of docs/hashing.md.
 *
 * Why not WebCrypto: `crypto.subtle.digest` is asynchronous, and `assign` must answer
 * synchronously. Why not `node:crypto`: it is not in every runtime this SDK targets (edge
 * workers, browsers), and for the short messages assignment hashes (a salt, one byte, a user id)
 * this code is faster than `createHash` (bench/js_assign.mjs measures both).
 *
 * Only the first 8 bytes of the digest are needed, so `top53` answers them as the 53-bit integer
 * of the specification rather than building the digest.
 */

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const INITIAL = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

const state = new Int32Array(8);
const words = new Int32Array(64);

function compress(block: Uint8Array, offset: number): void {
  const w = words;
  for (let i = 0; i < 16; i++) {
    const j = offset + i * 4;
    w[i] = (block[j]! << 24) | (block[j + 1]! << 16) | (block[j + 2]! << 8) | block[j + 3]!;
  }
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15]!;
    const b = w[i - 2]!;
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  let f = state[5]!;
  let g = state[6]!;
  let h = state[7]!;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
  state[5] = (state[5]! + f) | 0;
  state[6] = (state[6]! + g) | 0;
  state[7] = (state[7]! + h) | 0;
}

const encoder = new TextEncoder();

/**
 * A message buffer that starts with a fixed prefix (a salt and the separator), written once:
 * each hash writes only the unit after it.
 */
export class PrefixedMessage {
  private buffer: Uint8Array;
  private readonly prefixLength: number;

  constructor(prefix: Uint8Array) {
    this.prefixLength = prefix.length;
    this.buffer = new Uint8Array(prefix.length + 256);
    this.buffer.set(prefix, 0);
  }

  /**
   * SHA-256 of `prefix || utf8(text)`, written into `out` (32 bytes) when given. Answers the
   * first 8 bytes as the integer `uint64_be(h[0..8]) >> 11`, exact in a double. Non-ASCII text
   * goes through `TextEncoder.encodeInto`, which turns lone surrogates into U+FFFD as the
   * specification requires.
   */
  top53(text: string, out?: Uint8Array): number {
    const start = this.prefixLength;
    const room = start + text.length * 3 + 72;
    if (this.buffer.length < room) {
      const grown = new Uint8Array(room * 2);
      grown.set(this.buffer.subarray(0, start), 0);
      this.buffer = grown;
    }
    const buffer = this.buffer;
    let length = start;
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      if (unit >= 0x80) {
        length = start + encoder.encodeInto(text, buffer.subarray(start)).written;
        break;
      }
      buffer[length++] = unit;
    }
    const end = (((length + 8) >>> 6) + 1) * 64;
    buffer[length] = 0x80;
    // A loop, not fill(): a builtin call costs more than the ~30 bytes it clears.
    for (let i = length + 1; i < end - 8; i++) buffer[i] = 0;
    const bits = length * 8;
    const high = Math.floor(bits / 0x100000000);
    buffer[end - 8] = high >>> 24;
    buffer[end - 7] = high >>> 16;
    buffer[end - 6] = high >>> 8;
    buffer[end - 5] = high;
    buffer[end - 4] = bits >>> 24;
    buffer[end - 3] = bits >>> 16;
    buffer[end - 2] = bits >>> 8;
    buffer[end - 1] = bits;
    for (let i = 0; i < 8; i++) state[i] = INITIAL[i]!;
    for (let offset = 0; offset < end; offset += 64) {
      compress(buffer, offset);
    }
    if (out !== undefined) {
      for (let i = 0; i < 8; i++) {
        const v = state[i]!;
        out[i * 4] = v >>> 24;
        out[i * 4 + 1] = v >>> 16;
        out[i * 4 + 2] = v >>> 8;
        out[i * 4 + 3] = v;
      }
    }
    return (state[0]! >>> 0) * 2 ** 21 + (state[1]! >>> 11);
  }
}
