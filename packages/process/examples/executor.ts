// Executor + asCompleted: fetch pages in worker processes, report each as it
// finishes. A local HTTP server on 127.0.0.1 stands in for the internet.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { asCompleted, Executor, isMainModule, type Future } from "@ipc-sampler/process";

export async function loadUrl(url: string, timeoutMs: number): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`HTTP ${res.status} from ${url}`);
  return (await res.arrayBuffer()).byteLength;
}

async function main(): Promise<void> {
  const server = createServer((req, res) => {
    if (req.url === "/missing") return void res.writeHead(404).end();
    const size = req.url === "/big" ? 100_000 : 1_000;
    setTimeout(() => res.end("x".repeat(size)), req.url === "/big" ? 1000 : 10);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const urls = [`${base}/big`, `${base}/small`, `${base}/missing`];
  try {
    await using executor = await Executor.create<typeof import("./executor.js")>({ module: import.meta.url, maxWorkers: 3 });
    const futureToUrl = new Map<Future<number>, string>(urls.map((u) => [executor.submit("loadUrl", u, 60_000), u]));
    for await (const future of asCompleted(futureToUrl.keys(), { timeoutMs: 30_000 })) {
      const url = futureToUrl.get(future)!;
      try {
        console.log(`'${url.slice(base.length)}' page is ${await future.result()} bytes`);
      } catch (exc) {
        console.log(`'${url.slice(base.length)}' page generated an exception: ${(exc as Error).message}`);
      }
    }
  } finally {
    server.close();
  }
}

if (isMainModule(import.meta.url)) await main();
