import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Server, Socket } from "node:net";
import { ChannelError } from "@ipc-sampler/core";

/**
 * The handshake every uds/tcp connection makes before its first frame, so
 * the receiver counts only peers that proved who they are, and a connection
 * that never speaks is closed instead of holding the iteration open.
 *
 *   receiver → sender   CHALLENGE: "IPCS" magic, version, flags, 32-byte nonce
 *   sender → receiver   ANSWER:    HMAC-SHA256(secret, "ipcs-sender" ‖ nonce), 32-byte nonce
 *   receiver → sender   PROOF:     HMAC-SHA256(secret, "ipcs-receiver" ‖ sender's nonce)
 *
 * Like Python multiprocessing's authkey: the secret never crosses the wire,
 * and each side proves it knows it. Without a secret (a Unix socket left to
 * file permissions and SO_PEERCRED) the MACs are keyed with the empty key:
 * the exchange then only frames the start of the connection.
 */

const MAGIC = 0x53435049; // "IPCS", little-endian
const VERSION = 1;
const FLAG_SECRET = 1;
const NONCE = 32;
const MAC = 32;
export const CHALLENGE_BYTES = 8 + NONCE;
export const ANSWER_BYTES = MAC + NONCE;
export const PROOF_BYTES = MAC;

/** How long a connection may take to answer the challenge before it is closed (ms). */
export const HANDSHAKE_TIMEOUT_MS = 5_000;
/** Connections allowed to be in the handshake at once; more are closed at accept. */
export const MAX_PENDING_HANDSHAKES = 64;

export type Secret = string | Uint8Array;

function mac(secret: Secret | undefined, label: string, nonce: Uint8Array): Buffer {
  return createHmac("sha256", secret ?? "").update(label).update(nonce).digest();
}

function checkSecret(secret: Secret | undefined): void {
  if (secret === undefined) return;
  const n = typeof secret === "string" ? Buffer.byteLength(secret) : secret.byteLength;
  if ((typeof secret !== "string" && !(secret instanceof Uint8Array)) || n < 16) {
    throw new RangeError("secret must be a string or Uint8Array of at least 16 bytes (e.g. randomBytes(32))");
  }
}

/** Reads exactly `n` bytes, or fails with ETIMEDOUT / EPEERGONE. Bytes past `n` are put back on the socket. */
function readExactly(socket: Socket, n: number, deadline: number, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let have = 0;
    const done = (err: Error | undefined, value?: Buffer) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.off("error", onClose);
      if (err) reject(err);
      else resolve(value!);
    };
    const onData = (chunk: Buffer) => {
      parts.push(chunk);
      have += chunk.length;
      if (have < n) return;
      const all = Buffer.concat(parts, have);
      socket.pause();
      if (have > n) socket.unshift(all.subarray(n));
      done(undefined, all.subarray(0, n));
    };
    const onClose = () => done(new ChannelError("EPEERGONE", `${what}: the other end closed during the handshake`));
    const timer = setTimeout(() => done(new ChannelError("ETIMEDOUT", `${what}: no handshake within ${deadline} ms`)), deadline);
    socket.on("data", onData);
    socket.once("close", onClose);
    socket.once("error", onClose);
    socket.resume();
  });
}

export interface AcceptOptions {
  secret?: Secret | undefined;
  /** Most producers attached at once (default 1024); more are closed at accept. */
  maxConnections?: number | undefined;
  handshakeTimeoutMs?: number | undefined;
  /** A check made at accept, before the handshake (SO_PEERCRED for Unix sockets): a string refuses the peer with that reason. */
  vet?: ((socket: Socket) => string | undefined) | undefined;
  /** Called for each peer that passed; its first frame follows. Returns the socket that carries the connection from now on, when it is another. */
  admitted: (socket: Socket) => Socket | void;
  /** Called for each peer refused (wrong secret, too slow, over a limit, vetted out): it never counts as a producer. */
  refused?: ((error: ChannelError) => void) | undefined;
  describe: string;
}

export function validateAcceptOptions(options: { secret?: Secret | undefined; maxConnections?: number | undefined; handshakeTimeoutMs?: number | undefined }): void {
  checkSecret(options.secret);
  const max = options.maxConnections;
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) throw new RangeError(`maxConnections must be a positive integer; got ${max}`);
  const t = options.handshakeTimeoutMs;
  if (t !== undefined && (!Number.isFinite(t) || t <= 0)) throw new RangeError(`handshakeTimeoutMs must be a positive number of ms; got ${t}`);
}

