import { createHash, createPrivateKey, createPublicKey } from "node:crypto";

/**
 * CURVE keys from a shared secret. The receiver's long-term CURVE key pair
 * is derived from the secret (SHA-256, then X25519), so a producer that knows
 * the secret knows the server key a CurveZMQ handshake needs, and one that
 * does not cannot complete it: libzmq ships no ZAP handler in zeromq.js to
 * check client keys, so knowing the server key is the credential. The server
 * key itself never crosses the wire (CurveZMQ, RFC 26), and the traffic is
 * encrypted.
 */

const Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
// PKCS#8 DER prefix of a raw X25519 private key (RFC 8410).
const X25519_PKCS8 = Buffer.from("302e020100300506032b656e04220420", "hex");

export type Secret = string | Uint8Array;

/** Z85 encoding (ZeroMQ RFC 32) of a multiple of 4 bytes. */
export function z85(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 4) {
    let v = ((bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!) >>> 0;
    let chunk = "";
    for (let k = 0; k < 5; k++) {
      chunk = Z85[v % 85] + chunk;
      v = Math.floor(v / 85);
    }
    out += chunk;
  }
  return out;
}

export function checkSecret(secret: Secret | undefined): void {
  if (secret === undefined) return;
  const n = typeof secret === "string" ? Buffer.byteLength(secret) : secret instanceof Uint8Array ? secret.byteLength : 0;
  if (n < 16) throw new RangeError("secret must be a string or Uint8Array of at least 16 bytes (e.g. randomBytes(32))");
}

/** The receiver's CURVE key pair (Z85) for `secret`. */
export function serverKeys(secret: Secret): { publicKey: string; secretKey: string } {
  const raw = createHash("sha256").update("ipcs-zeromq-curve-v1\0").update(secret).digest();
  const key = createPrivateKey({ key: Buffer.concat([X25519_PKCS8, raw]), format: "der", type: "pkcs8" });
  const pub = Buffer.from(createPublicKey(key).export({ format: "jwk" }).x!, "base64url");
  return { publicKey: z85(pub), secretKey: z85(raw) };
}
