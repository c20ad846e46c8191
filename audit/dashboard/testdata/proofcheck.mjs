// Runs the dashboard's in-browser proof check (web/src/merkle.js) under
// Node.js on a record written by TestBrowserProofCheckNode: the leaf hash of
// the stored bytes, the inclusion proof folded to the root, and the
// checkpoint note's signature, in the ledger's suite. Prints "ok <suite>" or
// exits 1 with the reason.
import { readFileSync } from 'node:fs';
import { base64ToBytes, bytesToHex, hexToBytes, leafHash, noteKeySuite, rootFromInclusion, verifyNote } from '../web/src/merkle.js';

const c = JSON.parse(readFileSync(process.argv[2], 'utf8'));
try {
  const suite = noteKeySuite(c.vkey);
  const leaf = await leafHash(base64ToBytes(c.canon), suite);
  const root = await rootFromInclusion(c.index, c.size, leaf, c.proof.map(hexToBytes), suite);
  const body = (await verifyNote(c.note, c.vkey)).split('\n');
  if (body[1] !== String(c.size)) throw new Error('checkpoint size ' + body[1]);
  if (bytesToHex(base64ToBytes(body[2])) !== bytesToHex(root)) throw new Error('proof leads to ' + bytesToHex(root) + ', checkpoint root ' + bytesToHex(base64ToBytes(body[2])));
  console.log('ok ' + suite);
} catch (e) {
  console.log('refused: ' + e.message);
  process.exit(1);
}
