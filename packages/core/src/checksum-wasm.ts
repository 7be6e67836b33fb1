/**
 * The checksum's word loop in WebAssembly SIMD (source: checksum.wat beside
 * this file): four words per instruction instead of one, about ten times
 * the JavaScript loop on long payloads. The bytes are copied into the
 * module's memory first; short runs stay in JavaScript, where that copy and
 * the call would cost more than they save.
 */
const WASM_BASE64 = "AGFzbQEAAAABCAFgA39/fwF/AwIBAAUDAQABBxACBm1lbW9yeQIAA3N1bQAACq8CAawCAgZ7BH9B95Svr3j9ESEGQQhBsfPd8Xls/REhBSAC/REgAkGx893xeWr9HAEgAkECQbHz3fF5bGr9HAIgAkEDQbHz3fF5bGr9HAMhAyADQQRBsfPd8Xls/RH9rgEhBCAAIAFBeHFBAnRqIQkCQANAIAAgCU8NASAHIAD9AAAAIAP9USAG/bUB/a4BIQcgCCAA/QAAECAE/VEgBv21Af2uASEIIAMgBf2uASEDIAQgBf2uASEEIABBIGohAAwACwsgByAI/a4BIQcgB/0bACAH/RsBaiAH/RsCIAf9GwNqaiEMIAP9GwAhCyABQQdxIQoCQANAIApFDQEgDCAAKAAAIAtzQfeUr694bGohDCALQbHz3fF5aiELIABBBGohACAKQQFrIQoMAAsLIAwL";

/** The slice of the WebAssembly API used here (Node's type declarations do not cover it under lib ES2023). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

interface ChecksumModule {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  sum(ptr: number, words: number, k0: number): number;
}

let mod: ChecksumModule | null | undefined;

function load(): ChecksumModule | null {
  if (mod !== undefined) return mod;
  try {
    const bytes = Uint8Array.from(atob(WASM_BASE64), (c) => c.charCodeAt(0));
    const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const instance = new wasm.Instance(new wasm.Module(bytes), {});
    mod = instance.exports as unknown as ChecksumModule;
  } catch {
    mod = null; // no SIMD here: the JavaScript loop does the work
  }
  return mod;
}

/**
 * Sum of mixWord over `words` whole words starting at `bytes[offset]`, the
 * first being word index `firstIndex`; or undefined when WebAssembly SIMD
 * is unavailable.
 */
export function wasmWordSum(bytes: Uint8Array, offset: number, words: number, firstIndex: number): number | undefined {
  const m = load();
  if (!m) return undefined;
  const need = words * 4;
  const have = m.memory.buffer.byteLength;
  if (have < need) m.memory.grow(Math.ceil((need - have) / 65536));
  new Uint8Array(m.memory.buffer, 0, need).set(bytes.subarray(offset, offset + need));
  return m.sum(0, words, Math.imul(firstIndex + 1, 0x9e3779b1)) | 0;
}
