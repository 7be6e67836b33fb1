import type { Socket } from "node:net";
import { socketFd, type StreamReceiver } from "@ipc-sampler/core/stream";
import { dupDescriptor } from "@ipc-sampler/posix";

/**
 * Hands a connection that passed the handshake to the receiver, and returns
 * the socket that carries it from now on.
 *
 * A net.Socket made by a net.Server reads through libuv's allocator: a fresh
 * 64 KiB buffer per read(2), which the frame parser then copies into a large
 * message's own buffer. Node offers reads into a caller's buffer (`onread`)
 * only to sockets it opens on a descriptor, so the receiver gets a duplicate
 * of the descriptor and the accepted socket is destroyed at once: its close
 * (uv_close) takes the original descriptor out of the event loop and closes it
 * before the loop polls again, so no read ever lands in it and exactly one
 * reader holds the connection.
 */
export function attachAdmitted(receiver: StreamReceiver, socket: Socket): Socket {
  const fd = socketFd(socket);
  // Bytes already read past the handshake (only a peer that did not wait for
  // the proof sends them) or a reply not yet written live in this socket's
  // buffers: keep reading through it, so neither is lost.
  if (fd < 0 || socket.readableLength > 0 || socket.writableLength > 0) {
    socket.resume();
    receiver.attach(socket);
    return socket;
  }
  const copy = dupDescriptor(fd);
  socket.destroy();
  return receiver.attachSocketFd(copy);
}
