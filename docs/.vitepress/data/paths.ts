import { fileURLToPath } from "node:url";
import path from "node:path";

/** docs/ */
export const docsDir = path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
/** The repository root. */
export const repoDir = path.resolve(docsDir, "..");
/** The results file the site shows: `bench/results/latest.json`, or the one IPCS_DOCS_RESULTS names. */
export function resultsPath(): string {
  const override = process.env.IPCS_DOCS_RESULTS;
  return override ? path.resolve(repoDir, override) : path.join(repoDir, "bench", "results", "latest.json");
}
