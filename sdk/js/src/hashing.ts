/**
 * The hash specification (docs/hashing.md): a unit id and a salt give a point in [0, 1).
 *
 *     h = SHA-256(utf8(salt) || 0x1F || utf8(unit));  x = uint64_be(h[0..8]) >> 11;  bucket = x * 2**-53
 *
 * 53 bits is a double's precision, so the bucket is exact in every language; the 0x1F byte keeps
 * ("ab", "c") and ("a", "bc") apart. Lone UTF-16 surrogates are hashed as U+FFFD.
 */

import { SaltedSha256 } from "./sha256.js";

const SEPARATOR = 0x1f;
const TWO_TO_MINUS_53 = 2 ** -53;
const encoder = new TextEncoder();

function saltedMessage(salt: string): SaltedSha256 {
  const saltBytes = encoder.encode(salt);
  const prefix = new Uint8Array(saltBytes.length + 1);
  prefix.set(saltBytes, 0);
  prefix[saltBytes.length] = SEPARATOR;
  return new SaltedSha256(prefix);
}

/** `unit -> bucketOf(unit, salt)` for one salt, whose share of the hash is computed once. */
export class SaltedBucket {
  private readonly message: SaltedSha256;

  constructor(readonly salt: string) {
    this.message = saltedMessage(salt);
  }

  bucket(unit: string): number {
    return this.message.top53(unit) * TWO_TO_MINUS_53;
  }
}

/** The point in [0, 1) of `unit` under `salt`. */
export function bucketOf(unit: string, salt: string): number {
  return new SaltedBucket(salt).bucket(unit);
}

/** The SHA-256 of the hashed message, as hex (for the test vectors and debugging). */
export function messageDigestHex(unit: string, salt: string): string {
  const out = new Uint8Array(32);
  saltedMessage(salt).top53(unit, out);
  return Array.from(out, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Salt deciding whether a user is in an experiment at all (compared with `traffic`). */
export const trafficSalt = (seed: string): string => `${seed}:traffic`;
/** Salt choosing the variant; independent of the traffic salt, so ramps never reshuffle. */
export const variantSalt = (seed: string): string => `${seed}:variant`;
/** Salt shared by every experiment of a layer, so disjoint ranges mean disjoint users. */
export const layerSalt = (layer: string): string => `layer:${layer}`;

/** The most storage shards an experiment may have (the service's `shards`). */
export const MAX_SHARDS = 64;
/** Salt placing a user in one of an experiment's storage shards: the key, not the seed. */
export const shardSalt = (key: string): string => `${key}:shard`;

/**
 * Which of the experiment's `shards` holds the user's data on the service: x mod shards, with x
 * the 53-bit integer of `unit` under `shardSalt(key)`; exact, since a double holds x. Always 0
 * for one shard. The SDK never needs it to assign (the service routes its writes); it is here so
 * that every implementation of docs/hashing.md agrees, checked by the shared vectors.
 */
export function shardOf(unit: string, key: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
    throw new RangeError(`shards must be an integer 1..${MAX_SHARDS}, got ${shards}`);
  }
  if (shards === 1) return 0;
  return saltedMessage(shardSalt(key)).top53(unit) % shards;
}
