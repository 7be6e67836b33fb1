import { useWordSum, type WordSum } from "@ipc-sampler/core";
import { native } from "./loader.js";

/**
 * core's checksum32 word loop in native code (AVX2 where the CPU has it),
 * reading the bytes in place. Registered with core when this module loads,
 * so every checksum in a process that uses a POSIX transport takes it; core
 * keeps its WebAssembly loop where the addon cannot load.
 */
export function nativeWordSum(): WordSum | undefined {
  try {
    const sum = native().wordSum;
    return typeof sum === "function" ? sum : undefined;
  } catch {
    return undefined;
  }
}

useWordSum(nativeWordSum());
