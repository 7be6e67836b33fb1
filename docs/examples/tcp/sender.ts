// Connects (retrying until the receiver is there, up to timeoutMs) and sends.
import { ChannelError } from "@ipc-sampler/core";
import { tcpTransport, type TcpAddress } from "@ipc-sampler/socket";

const address = JSON.parse(process.argv[2] ?? "") as TcpAddress;
const sender = await tcpTransport.connect(address, { timeoutMs: 5000 });

for (let i = 0; i < 200; i++) {
  await sender.send(new Uint8Array(1024).fill(i & 0xff)); // send() = write() + drain() when needed
}

// The address carries the receiver's limit; a larger message is refused, never truncated.
try {
  await sender.send(new Uint8Array(address.maxMessageSize + 1));
} catch (err) {
  if (err instanceof ChannelError && err.code === "EMSGSIZE") console.log(`refused as expected: ${err.message}`);
  else throw err;
}
await sender.close();
