// Helpers of the browser suite (app.test.mjs): the browser, pages that explain their failures,
// the mail catcher, the API (for setting up data the test is not about), and axe-core.
import { chromium } from "playwright-core";
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { promisify } from "node:util";

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set: run the suite through .ci/ui-e2e (just ui-test)`);
  return v;
};

/** Where the web app and the API are, as the browser sees them (http://localhost:<port>). */
export const UI = env("E2E_UI").replace(/\/$/, "");
export const API = env("E2E_API").replace(/\/$/, "");
export const MAIL_API = env("E2E_MAIL_API", "http://127.0.0.1:1080").replace(/\/$/, "");
export const ARTIFACTS = env("E2E_ARTIFACTS", path.resolve("artifacts/ui/local"));
export const DEPLOYMENT = env("E2E_DEPLOYMENT", "local");
/** How long any one wait may take before the test fails. */
export const WAIT_MS = Number(process.env.E2E_WAIT_MS ?? 15000);

// The node side calls the API over IPv4: the servers listen on 127.0.0.1, and Node may try
// ::1 first for "localhost". The browser keeps "localhost" (Secure cookies over http).
const API_DIRECT = API.replace("//localhost:", "//127.0.0.1:");

/** Timings the suite records (printed and written at the end; never asserted). */
export const timings = {};

let browser;

/** Launches Debian's Chromium with the flags TOOLS.md lists (no downloads, no sandbox). */
export async function launch() {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run",
    ],
  });
  await mkdir(ARTIFACTS, { recursive: true });
  return browser;
}

export async function close() {
  await browser?.close();
  const file = path.join(ARTIFACTS, "timings.json");
  await writeFile(file, JSON.stringify(timings, null, 2) + "\n");
  console.log(`\n[${DEPLOYMENT}] timings (ms): ${JSON.stringify(timings)}`);
  console.log(`[${DEPLOYMENT}] artifacts: ${ARTIFACTS}`);
}

/** A unique address per call: tests never read each other's mail, even across runs. */
export function uniqueEmail(tag) {
  const rand = Math.random().toString(36).slice(2, 8);
  return `e2e-${tag}-${Date.now().toString(36)}-${rand}@example.com`;
}

/** A unique task title, so a list can be searched for exactly this run's tasks. */
export function uniqueTitle(words) {
  return `${words} ${Math.random().toString(36).slice(2, 7)}`;
}

const PASSWORD = "correct horse battery";
export { PASSWORD };

/**
 * Runs `body(ctx)` with a fresh browser context (its own cookies and storage) and one page in
 * it. Records, per page, what the console and the page say. Fails the test when a page breaks
 * the Content-Security-Policy, throws, or the wasm panics, even when the assertions passed. On any
 * failure, prints each page's URL, a screenshot path and its last console errors.
 */
export async function withContext(name, body, { viewport = { width: 1280, height: 900 } } = {}) {
  const context = await browser.newContext({ viewport, baseURL: UI });
  context.setDefaultTimeout(WAIT_MS);
  const pages = [];
  const watch = (page) => {
    const log = { console: [], fatal: [] };
    pages.push({ page, log });
    page.on("console", (msg) => {
      const text = msg.text();
      const where = msg.location()?.url ? ` (${msg.location().url})` : "";
      if (msg.type() === "error" || msg.type() === "warning") log.console.push(`${msg.type()}: ${text}${where}`);
      if (/Content Security Policy|Content-Security-Policy/i.test(text)) log.fatal.push(`CSP violation: ${text}`);
      if (/panicked at/.test(text)) log.fatal.push(`wasm panic: ${text}`);
    });
    page.on("response", (res) => {
      if (res.status() >= 400) log.console.push(`http: ${res.request().method()} ${res.url()} answered ${res.status()}`);
    });
    page.on("pageerror", (err) => {
      log.console.push(`pageerror: ${err.message}`);
      log.fatal.push(`uncaught exception: ${err.message}`);
    });
  };
  context.on("page", watch);
  const ctx = {
    context,
    page: await context.newPage(),
    /** Another tab in the same context (shares cookies and storage). */
    newPage: () => context.newPage(),
  };
  let failure;
  try {
    await body(ctx);
  } catch (err) {
    failure = err;
  }
  const fatal = pages.flatMap(({ page, log }) => log.fatal.map((f) => `${page.url()}: ${f}`));
  if (!failure && fatal.length > 0) failure = new Error(`the page reported:\n  ${fatal.join("\n  ")}`);
  if (failure) await explain(name, pages);
  await context.close();
  if (failure) throw failure;
}

async function explain(name, pages) {
  const dir = path.join(ARTIFACTS, "failures");
  await mkdir(dir, { recursive: true });
  const slug = name.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
  for (const [i, { page, log }] of pages.entries()) {
    if (page.isClosed()) continue;
    const shot = path.join(dir, `${slug}${pages.length > 1 ? `-tab${i + 1}` : ""}.png`);
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    console.error(`\n[${DEPLOYMENT}] "${name}" failed on ${page.url()}`);
    console.error(`  screenshot: ${shot}`);
    const last = log.console.slice(-10);
    console.error(last.length ? `  last console errors and failed requests:\n    ${last.join("\n    ")}` : "  no console errors");
  }
}

/**
 * Polls `check` (an async function returning a truthy value when done) until it succeeds or the
 * deadline passes; the error names what was awaited and the last value seen.
 */
export async function eventually(what, check, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err.message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeout} ms (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the page's path (without the query) is `path`. */
export async function atPath(page, pathname, timeout = WAIT_MS) {
  await page.waitForURL((url) => url.pathname === pathname, { timeout });
}

// --- the API, for data a test is not about -----------------------------------------------------

async function api(method, route, body, token) {
  const res = await fetch(API_DIRECT + route, {
    method,
    headers: {
      ...(body ? { "content-type": "application/json" } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${route} answered ${res.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

/** Registers a user through the API; returns `{ email, password, name }`. */
export async function registerUser(tag, name = "E2E Person") {
  const email = uniqueEmail(tag);
  await api("POST", "/auth/register", { email, password: PASSWORD, name });
  return { email, password: PASSWORD, name };
}

/** Logs in through the API; returns the access token. */
export async function apiLogin({ email, password }) {
  return (await api("POST", "/auth/login", { email, password })).accessToken;
}

/** Creates a task through the API. */
export async function apiCreateTask(token, task) {
  return api("POST", "/tasks", task, token);
}

/** The caller's tasks as the API lists them (`query`: e.g. "q=report"). */
export async function apiTasks(token, query = "") {
  return (await api("GET", `/tasks?limit=100${query ? `&${query}` : ""}`, null, token)).data;
}

/** The caller's notifications and their meta (`unreadCount`), as the API lists them. */
export async function apiNotifications(token) {
  return api("GET", "/notifications?limit=100", null, token);
}

/** Whether the API accepts these credentials. */
export async function canLogIn({ email, password }) {
  const res = await fetch(API_DIRECT + "/auth/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  return res.ok;
}

/** Makes a user an admin with the operator CLI (`shell admin promote`), as an operator would. */
export async function promote(email) {
  const run = promisify(execFile);
  await run(env("E2E_SHELL"), ["admin", "promote", email], {
    env: { PATH: process.env.PATH, LOG_FORMAT: "json", RUST_LOG: "warn", AUTH_DATABASE_URL: env("E2E_AUTH_DATABASE_URL") },
  });
}

// --- the mail catcher --------------------------------------------------------------------------

/** The caught e-mails to `address` (maildev's HTTP API), oldest first. */
export async function mailsTo(address) {
  const res = await fetch(`${MAIL_API}/api/email`);
  if (!res.ok) throw new Error(`GET ${MAIL_API}/api/email answered ${res.status}`);
  const all = await res.json();
  return all.filter((m) => (m.to ?? []).some((t) => t.address?.toLowerCase() === address.toLowerCase()));
}

/** Waits for a password-reset e-mail to `address` and returns the link it carries. */
export async function resetLink(address, { after = 0 } = {}) {
  return eventually(`a password-reset e-mail to ${address}`, async () => {
    const mails = (await mailsTo(address)).slice(after);
    for (const m of mails) {
      const body = `${m.text ?? ""}\n${m.html ?? ""}`.replace(/&amp;/g, "&");
      const link = body.match(/https?:\/\/[^\s"'<>]+\/reset-password\?token=[^\s"'<>&]+/);
      if (link) return link[0];
    }
    return null;
  }, 30000);
}

// --- accessibility -----------------------------------------------------------------------------

const axeSource = readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/**
 * Runs axe-core on the page and returns its serious and critical violations as readable lines.
 * axe is injected with `page.evaluate`, which the DevTools protocol runs outside the page's CSP;
 * a `<script>` tag (`page.addScriptTag`) would be refused by `script-src 'self'`, and turning the
 * CSP off for the context would hide the app's own CSP violations, which this suite fails on.
 */
export async function axeViolations(page) {
  await page.evaluate(await axeSource);
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ["violations"], runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } }),
  );
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => {
      const nodes = v.nodes.slice(0, 5).map((n) => `      ${n.target.join(" ")}: ${n.failureSummary?.split("\n").slice(1).join("; ").trim()}`);
      const more = v.nodes.length > 5 ? `\n      ... and ${v.nodes.length - 5} more` : "";
      return `  ${v.impact} ${v.id}: ${v.help} (${v.helpUrl})\n${nodes.join("\n")}${more}`;
    });
}
