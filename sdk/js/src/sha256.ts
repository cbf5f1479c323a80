/**
 * SHA-256 (FIPS 180-4), synchronous and allocation-free, for the hash of docs/hashing.md.
 *
 * Why not WebCrypto: `crypto.subtle.digest` is asynchronous, and `assign` must answer
 * synchronously. Why not `node:crypto`: it is not in every runtime this SDK targets (edge
 * workers, browsers), and for the short messages assignment hashes (a salt, one byte, a user id)
 * this code is faster than `createHash` (bench/js_assign.mjs measures both).
 *
 * Every message starts with a fixed prefix (the salt and the separator), so the work that
 * depends on the prefix alone is done once, in the constructor of `SaltedSha256`:
 * - the prefix's whole 64-byte blocks are compressed into a midstate;
 * - the prefix's remaining whole 32-bit words open the next block, and SHA-256's round `i`
 *   reads only the working variables and word `i`, so the first rounds of that block (one per
 *   such word) are run ahead too.
 * The specification fixes the message bytes, so nothing is padded to make this work: a short
 * salt gains only the rounds of its words.
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

/** The chaining value of the message being hashed; one hash runs at a time (synchronous code). */
const chain = new Int32Array(8);
/** The message schedule, reused by every block. */
const words = new Int32Array(64);

/**
 * Compress the 64-byte block at `offset` of `block` into `chain`. Rounds before `from` have
 * already been run: `start` holds the working variables after them (`chain` itself when
 * `from` is 0).
 *
 * The rounds run eight at a time with the variables renamed instead of shifted (round `i+1`'s
 * `a` is round `i`'s new `h`, and so on), which saves seven moves a round; the rounds before
 * the first multiple of eight run one at a time. Σ0, Σ1, Ch and Maj are written out, not
 * called: V8 did not inline them into a function this large, and the calls cost 40%
 * (measured with bench/js_assign.mjs's hash line).
 */
function compress(block: Uint8Array, offset: number, start: Int32Array, from: number): void {
  const w = words;
  for (let i = 0; i < 16; i++) {
    const j = offset + i * 4;
    w[i] = (block[j]! << 24) | (block[j + 1]! << 16) | (block[j + 2]! << 8) | block[j + 3]!;
  }
  compressWords(start, from);
}