/** Runs the receiver's half of the handshake on every connection of `server`. */
export function acceptWithHandshake(server: Server, options: AcceptOptions): { readonly open: number } {
  const maxConnections = options.maxConnections ?? 1024;
  const timeout = options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  let pending = 0;
  let open = 0;
  const refuse = (socket: Socket, why: string) => {
    socket.destroy();
    options.refused?.(new ChannelError("EACCES", `${options.describe}: refused a connection: ${why}`, { resource: options.describe }));
  };
  server.on("connection", (socket: Socket) => {
    if (pending >= MAX_PENDING_HANDSHAKES) return refuse(socket, `${MAX_PENDING_HANDSHAKES} connections are in the handshake already`);
    if (open >= maxConnections) return refuse(socket, `${maxConnections} producers are connected already (maxConnections)`);
    const why = options.vet?.(socket);
    if (why !== undefined) return refuse(socket, why);
    pending++;
    open++;
    const onClose = () => open--;
    socket.once("close", onClose);
    const nonce = randomBytes(NONCE);
    const challenge = Buffer.alloc(CHALLENGE_BYTES);
    challenge.writeUInt32LE(MAGIC, 0);
    challenge[4] = VERSION;
    challenge[5] = options.secret !== undefined ? FLAG_SECRET : 0;
    nonce.copy(challenge, 8);
    socket.on("error", () => {}); // a reset during the handshake is handled by readExactly
    socket.write(challenge);
    readExactly(socket, ANSWER_BYTES, timeout, options.describe).then(
      (answer) => {
        pending--;
        if (!timingSafeEqual(answer.subarray(0, MAC), mac(options.secret, "ipcs-sender", nonce))) {
          return refuse(socket, options.secret !== undefined ? "it does not know the secret" : "it does not speak this protocol");
        }
        socket.write(mac(options.secret, "ipcs-receiver", answer.subarray(MAC)));
        const carrier = options.admitted(socket);
        if (carrier && carrier !== socket) {
          // The connection lives on in `carrier`: it counts until that one closes.
          socket.off("close", onClose);
          carrier.once("close", onClose);
        }
      },
      (err: ChannelError) => {
        pending--;
        refuse(socket, err.code === "ETIMEDOUT" ? `it did not answer the handshake within ${timeout} ms` : "it closed during the handshake");
      },
    );
  });
  return {
    get open() {
      return open;
    },
  };
}

/** The sender's half: answers the receiver's challenge and checks its proof. */
export async function answerHandshake(socket: Socket, secret: Secret | undefined, resource: string, timeoutMs = HANDSHAKE_TIMEOUT_MS, resume = true): Promise<void> {
  checkSecret(secret);
  try {
    const challenge = await readExactly(socket, CHALLENGE_BYTES, timeoutMs, `cannot connect to ${resource}`);
    if (challenge.readUInt32LE(0) !== MAGIC || challenge[4] !== VERSION) {
      throw new ChannelError("EPROTO", `cannot connect to ${resource}: the other end does not speak this protocol`, { resource });
    }
    const wantsSecret = (challenge[5]! & FLAG_SECRET) !== 0;
    if (wantsSecret && secret === undefined) {
      throw new ChannelError("EACCES", `cannot connect to ${resource}: the receiver requires a shared secret; pass { secret } to connect`, { resource });
    }
    const mine = randomBytes(NONCE);
    socket.write(Buffer.concat([mac(wantsSecret ? secret : undefined, "ipcs-sender", challenge.subarray(8)), mine]));
    const proof = await readExactly(socket, PROOF_BYTES, timeoutMs, `cannot connect to ${resource}`);
    if (!timingSafeEqual(proof, mac(wantsSecret ? secret : undefined, "ipcs-receiver", mine))) {
      throw new ChannelError("EACCES", `cannot connect to ${resource}: the receiver could not prove it knows the secret`, { resource });
    }
    // A duplex end attaches its reader first: flowing now would drop what the receiver already sent.
    if (resume) socket.resume();
  } catch (err) {
    socket.destroy();
    if (err instanceof ChannelError && err.code === "EPEERGONE" && secret !== undefined) {
      throw new ChannelError("EACCES", `cannot connect to ${resource}: the receiver closed the connection during the handshake (wrong secret?)`, { resource, cause: err });
    }
    throw err;
  }
}
