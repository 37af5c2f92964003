// Combines break-glass shares with an independent implementation of the Vault layout (the
// audited npm package shamir-secret-sharing) and prints the X25519 public key (base64) of
// the secret they rebuild, computed by Node's own crypto. Keyward's tests compare it with
// the escrow's public key.
//
// Usage: node combine.mjs SHARE_HEX SHARE_HEX …

import crypto from 'node:crypto';
import { combine } from 'shamir-secret-sharing';

const shares = process.argv.slice(2).map((hex) => new Uint8Array(Buffer.from(hex, 'hex')));
if (shares.length < 2) {
  console.error('usage: node combine.mjs SHARE_HEX SHARE_HEX …');
  process.exit(2);
}
const secret = Buffer.from(await combine(shares));
// PKCS#8 for a raw X25519 private key (RFC 8410).
const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), secret]);
const privateKey = crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
const spki = crypto.createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
console.log(spki.subarray(spki.length - 32).toString('base64'));
