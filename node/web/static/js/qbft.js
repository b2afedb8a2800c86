// QBFT block headers as Hyperledger Besu writes them (docs/receipt.md steps 4, 8 and 10):
// the extraData codec, the block hash, commit seals and the validator votes.
import { keccak_256, RLP, secp256k1 } from "ledger/vendor/crypto.js";
import { isBytes, toBigInt, toHex } from "ledger/bytes.js";

export const EXTRA_DATA_INDEX = 12;
export const COINBASE_INDEX = 2;
export const NUMBER_INDEX = 8;
export const DEFAULT_EPOCH_LENGTH = 30000n;
export const SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141n;
const VOTE_ADD = 0xff, VOTE_DROP = 0x00;

export class HeaderFormatError extends Error {}
export class SealError extends Error {}

/** extraData = RLP([vanity(32), [validator(20)...], vote, round, [seal(65)...]]). */
export function decodeExtra(data) {
  let items;
  try { items = RLP.decode(data); } catch (e) { throw new HeaderFormatError(`extraData is not RLP: ${e.message}`); }
  if (!Array.isArray(items) || items.length !== 5) throw new HeaderFormatError("extraData must be a list of 5 items");
  const [vanity, validators, vote, round, seals] = items;
  if (!isBytes(vanity) || vanity.length !== 32) throw new HeaderFormatError("extraData vanity must be 32 bytes");
  if (!Array.isArray(validators) || !validators.every((v) => isBytes(v) && v.length === 20)) {
    throw new HeaderFormatError("extraData validators must be a list of 20-byte addresses");
  }
  if (!Array.isArray(vote) || (vote.length !== 0 && vote.length !== 2)) throw new HeaderFormatError("extraData vote must be [] or [recipient, 0xff|0x00]");
  let parsedVote = null;
  if (vote.length) {
    const [recipient, kind] = vote;
    if (!isBytes(recipient) || recipient.length !== 20 || !isBytes(kind) || kind.length !== 1 || (kind[0] !== VOTE_ADD && kind[0] !== VOTE_DROP)) {
      throw new HeaderFormatError("extraData vote must be [recipient(20), 0xff|0x00]");
    }
    parsedVote = { recipient: toHex(recipient), add: kind[0] === VOTE_ADD };
  }
  if (!isBytes(round) || round[0] === 0 || round.length > 4) throw new HeaderFormatError("extraData round must be a canonical integer below 2**32");
  if (!Array.isArray(seals) || !seals.every((s) => isBytes(s) && s.length === 65)) {
    throw new HeaderFormatError("extraData seals must be a list of 65-byte signatures");
  }
  return { vanity, validators: validators.map(toHex), rawVote: vote, vote: parsedVote, round, seals };
}

function hashWithExtra(fields, extra, round, seals) {
  const patched = fields.slice();
  const validators = extra.validators.map((v) => Uint8Array.from(v.slice(2).match(/../g), (h) => parseInt(h, 16)));
  patched[EXTRA_DATA_INDEX] = RLP.encode([extra.vanity, validators, extra.rawVote, round, seals]);
  return keccak_256(RLP.encode(patched));
}

export function extraDataOf(fields) {
  if (fields.length <= EXTRA_DATA_INDEX) throw new HeaderFormatError("header has no extraData field");
  return decodeExtra(fields[EXTRA_DATA_INDEX]);
}

/** The QBFT block hash: the header with the seals emptied and round 0. */
export function blockHash(fields) {
  return hashWithExtra(fields, extraDataOf(fields), new Uint8Array(0), []);
}

/** What each validator signs when it commits: the header with the seals emptied. */
export function commitSealDigest(fields) {
  const extra = extraDataOf(fields);
  return hashWithExtra(fields, extra, extra.round, []);
}

/** (r, s, recovery id) of a 65-byte seal r || s || v, in the one canonical encoding. */
function sealParts(seal) {
  if (seal.length !== 65) throw new SealError(`seal must be 65 bytes, got ${seal.length}`);
  const r = toBigInt(seal.subarray(0, 32)), s = toBigInt(seal.subarray(32, 64));
  if (!(r > 0n && r < SECP256K1_N)) throw new SealError("not a canonical secp256k1 signature: r is not in 1..n-1");
  // (r, n - s) with the other recovery id is the same signer's too: one encoding only (EIP-2).
  if (!(s > 0n && s <= SECP256K1_N / 2n)) throw new SealError("not a canonical secp256k1 signature: s is not in 1..n/2 (a high s)");
  if (seal[64] > 1) throw new SealError("not a canonical secp256k1 signature: the recovery id is not 0 or 1");
  return { r, s, recovery: seal[64] };
}

