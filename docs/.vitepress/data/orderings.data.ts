// Fails the build when the shipped results contradict an ordering a page
// states with <Ordering … />; the component imports this loader so it runs.
import path from "node:path";
import { contradictions } from "./orderings-pages";
import { docsDir, resultsPath } from "./paths";
import { loadResults } from "./results.data";

declare const data: { checked: boolean };
export { data };

export function checkOrderings(file = resultsPath(), pages = docsDir): { checked: boolean } {
  const wrong = contradictions(pages, loadResults(file));
  if (wrong.length) throw new Error(`the results contradict ${wrong.length} stated ordering(s):\n${wrong.join("\n")}`);
  return { checked: true };
}

export default {
  watch: [path.join(docsDir, "**/*.md"), resultsPath()],
  load: () => checkOrderings(),
};
