import type { Socket } from "node:net";
import { ChannelError, type Address, type ListenOptions, type Receiver, type Sender } from "@ipc-sampler/core";
import { StreamReceiver, StreamSender } from "@ipc-sampler/core/stream";

/** What a transport's listen tells the duplex layer: each admitted connection (after the handshake), and its close. */
export interface ListenHooks {
  admitted?(socket: Socket): void;
  closed?(): void;
}

/**
 * The listening end of a duplex link: the first connection admitted is the
 * peer, and what this end sends goes back over it. Later connections only
 * feed the receiver, as producers do.
 */
export async function duplexListen(listenWith: (hooks: ListenHooks) => Promise<Receiver>, resource: (address: Address) => string): Promise<{ receiver: Receiver; peer: Promise<Sender> }> {
  let settle!: { resolve: (s: Sender) => void; reject: (e: unknown) => void };
  const peer = new Promise<Sender>((resolve, reject) => (settle = { resolve, reject }));
  peer.catch(() => {});
  let taken = false;
  const receiver: Receiver = await listenWith({
    admitted: (socket) => {
      if (taken) return;
      taken = true;
      settle.resolve(new StreamSender(socket, { maxMessageSize: receiver.address.maxMessageSize, resource: resource(receiver.address) }));
    },
    closed: () => settle.reject(new ChannelError("ECLOSED", `${resource(receiver.address)} closed before its peer connected`)),
  });
  return { receiver, peer };
}

/** The connecting end: the handshaken socket (still paused) carries both directions. */
export function duplexOver(socket: Socket, address: Address, resource: string, options: Pick<ListenOptions, "onPeerLost">): { sender: Sender; receiver: Receiver } {
  const sender = new StreamSender(socket, { maxMessageSize: address.maxMessageSize, resource });
  const receiver = new StreamReceiver(address, {
    expectedProducers: 1,
    onPeerLost: options.onPeerLost,
    describe: () => `the listening end of ${resource}`,
    admit: () => Promise.reject(new ChannelError("EPROTO", `${resource}: the connecting end of a duplex link admits no producers`)),
    cleanup: () => void socket.destroy(),
  });
  receiver.attach(socket);
  socket.resume();
  return { sender, receiver };
}
