// RFC 6962 / RFC 9162 inclusion proof verification, hashed with the ledger's
// suite: SHA-256 (WebCrypto) in an intl space, SM3 (sm-crypto) in a gm space.
// The suite is read from the checkpoint verifier key: an Ed25519 key (type
// 0x01) is intl, an SM2 key (type 0xff "tdsc-sm2-sm3") is gm.
import smCrypto from 'sm-crypto';

const { sm2, sm3 } = smCrypto;

export function hexToBytes(hex) {
  if (hex.length % 2) throw new Error('odd-length hex');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

export function bytesToHex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function base64ToBytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function concat(parts) {
  const buf = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { buf.set(p, o); o += p.length; }
  return buf;
}

async function digest(suite, ...parts) {
  const buf = concat(parts);
  if (suite === 'gm') return hexToBytes(sm3(buf));
  return new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
}

const LEAF = new Uint8Array([0]);
const NODE = new Uint8Array([1]);
const SM2_TYPE = concat([new Uint8Array([0xff]), new TextEncoder().encode('tdsc-sm2-sm3')]);

function keyData(vkey) {
  // The key data is standard base64 and may itself contain '+'.
  const [name, hashHex, ...rest] = vkey.split('+');
  return { name, hashHex, kd: base64ToBytes(rest.join('+')) };
}

function isSM2Key(kd) {
  return kd.length === SM2_TYPE.length + 65 && SM2_TYPE.every((b, i) => kd[i] === b);
}

// noteKeySuite is 'gm' for an SM2 checkpoint verifier key, 'intl' otherwise.
export function noteKeySuite(vkey) { return isSM2Key(keyData(vkey).kd) ? 'gm' : 'intl'; }

export function leafHash(data, suite = 'intl') { return digest(suite, LEAF, data); }

// rootFromInclusion folds an inclusion proof (RFC 9162 §2.1.3.2) for the leaf at
// index in a tree of size, returning the root it implies.
export async function rootFromInclusion(index, size, leaf, proof, suite = 'intl') {
  if (index >= size) throw new Error(`index ${index} is not below tree size ${size}`);
  let fn = index, sn = size - 1, r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new Error('proof is longer than the tree allows');
    if (fn % 2 === 1 || fn === sn) {
      r = await digest(suite, NODE, p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = await digest(suite, NODE, r, p);
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error('proof is shorter than the tree needs');
  return r;
}

// verifyNote checks a C2SP signed note (golang.org/x/mod/sumdb/note) against
// an Ed25519 verifier key "name+hash+base64(0x01 || key)" with WebCrypto, or
// an SM2 key "name+hash+base64(0xff 'tdsc-sm2-sm3' || 04 x y)" with sm-crypto
// (GB/T 32918.2, default user id, signature r||s), and returns the note's
// text. It throws when the browser has no Ed25519 (err.unsupported) or the
// signature does not verify.
export async function verifyNote(noteText, vkey) {
  const { name, hashHex, kd } = keyData(vkey);
  const sm2Key = isSM2Key(kd);
  if (!name || hashHex.length !== 8 || (!sm2Key && (kd.length !== 33 || kd[0] !== 1))) throw new Error('verifier key is not an Ed25519 or SM2 note key');
  const sep = noteText.lastIndexOf('\n\n');
  if (sep < 0) throw new Error('note has no signature block');
  const text = noteText.slice(0, sep + 1);
  if (sm2Key) {
    const pub = bytesToHex(kd.slice(SM2_TYPE.length));
    for (const line of noteText.slice(sep + 2).split('\n')) {
      const m = line.match(/^\u2014 (\S+) (\S+)$/);
      if (!m || m[1] !== name) continue;
      const sig = base64ToBytes(m[2]);
      if (sig.length !== 68 || bytesToHex(sig.slice(0, 4)) !== hashHex) continue;
      if (sm2.doVerifySignature(new TextEncoder().encode(text), bytesToHex(sig.slice(4)), pub, { hash: true, der: false })) return text;
      throw new Error('the checkpoint signature does not verify under ' + name);
    }
    throw new Error('no signature by ' + name + ' on the checkpoint');
  }
  let key;
  try {
    key = await crypto.subtle.importKey('raw', kd.slice(1), { name: 'Ed25519' }, false, ['verify']);
  } catch (e) {
    const err = new Error('this browser has no Ed25519 in WebCrypto');
    err.unsupported = true;
    throw err;
  }
  for (const line of noteText.slice(sep + 2).split('\n')) {
    const m = line.match(/^\u2014 (\S+) (\S+)$/);
    if (!m || m[1] !== name) continue;
    const sig = base64ToBytes(m[2]);
    if (sig.length !== 68 || bytesToHex(sig.slice(0, 4)) !== hashHex) continue;
    if (await crypto.subtle.verify({ name: 'Ed25519' }, key, sig.slice(4), new TextEncoder().encode(text))) return text;
    throw new Error('the checkpoint signature does not verify under ' + name);
  }
  throw new Error('no signature by ' + name + ' on the checkpoint');
}
