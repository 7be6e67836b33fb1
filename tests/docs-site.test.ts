// The comparison site in a real browser: builds docs/ (or reuses a fresh
// build), serves it on loopback, and drives Debian's Chromium through
// playwright-core. Never downloads a browser.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { transports } from "../apps/demo/src/transports";

const root = path.resolve(fileURLToPath(new URL("..", import.meta.url)));
const docs = path.join(root, "docs");
const CHROMIUM = "/usr/bin/chromium";
const realResults = path.join(root, "bench", "results", "latest.json");
const fixtureResults = path.join(docs, "test-fixtures", "bench-fixture.json");
/** With real results the real site is tested; without, a separate build over the fixture (never the real dist). */
const useFixture = !existsSync(realResults);
const outDir = path.join(docs, ".vitepress", useFixture ? "dist-fixture" : "dist");
const shots = path.join(docs, ".screenshots");

const skipReason = !existsSync(CHROMIUM)
  ? `${CHROMIUM} is missing: install it with apt-get install -y chromium (the docs browser test never downloads a browser)`
  : !existsSync(path.join(docs, "node_modules", "vitepress"))
    ? "docs dependencies are not installed: run pnpm install"
    : undefined;
if (skipReason) console.warn(`docs-site test skipped: ${skipReason}`);

function newest(dir: string, accept: (file: string) => boolean, skip: (dir: string) => boolean = () => false): number {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === "node_modules" || skip(p)) continue;
      t = Math.max(t, newest(p, accept, skip));
    } else if (accept(p)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

const mtime = (p: string) => (existsSync(p) ? statSync(p).mtimeMs : 0);

/** Newest input of the API reference: the packages' TypeScript sources. */
function apiInputs(): number {
  const pk = path.join(root, "packages");
  return Math.max(mtime(path.join(docs, "typedoc.json")), newest(pk, (f) => f.endsWith(".ts") && f.includes(`${path.sep}src${path.sep}`), (d) => /[/\\](dist|build|test)$/.test(d)));
}

/** Newest input of the site: pages, theme, loaders, examples, built packages, registry, results. */
function siteInputs(): number {
  const vp = path.join(docs, ".vitepress");
  return Math.max(
    newest(docs, (f) => /\.(md|ts|vue|css|json)$/.test(f), (d) => d.startsWith(path.join(vp, "dist")) || d.startsWith(path.join(vp, "cache")) || d.startsWith(path.join(docs, ".screenshots")) || d.startsWith(path.join(docs, "examples", ".out"))),
    newest(path.join(root, "packages"), (f) => /[/\\]dist[/\\]index\.js$/.test(f)),
    mtime(path.join(root, "apps/demo/src/transports.ts")),
    mtime(path.join(root, "apps/demo/src/bench-schema.ts")),
    mtime(useFixture ? fixtureResults : realResults),
  );
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: docs, env: { ...process.env, ...env }, timeout: 150_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(args[0] ?? cmd)} ${args.slice(1).join(" ")} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve();
    });
  });
}

async function buildIfStale(): Promise<void> {
  const apiIndex = path.join(docs, "api", "index.md");
  if (mtime(apiIndex) < apiInputs()) {
    await run(process.execPath, [path.join(docs, "node_modules/typedoc/bin/typedoc"), "--options", "typedoc.json"]);
  }
  if (mtime(path.join(outDir, "index.html")) < siteInputs()) {
    const env: NodeJS.ProcessEnv = useFixture ? { IPCS_DOCS_RESULTS: path.relative(root, fixtureResults) } : {};
    if (!useFixture) delete process.env.IPCS_DOCS_RESULTS;
    await run(process.execPath, [path.join(docs, "node_modules/vitepress/bin/vitepress.js"), "build", ".", "--outDir", path.relative(docs, outDir)], env);
  }
}

const types: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".css": "text/css",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
};

function serve(dir: string): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    let p = path.join(dir, decodeURIComponent(url.pathname));
    if (!p.startsWith(dir)) p = path.join(dir, "404.html");
    if (existsSync(p) && statSync(p).isDirectory()) p = path.join(p, "index.html");
    if (!existsSync(p) && existsSync(`${p}.html`)) p = `${p}.html`;
    const found = existsSync(p);
    if (!found) p = path.join(dir, "404.html");
    res.writeHead(found ? 200 : 404, { "content-type": types[path.extname(p)] ?? "application/octet-stream" });
    res.end(readFileSync(p));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => {
    const a = server.address();
    resolve({ server, base: `http://127.0.0.1:${typeof a === "object" && a ? a.port : 0}` });
  }));
}