const addressOf = (point) => toHex(keccak_256(point.toBytes(false).subarray(1)).subarray(12));

function recoverPoint({ r, s, recovery }, digest) {
  try {
    return new secp256k1.Signature(r, s, recovery).recoverPublicKey(digest);
  } catch (e) {
    throw new SealError(`seal does not recover to a public key: ${e.message}`);
  }
}

/** The address (0x-hex) whose key made the 65-byte `seal` r || s || v over `digest`. */
export function recoverSigner(seal, digest) {
  return addressOf(recoverPoint(sealParts(seal), digest));
}

// A vote history is up to 1024 headers of 4+ seals, each a public-key recovery (a square
// root and a double multiplication, ~0.45 ms in Chromium): ~2 s. The validators are few and
// sign every header, so once a validator's key has been recovered, a later seal is checked
// against that key with a precomputed multiplication table instead (~3x cheaper), with the
// same outcome: R' = (z/s)G + (r/s)Q is the point (r, parity v) exactly when recovering
// (r, s, v) over z gives Q. A seal that no remembered key made is recovered as before, so
// every seal is checked and every failure is the one recovery gives.
// Window of a validator key's precomputed table: 2^(W-1) * (256/W + 1) points. Measured in
// V8 (Node 20, same noble build) per check: W=4 0.73 ms, 6 0.50, 8 0.43, 10 0.54, against
// 1.45 ms for a recovery; a W=8 table costs ~50 ms to build, once per validator.
export const SEAL_KEY_WINDOW = 8;
// Remembered keys tried per seal before recovering it: the one that made the seal at the
// same position in the previous header, then the next. A seal made by an unexpected
// signer costs at most this many checks more than a recovery.
export const MAX_SEAL_GUESSES = 2;

/** What the commit seals of a run of headers share: each validator's recovered key (with
 *  its precomputed table) and which validator sealed each position last. */
export class SealKeys {
  constructor() { this.keys = new Map(); this.lastAt = []; }

  remember(address, point) {
    if (!this.keys.has(address)) this.keys.set(address, point.precompute(SEAL_KEY_WINDOW, true));
  }

  /** True when `address`'s remembered key made `parts` over `digest` (recovery's outcome). */
  made(address, parts, digest) {
    const Q = this.keys.get(address);
    const { Fn, BASE } = secp256k1.Point;
    const z = Fn.create(toBigInt(digest));
    const sInverse = Fn.inv(parts.s);
    const R = BASE.multiplyUnsafe(Fn.create(z * sInverse)).add(Q.multiplyUnsafe(Fn.create(parts.r * sInverse)));
    if (R.is0()) return false;
    const { x, y } = R.toAffine();
    return x === parts.r && Number(y & 1n) === parts.recovery;
  }

  /** The signer of seal number `index` over `digest`, among `unsigned` (a Set) if a
   *  remembered key made it, else recovered. */
  signer(seal, index, digest, unsigned) {
    const parts = sealParts(seal);
    const guesses = [this.lastAt[index], ...this.lastAt].filter((a, i, all) =>
      a !== undefined && unsigned.has(a) && this.keys.has(a) && all.indexOf(a) === i).slice(0, MAX_SEAL_GUESSES);
    for (const address of guesses) {
      if (this.made(address, parts, digest)) { this.lastAt[index] = address; return address; }
    }
    const point = recoverPoint(parts, digest);
    const address = addressOf(point);
    this.remember(address, point);
    this.lastAt[index] = address;
    return address;
  }
}

/** Commit seals needed for n validators: ceil(2n/3). */
export const quorum = (n) => Math.ceil((2 * n) / 3);

/** The signers (0x-hex, seal order) of a header sealed by a quorum of `validators`;
 *  `keys` (SealKeys) carries validators' keys from header to header of a history. */
