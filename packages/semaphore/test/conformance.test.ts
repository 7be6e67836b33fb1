import { runConformance } from "@ipc-sampler/core/conformance";
import { semaphoreTransport, type SemaphoreAddress } from "../src/index.js";

runConformance({
  name: "semaphore",
  transport: semaphoreTransport,
  module: new URL("../dist/index.js", import.meta.url),
  exportName: "semaphoreTransport",
  leftovers: (r) => {
    const n = (r.address as SemaphoreAddress).name;
    return [`/dev/shm/${n}`, `/dev/shm/sem.${n}.empty`, `/dev/shm/sem.${n}.full`, `/dev/shm/sem.${n}.mutex`];
  },
});