// playwright-core is a dependency of the docs package; resolve it from there.
type PW = typeof import("playwright-core");
async function loadPlaywright(): Promise<PW> {
  const req = createRequire(path.join(docs, "package.json"));
  const mod = await import(pathToFileURL(req.resolve("playwright-core")).href);
  return (mod.default ?? mod) as PW;
}

/** Every page of the built site. */
function pages(): string[] {
  const list: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory() && e.name !== "assets") walk(p);
      else if (e.name.endsWith(".html") && e.name !== "404.html") list.push("/" + path.relative(outDir, p).split(path.sep).join("/"));
    }
  };
  walk(outDir);
  return list.sort();
}

describe.skipIf(!!skipReason)("docs site in Chromium", () => {
  let server: Server;
  let base = "";
  let context: import("playwright-core").BrowserContext;
  let profile = "";
  const errors = new Map<string, string[]>();
  /** h2 headings of each page, as the browser rendered them. */
  const headings = new Map<string, string[]>();

  beforeAll(async () => {
    await buildIfStale();
    ({ server, base } = await serve(outDir));
    const { chromium } = await loadPlaywright();
    profile = mkdtempSync(path.join(tmpdir(), "ipcs-docs-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
      viewport: { width: 1280, height: 900 },
      timeout: 30_000,
    });
    mkdirSync(shots, { recursive: true });
  }, 300_000);

  afterAll(async () => {
    await context?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function open(page: import("playwright-core").Page, url: string) {
    const list: string[] = [];
    errors.set(url, list);
    page.on("console", (m) => {
      if (m.type() === "error") list.push(m.text());
    });
    page.on("pageerror", (e) => list.push(String(e)));
    page.on("response", (r) => {
      if (r.status() >= 400) list.push(`${r.status()} ${r.url()}`);
    });
    await page.goto(base + url, { waitUntil: "load" });
    await page.waitForSelector("#app .VPContent", { timeout: 10_000 });
    return list;
  }

  it("loads every page without console errors, and saves screenshots", async () => {
    const all = pages();
    expect(all).toContain("/index.html");
    expect(all).toContain("/comparison.html");
    expect(all).toContain("/methodology.html");
    for (const t of transports) expect(all).toContain(`/mechanisms/${t.id}.html`);
    const page = await context.newPage();
    const failures: string[] = [];
    for (const url of all) {
      page.removeAllListeners();
      const list = await open(page, url);
      await page.waitForTimeout(50); // hydration errors are logged after load
      const isApi = url.startsWith("/api/");
      if (!isApi || url === "/api/index.html" || url.endsWith("/pipe.html")) {
        const name = url.replace(/^\//, "").replace(/\.html$/, "").replace(/[/@]+/g, "_");
        await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
      }
      headings.set(url, (await page.locator(".vp-doc h2").allInnerTexts()).map((h) => h.replace(/\u200b|#/g, "").trim()));
      if (list.length) failures.push(`${url}: ${list.join(" | ")}`);
    }
    await page.close();
    expect(failures).toEqual([]);
  }, 120_000);

  it("lists every transport in the properties table and with numbers in the measured table", async () => {
    const page = await context.newPage();
    await open(page, "/comparison.html");
    if (useFixture) await expect(page.locator('[data-testid="fixture-banner"]').isVisible()).resolves.toBe(true);
    await expect(page.locator('[data-testid="results-source"]').innerText()).resolves.toMatch(/Measured \d{4}-\d\d-\d\d on /);
    const withDescriptor: string[] = [];
    for (const t of transports) {
      const row = page.locator(`[data-testid="properties-table"] tr[data-transport="${t.id}"]`);
      await expect(row.count(), `properties row for ${t.id}`).resolves.toBe(1);
      if (!(await row.innerText()).includes("pending:")) withDescriptor.push(t.id);
    }
    // The fixture measures every transport; real results must measure every transport whose package is there.
    const mustMeasure = useFixture ? transports.map((t) => t.id) : withDescriptor;
    for (const id of mustMeasure) {
      const cell = page.locator(`[data-testid="measured-table"] tr[data-transport="${id}"] td[data-metric="msgs"]`);
      await expect(cell.count(), `measured row with numbers for ${id}`).resolves.toBe(1);
      await expect(cell.innerText()).resolves.toMatch(/^\d+(\.\d+)?( [kMG])?$/);
    }
    await page.close();
  }, 30_000);

  it("draws every chart with data points, and the C reference toggle redraws", async () => {
    const page = await context.newPage();
    await open(page, "/comparison.html");
    for (const id of ["chart-throughput-msgs", "chart-throughput-mb"]) {
      const points = page.locator(`[data-testid="${id}"] svg circle.point`);
      const n = await points.count();
      expect(n, `${id} points`).toBeGreaterThan(transports.length);
      const box = await page.locator(`[data-testid="${id}"] svg`).first().boundingBox();
      expect(box && box.width > 300 && box.height > 150, `${id} has a size`).toBe(true);
      const cy = Number(await points.first().getAttribute("cy"));
      expect(Number.isFinite(cy)).toBe(true);
    }
    for (const id of ["chart-latency", "chart-ratio"]) {
      const bars = page.locator(`[data-testid="${id}"] svg rect.bar`);
      expect(await bars.count(), `${id} bars`).toBeGreaterThanOrEqual(transports.length);
      const widths = await bars.evaluateAll((els) => els.map((e) => Number(e.getAttribute("width"))));
      expect(widths.every((w) => Number.isFinite(w) && w > 0)).toBe(true);
    }
    // Round trips: one bar chart per CPU placement in the results.
    const placements = await page.locator('[data-testid^="chart-roundtrip-"][data-testid$="-svg"]').count();
    expect(placements, "round-trip charts").toBeGreaterThan(0);
    const rttBars = page.locator('[data-testid^="chart-roundtrip-"] svg rect.bar');
    expect(await rttBars.count(), "round-trip bars").toBeGreaterThanOrEqual(transports.length - 1);
    // Plain Node net's ping-pong beside ours, where the results have it (the fixture does).
    const results = JSON.parse(readFileSync(useFixture ? fixtureResults : realResults, "utf8")) as { roundTrip: Array<{ kind: string; ok: boolean; skipped?: string }> };
    if (results.roundTrip.some((r) => r.kind === "node-net" && r.ok && !r.skipped)) expect(await page.locator('[data-testid^="chart-roundtrip-"]').first().textContent()).toContain("Node net (Unix socket)");
    const chart = page.locator('[data-testid="chart-throughput-msgs"]');
    const before = await chart.locator("circle.point").count();
    await chart.locator('input[type="checkbox"]').first().check();
    await expect.poll(() => chart.locator("circle.point").count(), { timeout: 5000 }).toBeGreaterThan(before);
    // The transport-only lines, where the results have them (the fixture does).
    const bare = chart.locator('[data-testid="toggle-transport-only"]');
    if (useFixture) await expect(bare.count()).resolves.toBe(1);
    if (await bare.count()) {
      const shown = await chart.locator("circle.point").count();
      await bare.check();
      await expect.poll(() => chart.locator("circle.point").count(), { timeout: 5000 }).toBeGreaterThan(shown);
    }
    await page.close();
  }, 30_000);

  it("navigates between mechanism pages through the sidebar and the footer", async () => {
    const page = await context.newPage();
    await open(page, "/mechanisms/pipe.html");
    await expect(page.locator("h1").first().innerText()).resolves.toContain("Anonymous pipe");
    await page.locator(".VPSidebar a", { hasText: "Unix domain socket" }).first().click();
    await page.waitForURL(/\/mechanisms\/uds\.html$/);
    // Client-side navigation changes the URL before it renders the page: wait for the heading.
    await page.locator("h1", { hasText: "Unix domain socket" }).first().waitFor({ timeout: 10_000 });
    await expect(page.locator('[data-testid="facts-uds"]').count()).resolves.toBe(1);
    await page.locator(".VPDocFooter .pager-link.next").click();
    await page.waitForURL(/\/mechanisms\/tcp\.html$/);
    await page.locator("h1", { hasText: "TCP" }).first().waitFor({ timeout: 10_000 });
    await page.close();
  }, 30_000);

  it("gives every mechanism page the same sections in the same order", () => {
    const sections = ["What the kernel does", "Ownership and cleanup", "Direction", "Limits on this machine", "Persistence", "When a peer dies", "Where it loses", "Example", "Measured"];
    for (const t of transports) expect(headings.get(`/mechanisms/${t.id}.html`), `sections of ${t.id}`).toEqual(sections);
  }, 30_000);
});
