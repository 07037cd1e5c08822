// Usage: node check.mjs <gateway base URL> <access token> <screenshot.png>
// Opens Swagger UI at /docs, authorizes with the bearer token through the "Authorize" dialog,
// runs GET /tasks with "Try it out", and fails unless the response shown is a 200 with the
// caller's tasks. Saves a full-page screenshot of the answered call.
import { chromium } from "playwright-core";

const [base, token, out] = process.argv.slice(2);
if (!base || !token || !out) {
  console.error("usage: node check.mjs <base> <token> <out.png>");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  await page.goto(`${base}/docs/`, { waitUntil: "networkidle" });
  await page.locator(".scheme-container button.authorize").click();
  await page.locator(".modal-ux input").first().fill(token);
  await page.locator(".modal-ux button.modal-btn.authorize").click();
  await page.locator(".modal-ux button.btn-done").click();

  // Swagger UI names each operation block `operations-<tag>-<operationId>`.
  const block = page.locator("#operations-tasks-listTasks");
  await block.locator(".opblock-summary-control").click();
  // The gateway's Swagger UI has "Try it out" on by default; click it only if it is offered.
  const tryIt = block.locator("button.try-out__btn");
  if ((await tryIt.count()) > 0 && (await tryIt.innerText()).includes("Try it out")) {
    await tryIt.click();
  }
  await block.getByRole("button", { name: "Execute" }).click();
  const status = block.locator(".live-responses-table tbody .response-col_status").first();
  await status.waitFor({ timeout: 15000 });
  const code = (await status.innerText()).trim();
  const body = await block.locator(".live-responses-table .microlight, .live-responses-table pre").first().innerText();
  await block.scrollIntoViewIfNeeded();
  await page.screenshot({ path: out, fullPage: false });
  if (!code.startsWith("200") || !body.includes('"data"')) {
    console.error(`GET /tasks through Swagger UI answered ${code}: ${body.slice(0, 300)}`);
    process.exit(1);
  }
  console.log(`Swagger UI: authorized GET /tasks answered ${code}; screenshot ${out}`);
} finally {
  await browser.close();
}