/** `compress` of the block already in `words[0 .. 16)`. */
function compressWords(start: Int32Array, from: number): void {
  const w = words;
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15]!;
    const y = w[i - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = start[0]!;
  let b = start[1]!;
  let c = start[2]!;
  let d = start[3]!;
  let e = start[4]!;
  let f = start[5]!;
  let g = start[6]!;
  let h = start[7]!;
  let i = from;
  for (; (i & 7) !== 0; i++) {
    const t = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t) | 0;
    d = c;
    c = b;
    b = a;
    a = (t + (((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) + ((b & c) ^ (b & d) ^ (c & d))) | 0;
  }
  for (; i < 64; i += 8) {
    let t = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
    d = (d + t) | 0;
    h = (t + (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    t = (g + (((d >>> 6) | (d << 26)) ^ ((d >>> 11) | (d << 21)) ^ ((d >>> 25) | (d << 7))) + ((d & e) ^ (~d & f)) + K[i + 1]! + w[i + 1]!) | 0;
    c = (c + t) | 0;
    g = (t + (((h >>> 2) | (h << 30)) ^ ((h >>> 13) | (h << 19)) ^ ((h >>> 22) | (h << 10))) + ((h & a) ^ (h & b) ^ (a & b))) | 0;
    t = (f + (((c >>> 6) | (c << 26)) ^ ((c >>> 11) | (c << 21)) ^ ((c >>> 25) | (c << 7))) + ((c & d) ^ (~c & e)) + K[i + 2]! + w[i + 2]!) | 0;
    b = (b + t) | 0;
    f = (t + (((g >>> 2) | (g << 30)) ^ ((g >>> 13) | (g << 19)) ^ ((g >>> 22) | (g << 10))) + ((g & h) ^ (g & a) ^ (h & a))) | 0;
    t = (e + (((b >>> 6) | (b << 26)) ^ ((b >>> 11) | (b << 21)) ^ ((b >>> 25) | (b << 7))) + ((b & c) ^ (~b & d)) + K[i + 3]! + w[i + 3]!) | 0;
    a = (a + t) | 0;
    e = (t + (((f >>> 2) | (f << 30)) ^ ((f >>> 13) | (f << 19)) ^ ((f >>> 22) | (f << 10))) + ((f & g) ^ (f & h) ^ (g & h))) | 0;
    t = (d + (((a >>> 6) | (a << 26)) ^ ((a >>> 11) | (a << 21)) ^ ((a >>> 25) | (a << 7))) + ((a & b) ^ (~a & c)) + K[i + 4]! + w[i + 4]!) | 0;
    h = (h + t) | 0;
    d = (t + (((e >>> 2) | (e << 30)) ^ ((e >>> 13) | (e << 19)) ^ ((e >>> 22) | (e << 10))) + ((e & f) ^ (e & g) ^ (f & g))) | 0;
    t = (c + (((h >>> 6) | (h << 26)) ^ ((h >>> 11) | (h << 21)) ^ ((h >>> 25) | (h << 7))) + ((h & a) ^ (~h & b)) + K[i + 5]! + w[i + 5]!) | 0;
    g = (g + t) | 0;
    c = (t + (((d >>> 2) | (d << 30)) ^ ((d >>> 13) | (d << 19)) ^ ((d >>> 22) | (d << 10))) + ((d & e) ^ (d & f) ^ (e & f))) | 0;
    t = (b + (((g >>> 6) | (g << 26)) ^ ((g >>> 11) | (g << 21)) ^ ((g >>> 25) | (g << 7))) + ((g & h) ^ (~g & a)) + K[i + 6]! + w[i + 6]!) | 0;
    f = (f + t) | 0;
    b = (t + (((c >>> 2) | (c << 30)) ^ ((c >>> 13) | (c << 19)) ^ ((c >>> 22) | (c << 10))) + ((c & d) ^ (c & e) ^ (d & e))) | 0;
    t = (a + (((f >>> 6) | (f << 26)) ^ ((f >>> 11) | (f << 21)) ^ ((f >>> 25) | (f << 7))) + ((f & g) ^ (~f & h)) + K[i + 7]! + w[i + 7]!) | 0;
    e = (e + t) | 0;
    a = (t + (((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) + ((b & c) ^ (b & d) ^ (c & d))) | 0;
  }
  chain[0] = (chain[0]! + a) | 0;
  chain[1] = (chain[1]! + b) | 0;
  chain[2] = (chain[2]! + c) | 0;
  chain[3] = (chain[3]! + d) | 0;
  chain[4] = (chain[4]! + e) | 0;
  chain[5] = (chain[5]! + f) | 0;
  chain[6] = (chain[6]! + g) | 0;
  chain[7] = (chain[7]! + h) | 0;
}

/** Run rounds `0 .. count-1` of a block whose first words are `block[0 .. 4*count)` on `vars`. */
function runOpeningRounds(vars: Int32Array, block: Uint8Array, count: number): void {
  let a = vars[0]!;
  let b = vars[1]!;
  let c = vars[2]!;
  let d = vars[3]!;
  let e = vars[4]!;
  let f = vars[5]!;
  let g = vars[6]!;
  let h = vars[7]!;
  for (let i = 0; i < count; i++) {
    const j = i * 4;
    const word = (block[j]! << 24) | (block[j + 1]! << 16) | (block[j + 2]! << 8) | block[j + 3]!;
    const t = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + K[i]! + word) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t) | 0;
    d = c;
    c = b;
    b = a;
    a = (t + (((b >>> 2) | (b << 30)) ^ ((b >>> 13) | (b << 19)) ^ ((b >>> 22) | (b << 10))) + ((b & c) ^ (b & d) ^ (c & d))) | 0;
  }
  vars.set([a, b, c, d, e, f, g, h]);
}

const encoder = new TextEncoder();

/**
 * SHA-256 of messages `prefix || utf8(text)` for one fixed prefix (a salt and the separator),
 * with the prefix's share of the work done once.
 */
export class SaltedSha256 {
  /** The chaining value after the prefix's whole blocks. */
  private readonly midstate: Int32Array;
  /** The working variables after the opening rounds of the block after the midstate. */
  private readonly opened: Int32Array;
  private readonly openingRounds: number;
  private readonly prefixLength: number;
  /** The prefix's bytes after its whole blocks; each hash writes the text and padding after them. */
  private readonly tailLength: number;
  /** The tail as the first words of a block, zeros after it. */
  private readonly tailWords = new Int32Array(16);
  private buffer: Uint8Array;

  constructor(prefix: Uint8Array) {
    this.prefixLength = prefix.length;
    const whole = prefix.length - (prefix.length % 64);
    chain.set(INITIAL);
    for (let offset = 0; offset < whole; offset += 64) compress(prefix, offset, chain, 0);
    this.midstate = Int32Array.from(chain);
    this.tailLength = prefix.length - whole;
    this.buffer = new Uint8Array(this.tailLength + 256);
    this.buffer.set(prefix.subarray(whole), 0);
    for (let i = 0; i < this.tailLength; i++) this.tailWords[i >>> 2]! |= this.buffer[i]! << ((3 - (i & 3)) << 3);
    this.openingRounds = this.tailLength >>> 2;
    this.opened = Int32Array.from(this.midstate);
    runOpeningRounds(this.opened, this.buffer, this.openingRounds);
  }

  /**
   * SHA-256 of `prefix || utf8(text)`, written into `out` (32 bytes) when given. Answers the
   * first 8 bytes as the integer `uint64_be(h[0..8]) >> 11`, exact in a double. Non-ASCII text
   * goes through `TextEncoder.encodeInto`, which turns lone surrogates into U+FFFD as the
   * specification requires.
   */
  top53(text: string, out?: Uint8Array): number {
    if (!(this.tailLength + text.length + 9 <= 64 && this.oneBlockAscii(text))) this.anyText(text);
    if (out !== undefined) {
      for (let i = 0; i < 8; i++) {
        const v = chain[i]!;
        out[i * 4] = v >>> 24;
        out[i * 4 + 1] = v >>> 16;
        out[i * 4 + 2] = v >>> 8;
        out[i * 4 + 3] = v;
      }
    }
    return (chain[0]! >>> 0) * 2 ** 21 + (chain[1]! >>> 11);
  }

  /**
   * The common case: an ASCII text that ends the message within the block after the midstate.
   * Its characters go straight into the message schedule, as words, with no byte buffer to
   * fill, pad or read back. False (and nothing hashed) at the first non-ASCII character.
   */
  private oneBlockAscii(text: string): boolean {
    const w = words;
    const tail = this.tailWords;
    for (let i = 0; i < 16; i++) w[i] = tail[i]!;
    let at = this.tailLength;
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      if (unit >= 0x80) return false;
      w[at >>> 2]! |= unit << ((3 - (at & 3)) << 3);
      at++;
    }
    w[at >>> 2]! |= 0x80 << ((3 - (at & 3)) << 3);
    const bits = (this.prefixLength - this.tailLength + at) * 8;
    w[14] = Math.floor(bits / 0x100000000);
    w[15] = bits;
    const midstate = this.midstate;
    for (let i = 0; i < 8; i++) chain[i] = midstate[i]!;
    compressWords(this.opened, this.openingRounds);
    return true;
  }

  /** Any text: UTF-8 encoded into the byte buffer after the tail, padded, block by block. */
  private anyText(text: string): void {
    const start = this.tailLength;
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
    const bits = (this.prefixLength - start + length) * 8;
    const high = Math.floor(bits / 0x100000000);
    buffer[end - 8] = high >>> 24;
    buffer[end - 7] = high >>> 16;
    buffer[end - 6] = high >>> 8;
    buffer[end - 5] = high;
    buffer[end - 4] = bits >>> 24;
    buffer[end - 3] = bits >>> 16;
    buffer[end - 2] = bits >>> 8;
    buffer[end - 1] = bits;
    chain.set(this.midstate);
    compress(buffer, 0, this.opened, this.openingRounds);
    for (let offset = 64; offset < end; offset += 64) compress(buffer, offset, chain, 0);
  }
}