export function verifyCommitSeals(fields, validators, keys = new SealKeys()) {
  const extra = extraDataOf(fields);
  const digest = commitSealDigest(fields);
  const allowed = new Set(validators);
  const unsigned = new Set(validators);
  const signers = [];
  extra.seals.forEach((seal, index) => {
    let signer;
    try { signer = keys.signer(seal, index, digest, unsigned); } catch (e) { throw new SealError(`seal ${index}: ${e.message}`); }
    if (!allowed.has(signer)) throw new SealError(`seal ${index} is from ${signer}, not a validator`);
    if (signers.includes(signer)) throw new SealError(`seal ${index} duplicates the seal of ${signer}`);
    signers.push(signer);
    unsigned.delete(signer);
  });
  const needed = quorum(validators.length);
  if (signers.length < needed) throw new SealError(`${signers.length} commit seals, quorum of ${validators.length} is ${needed}`);
  return signers;
}

export class ValidatorSetError extends Error {
  constructor(index, height, reason) {
    super(`header ${index} (block ${height}): ${reason}`);
    this.index = index;
    this.height = height;
  }
}

const sortedSet = (addresses) => [...new Set(addresses)].sort();
const sameList = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The tally in force at genesis: its validators (sorted, 0x-hex) and no ballots. */
export function startTally(validators, epochLength) {
  return { validators: sortedSet(validators), epochLength: BigInt(epochLength), nextHeight: 0n, ballots: [] };
}

/** The tally after block `number` (BigInt), proposed by `proposer`, carrying `vote`
 *  (Besu's VoteTally and VoteTallyUpdater, as docs/receipt.md step 8 states them). */
export function applyVote(tally, number, proposer, vote) {
  const E = tally.epochLength;
  let ballots = tally.ballots;
  // Ballots are discarded at every block before an epoch block crossed since the last one seen.
  if ((number + 1n) / E > tally.nextHeight / E) ballots = [];
  if (vote === null || (number + 1n) % E === 0n) return { ...tally, nextHeight: number + 1n, ballots };
  const recipient = vote.recipient;
  let kept = ballots.filter((b) => !(b.voter === proposer && b.recipient === recipient));
  kept.push({ voter: proposer, recipient, add: vote.add });
  const limit = Math.floor(tally.validators.length / 2) + 1;
  const adds = kept.filter((b) => b.recipient === recipient && b.add).length;
  const drops = kept.filter((b) => b.recipient === recipient && !b.add).length;
  let validators = tally.validators.slice();
  if (adds >= limit) {
    validators.push(recipient);
    kept = kept.filter((b) => b.recipient !== recipient);
  }
  if (drops >= limit) {
    validators = validators.filter((v) => v !== recipient);
    kept = kept.filter((b) => b.recipient !== recipient && b.voter !== recipient);
  }
  return { validators: sortedSet(validators), epochLength: E, nextHeight: number + 1n, ballots: kept };
}

/** Carry `tally` across vote-carrying headers (RLP field lists) in height order. */
export function followValidatorSet(tally, headers) {
  const keys = new SealKeys();
  headers.forEach((fields, index) => {
    let height = -1n, extra;
    try {
      if (fields.length <= EXTRA_DATA_INDEX || !fields.every(isBytes)) throw new HeaderFormatError("not a list of header fields");
      if (fields[COINBASE_INDEX].length !== 20) throw new HeaderFormatError("coinbase is not 20 bytes");
      height = toBigInt(fields[NUMBER_INDEX]);
      extra = extraDataOf(fields);
    } catch (e) {
      throw new ValidatorSetError(index, height, `not a QBFT header: ${e.message}`);
    }
    if (height < tally.nextHeight) throw new ValidatorSetError(index, height, `out of order: blocks up to ${tally.nextHeight - 1n} are already accounted for`);
    if (!sameList(extra.validators, tally.validators)) throw new ValidatorSetError(index, height, "its validator list is not the set the votes before it give");
    const proposer = toHex(fields[COINBASE_INDEX]);
    if (!tally.validators.includes(proposer)) throw new ValidatorSetError(index, height, `proposer ${proposer} is not a validator`);
    try { verifyCommitSeals(fields, tally.validators, keys); } catch (e) { throw new ValidatorSetError(index, height, `commit seals: ${e.message}`); }
    tally = applyVote(tally, height, proposer, extra.vote);
  });
  return tally;
}
