/**
 * What other workspace packages (the docs site) read from the demo: the
 * declared transport list and the benchmark results schema. Imported as
 * `@ipc-sampler/demo/registry`, never by a relative path into this app.
 */
export { transports, loadTransport, type TransportEntry } from "./transports.js";
export * from "./bench-schema.js";
