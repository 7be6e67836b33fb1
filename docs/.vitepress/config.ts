import { defineConfig } from "vitepress";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { transports } from "@ipc-sampler/demo/registry";

const docsDir = fileURLToPath(new URL("..", import.meta.url));

/** One page per registered transport, in the registry's order, titled by the page's own heading. */
const mechanismPages = transports.map((t) => ({ id: t.id, title: /^# (.+)$/m.exec(readFileSync(path.join(docsDir, "mechanisms", `${t.id}.md`), "utf8"))?.[1] ?? t.id }));

/** API reference pages that `pnpm docs:api` generated (docs/api/@ipc-sampler/<package>.md). */
function apiSidebar() {
  const dir = path.join(docsDir, "api", "@ipc-sampler");
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".md"))
    .map((f) => f.slice(0, -3))
    .sort()
    .map((name) => ({ text: `@ipc-sampler/${name}`, link: `/api/@ipc-sampler/${name}` }));
}

/** The reference pages of @ipc-sampler/process's shared state and remote workers (docs/primitives). */
const primitivePages: Record<string, string> = {
  "": "Overview",
  event: "Event",
  lock: "Lock and RLock",
  semaphore: "Semaphore and BoundedSemaphore",
  condition: "Condition",
  barrier: "Barrier",
  value: "Value and SharedArray",
  queue: "Queue and JoinableQueue",
  "remote-workers": "Workers on other hosts",
};

export default defineConfig({
  title: "ipc-sampler",
  description: "Inter-process communication for Node.js on Linux: every classic mechanism behind one interface, verified and measured.",
  lang: "en",
  cleanUrls: false,
  lastUpdated: false,
  // The site is read offline too: no web fonts, no search service.
  head: [
    ["meta", { name: "color-scheme", content: "light dark" }],
    ["link", { rel: "icon", type: "image/svg+xml", href: "/favicon.svg" }],
  ],
  srcExclude: ["examples/**", "test-fixtures/**", "README.md", "**/node_modules/**"],
  themeConfig: {
    logo: "/favicon.svg",
    nav: [
      { text: "Start", link: "/" },
      { text: "Mechanisms", link: `/mechanisms/${mechanismPages[0]!.id}` },
      { text: "Comparison", link: "/comparison" },
      { text: "Methodology", link: "/methodology" },
      { text: "API", link: "/api/" },
    ],
    sidebar: [
      {
        text: "Start",
        items: [
          { text: "What it is & which to pick", link: "/" },
          { text: "Coming from Python multiprocessing", link: "/python" },
          { text: "Troubleshooting", link: "/troubleshooting" },
        ],
      },
      { text: "Mechanisms", items: mechanismPages.map((m) => ({ text: m.title, link: `/mechanisms/${m.id}` })) },
      {
        text: "Shared state & workers",
        items: Object.entries(primitivePages).map(([id, text]) => ({ text, link: `/primitives/${id}` })),
      },
      {
        text: "Measured",
        items: [
          { text: "Comparison", link: "/comparison" },
          { text: "Methodology", link: "/methodology" },
        ],
      },
      { text: "Security", items: [{ text: "Threat model & error codes", link: "/security" }] },
      { text: "API reference", collapsed: true, items: [{ text: "Overview", link: "/api/" }, ...apiSidebar()] },
    ],
    outline: { level: [2, 3] },
    search: { provider: "local" },
    docFooter: { prev: "Previous", next: "Next" },
  },
  vite: {
    // Data loaders import the built packages (and their native addons); never bundle those for the browser.
    ssr: { noExternal: [] },
    build: { chunkSizeWarningLimit: 2000 },
  },
});
