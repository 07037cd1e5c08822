// The web app in a real browser: Debian's headless Chromium (playwright-core) against a running
// platform. Run through .ci/ui-e2e (`just ui-test`), which starts the platform and sets E2E_*.
//
// Each test checks what the page shows, through accessible roles and names (the DOM contract in
// TESTING.md, "Browser tests"), with fresh users and unique e-mail addresses, in a fresh browser
// context. Every wait has a deadline (E2E_WAIT_MS, 15 s by default); nothing sleeps.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import path from "node:path";

import {
  ARTIFACTS, DEPLOYMENT, PASSWORD, UI, apiCreateTask, apiLogin, apiNotifications, apiTasks, atPath, axeViolations,
  canLogIn, close, eventually, launch, mailsTo, promote, registerUser, resetLink, timings,
  uniqueEmail, uniqueTitle, withContext,
} from "./lib.mjs";

before(launch);
after(close);

// --- the contract's locators -------------------------------------------------------------------

const field = (page, label) => page.getByLabel(label, { exact: true });
const button = (page, name) => page.getByRole("button", { name, exact: true });
const heading = (page, name, level) => page.getByRole("heading", { name, exact: true, ...(level ? { level } : {}) });
/** The bell: "Notifications, N unread" (any text between the two parts). */
const bell = (page, unread) =>
  page.getByRole("banner").getByRole("button", { name: new RegExp(`^Notifications\\b.*\\b${unread ?? "\\d+"} unread$`) });
const taskList = (page) => page.getByRole("list", { name: "Tasks", exact: true });
const taskItem = (page, title) =>
  taskList(page).getByRole("listitem").filter({ has: page.getByRole("link", { name: title, exact: true }) });
/** The titles the task list shows, in order. */
const shownTitles = (page) => taskList(page).getByRole("listitem").getByRole("link").allInnerTexts();
/** A menu entry: a menuitem, or a button or link inside the open menu. */
const menuEntry = (page, name) =>
  page.getByRole("menuitem", { name, exact: true })
    .or(page.getByRole("menu").getByRole("button", { name, exact: true }))
    .or(page.getByRole("menu").getByRole("link", { name, exact: true }));

async function signIn(page, { email, password }) {
  await page.goto("/login");
  await field(page, "Email").fill(email);
  await field(page, "Password").fill(password);
  await button(page, "Sign in").click();
  await atPath(page, "/tasks");
  await heading(page, "Tasks").waitFor();
}

async function quickAdd(page, title) {
  const input = field(page, "New task");
  await input.fill(title);
  await input.press("Enter");
  await taskItem(page, title).waitFor();
}

/** Waits until the task list shows exactly `titles` (in any order). */
async function expectTitles(page, titles, what) {
  const want = [...titles].sort();
  await eventually(what, async () => {
    const got = (await shownTitles(page)).map((t) => t.trim()).sort();
    return JSON.stringify(got) === JSON.stringify(want) ? got : JSON.stringify(got);
  });
}

/** A mark in the page's JS realm: still there afterwards means the page did not reload. */
const markNoReload = (page) => page.evaluate(() => { window.__e2eNoReload = true; });
const notReloaded = async (page) => assert.equal(await page.evaluate(() => window.__e2eNoReload === true), true,
  "the page reloaded (the mark set before is gone)");

/** Each test's own deadline: every wait inside has a shorter one. */
const T = { timeout: 120_000 };

// --- the tests ---------------------------------------------------------------------------------

describe(`web app (${DEPLOYMENT})`, () => {
  test("landing page: name, sign in, create account", T, () =>
    withContext("landing", async ({ page }) => {
      await page.goto("/");
      await page.getByRole("heading", { level: 1, name: /Tessera/ }).waitFor();
      // The page's own links (a header may repeat them).
      const main = page.getByRole("main");
      assert.equal(await main.getByRole("link", { name: "Sign in", exact: true }).getAttribute("href"), "/login");
      assert.equal(await main.getByRole("link", { name: "Create account", exact: true }).getAttribute("href"), "/register");
    }));

  test("register signs in and opens the tasks", T, () =>
    withContext("register", async ({ page }) => {
      await page.goto("/");
      await page.getByRole("main").getByRole("link", { name: "Create account", exact: true }).click();
      await atPath(page, "/register");
      await field(page, "Name").fill("Ada Lovelace");
      await field(page, "Email").fill(uniqueEmail("register"));
      await field(page, "Password").fill(PASSWORD);
      await button(page, "Create account").click();
      await atPath(page, "/tasks");
      await heading(page, "Tasks").waitFor();
      await page.getByText("No tasks yet").waitFor();
      await bell(page, 0).waitFor();
    }));

  test("a wrong form shows the field error next to the field", T, () =>
    withContext("field error", async ({ page }) => {
      await page.goto("/register");
      await field(page, "Name").fill("Short Password");
      await field(page, "Email").fill(uniqueEmail("field-error"));
      const password = field(page, "Password");
      await password.fill("short");
      await button(page, "Create account").click();
      await eventually("the password field marked invalid", async () => (await password.getAttribute("aria-invalid")) === "true");
      const describedBy = ((await password.getAttribute("aria-describedby")) ?? "").split(/\s+/);
      assert.ok(describedBy.includes("password-error"), `aria-describedby is "${describedBy.join(" ")}", not password-error`);
      const message = page.locator("#password-error");
      await message.waitFor();
      assert.match(await message.innerText(), /\S/, "#password-error is empty");
      await atPath(page, "/register");
    }));

  test("log in; wrong credentials show a dismissible error with the request id", T, () =>
    withContext("login", async ({ page }) => {
      const user = await registerUser("login");
      await page.goto("/login");
      await field(page, "Email").fill(user.email);
      await field(page, "Password").fill("not the password");
      await button(page, "Sign in").click();
      const alert = page.getByRole("alert").filter({ hasText: "Request ID" });
      await alert.waitFor();
      await alert.getByRole("button", { name: "Dismiss", exact: true }).click();
      await alert.waitFor({ state: "detached" });
      await field(page, "Password").fill(user.password);
      await button(page, "Sign in").click();
      await atPath(page, "/tasks");
      await heading(page, "Tasks").waitFor();
      // A plain user has no admin navigation.
      const nav = page.getByRole("navigation", { name: "Main", exact: true });
      await nav.getByRole("link", { name: "Tasks", exact: true }).waitFor();
      assert.equal(await nav.getByRole("link", { name: "Users", exact: true }).count(), 0, "a plain user sees Users");
    }));

  test("reload stays signed in; time to an interactive dashboard", T, () =>
    withContext("reload", async ({ page }) => {
      const user = await registerUser("reload");
      await signIn(page, user);
      await page.reload();
      // Interactive: quick add accepts input and the list (here its empty state) is there.
      await field(page, "New task").waitFor();
      await page.getByText("No tasks yet").waitFor();
      assert.equal(await field(page, "New task").isEditable(), true, "quick add is not editable");
      timings.navigationToInteractiveDashboardMs = Math.round(await page.evaluate(() => performance.now()));
      assert.equal(new URL(page.url()).pathname, "/tasks", "the reload left /tasks");
      await page.getByRole("banner").getByRole("link", { name: "Tessera", exact: true }).waitFor();
    }));

  test("a task added while the list is still loading is shown", T, () =>
    withContext("tasks-loading", async ({ page }) => {
      const user = await registerUser("tasks-loading");
      await signIn(page, user);
      // Open the page again with the list's answer held back until the task exists: the answer,
      // taken from the server before the task was added, then arrives after it.
      let fetched;
      const listFetched = new Promise((resolve) => (fetched = resolve));
      let release;
      const released = new Promise((resolve) => (release = resolve));
      let first = true;
      await page.route(/\/tasks\?/, async (route) => {
        if (!first || route.request().method() !== "GET") return route.continue();
        first = false;
        const response = await route.fetch();
        fetched();
        await released;
        await route.fulfill({ response });
      });
      await page.goto("/tasks");
      await listFetched;
      const title = uniqueTitle("Added while loading");
      const created = page.waitForResponse((r) => r.request().method() === "POST" && /\/tasks$/.test(r.url()));
      const input = field(page, "New task");
      await input.fill(title);
      await input.press("Enter");
      assert.equal((await created).status(), 201);
      release();
      await taskItem(page, title).waitFor();
      await page.getByText("1 task", { exact: true }).waitFor();
    }));

  test("tasks: quick add, filter by status and priority, search, edit, complete, delete and undo", T, () =>
    withContext("tasks", async ({ page }) => {
      const user = await registerUser("tasks");
      await signIn(page, user);
      const tag = Math.random().toString(36).slice(2, 7);
      const [water, report, call] = [`Water the plants ${tag}`, `Write the report ${tag}`, `Call the bank ${tag}`];
      for (const title of [water, report, call]) await quickAdd(page, title);
      await page.getByText("3 tasks", { exact: true }).waitFor();
      await expectTitles(page, [water, report, call], "three quick-added tasks");

      // Edit one on its page: priority High.
      await taskItem(page, report).getByRole("link", { name: report, exact: true }).click();
      await page.waitForURL(/\/tasks\/[0-9a-f-]{36}$/);
      await heading(page, report, 1).waitFor();
      for (const label of ["Title", "Description", "Status", "Priority", "Due date"]) await field(page, label).waitFor();
      await page.getByText("Created", { exact: true }).waitFor();
      await page.getByText("Updated", { exact: true }).waitFor();
      await field(page, "Priority").selectOption({ label: "High" });
      await button(page, "Save changes").click();
      const token = await apiLogin(user);
      await eventually("the API to have the new priority", async () =>
        (await apiTasks(token, `q=${encodeURIComponent(report)}`)).some((t) => t.title === report && t.priority === "HIGH"));
      await page.getByRole("navigation", { name: "Main", exact: true }).getByRole("link", { name: "Tasks", exact: true }).click();
      await atPath(page, "/tasks");

      // Complete one.
      const done = taskItem(page, water).getByRole("checkbox", { name: `Complete ${water}`, exact: true });
      await done.check();
      await eventually("the checkbox stays checked", () => done.isChecked());

      const status = field(page, "Status");
      const priority = field(page, "Priority");
      await status.selectOption({ label: "Completed" });
      await expectTitles(page, [water], "status Completed");
      await status.selectOption({ label: "Pending" });
      await expectTitles(page, [report, call], "status Pending");
      await status.selectOption({ label: "All" });
      await priority.selectOption({ label: "High" });
      await expectTitles(page, [report], "priority High");
      await priority.selectOption({ label: "Urgent" });
      await page.getByText("No tasks match").waitFor();
      await priority.selectOption({ label: "All" });
      await expectTitles(page, [water, report, call], "no filters");
      for (const label of ["All", "Pending", "In progress", "Completed", "Cancelled"]) {
        assert.equal(await status.locator("option", { hasText: label }).count() > 0, true, `Status has no option ${label}`);
      }
      await field(page, "Sort").waitFor();

      // Search from the header.
      const search = page.getByRole("searchbox", { name: "Search tasks", exact: true });
      await search.fill("bank");
      await expectTitles(page, [call], "search 'bank'");
      await search.fill(`nothing-like-this-${tag}`);
      await page.getByText("No tasks match").waitFor();
      await search.fill("");
      await expectTitles(page, [water, report, call], "search cleared");

      // Delete, then undo.
      await taskItem(page, call).getByRole("button", { name: `Delete ${call}`, exact: true }).click();
      await expectTitles(page, [water, report], "after delete");
      await page.getByRole("status").getByRole("button", { name: "Undo", exact: true }).click();
      await expectTitles(page, [water, report, call], "after undo");
      await page.getByText("3 tasks", { exact: true }).waitFor();
    }));

  test("tasks: pages", T, () =>
    withContext("pages", async ({ page }) => {
      const user = await registerUser("pages");
      const token = await apiLogin(user);
      // More than a page (the app shows 20; anything from 13 to 24 works here), newest first:
      // the oldest is on the second page.
      const count = 25;
      const title = (i) => `Paged task ${String(i).padStart(2, "0")}`;
      for (let i = 1; i <= count; i += 1) await apiCreateTask(token, { title: title(i) });
      await signIn(page, user);
      await page.getByText(`${count} tasks`, { exact: true }).waitFor();
      await taskItem(page, title(count)).waitFor();
      assert.equal(await taskItem(page, title(1)).count(), 0, "the oldest task is on the first page");
      await button(page, "Next page").click();
      await taskItem(page, title(1)).waitFor();
      assert.equal(await taskItem(page, title(count)).count(), 0, "the newest task is on the second page");
      await button(page, "Previous page").click();
      await taskItem(page, title(count)).waitFor();
    }));

  // A user's first task brings two notifications (the in-app "New Task Created" and the welcome
  // e-mail), completing it two more (in-app "Task Completed" and the congratulations e-mail):
  // API.md, "What the user receives". Both channels count as unread.
  test("completing a task: its notification arrives live in the bell, then mark it read", T, () =>
    withContext("notifications", async ({ page }) => {
      const user = await registerUser("bell");
      await signIn(page, user);
      const title = uniqueTitle("Finish the slides");
      await quickAdd(page, title);
      await bell(page, 2).waitFor();
      await markNoReload(page);
      const started = Date.now();
      await taskItem(page, title).getByRole("checkbox", { name: `Complete ${title}`, exact: true }).check();
      await bell(page, "[34]").waitFor();
      timings.taskCompletionToBellMs = Date.now() - started;
      await bell(page, 4).waitFor();
      await notReloaded(page);

      await page.goto("/notifications");
      await heading(page, "Notifications").waitFor();
      const completed = page.getByRole("listitem").filter({ hasText: "Task Completed" });
      await completed.getByRole("button", { name: /^Mark read/ }).click();
      await bell(page, 3).waitFor();
      const token = await apiLogin(user);
      await eventually("the API to list Task Completed as read", async () =>
        (await apiNotifications(token)).data.some((n) => n.subject === "Task Completed" && n.read));
      await button(page, "Mark all read").click();
      await bell(page, 0).waitFor();
    }));

  test("forgot password: the e-mailed link sets a new password; used twice, it is refused", T, () =>
    withContext("reset password", async ({ page }) => {
      const user = await registerUser("reset");
      const before = (await mailsTo(user.email)).length;
      await page.goto("/login");
      await page.getByRole("link", { name: "Forgot password?", exact: true }).click();
      await atPath(page, "/forgot-password");
      await field(page, "Email").fill(user.email);
      await button(page, "Send reset link").click();
      await page.getByRole("status").filter({ hasText: "If an account exists" }).waitFor();

      const link = await resetLink(user.email, { after: before });
      assert.ok(link.startsWith(UI + "/reset-password?token="), `the link ${link} does not lead to ${UI}`);
      await page.goto(link);
      const newPassword = "a brand new passphrase";
      await field(page, "New password").fill(newPassword);
      await button(page, "Set new password").click();
      await atPath(page, "/login");
      await page.getByRole("status").filter({ hasText: "Your password has been changed" }).waitFor();
      await signIn(page, { email: user.email, password: newPassword });
      assert.equal(await canLogIn(user), false, "the old password still logs in");

      // The same link again, signed out (a second browser): the token is spent.
      await withContext("reset link used twice", async ({ page: again }) => {
        await again.goto(link);
        await field(again, "New password").fill("yet another passphrase");
        await button(again, "Set new password").click();
        await again.getByRole("alert").filter({ hasText: "expired or was already used" }).waitFor();
      });
    }));

  test("a lost connection is a visible state; the refused change rolls back, and works once back", T, () =>
    withContext("offline", async ({ page, context }) => {
      const user = await registerUser("offline");
      await signIn(page, user);
      await page.getByText("No tasks yet").waitFor();
      const title = uniqueTitle("Written while offline");
      await context.setOffline(true);
      await field(page, "New task").fill(title);
      await field(page, "New task").press("Enter");
      // The banner says so, the error says what to do, and the optimistic row is gone again.
      await page.getByRole("status").filter({ hasText: "You are offline" }).waitFor();
      await page.getByRole("alert").filter({ hasText: "cannot be reached" }).waitFor();
      await eventually("the optimistic row rolled back", async () => (await taskList(page).count()) === 0);
      assert.equal(await field(page, "New task").inputValue(), title, "the typed title was lost");
      await context.setOffline(false);
      await field(page, "New task").press("Enter");
      await expectTitles(page, [title], "the task created once back online");
      await page.getByRole("status").filter({ hasText: "You are offline" }).waitFor({ state: "detached" });
    }));

  test("two tabs: signing out in one signs the other out", T, () =>
    withContext("two tabs", async ({ page, newPage }) => {
      const user = await registerUser("tabs");
      await signIn(page, user);
      const other = await newPage();
      await other.goto("/tasks");
      await heading(other, "Tasks").waitFor();
      await markNoReload(other);

      await button(page, "Account menu").click();
      await menuEntry(page, "Sign out").click();
      await atPath(page, "/login");
      await atPath(other, "/login");
      await notReloaded(other);
      await field(other, "Email").waitFor();
    }));

  test("an admin deletes a user", T, () =>
    withContext("admin", async ({ page }) => {
      const admin = await registerUser("admin", "E2E Admin");
      const victim = await registerUser("victim", "E2E Victim");
      await promote(admin.email);
      await signIn(page, admin);
      await page.getByRole("navigation", { name: "Main", exact: true }).getByRole("link", { name: "Users", exact: true }).click();
      await atPath(page, "/admin/users");
      await heading(page, "Users").waitFor();
      await page.getByRole("searchbox", { name: "Search users", exact: true }).fill(victim.email);
      const row = page.getByRole("row").filter({ hasText: victim.email });
      await row.waitFor();
      await row.getByRole("button", { name: `Delete ${victim.email}`, exact: true }).click();
      const dialog = page.getByRole("alertdialog");
      await dialog.waitFor();
      await dialog.getByRole("button", { name: "Delete user", exact: true }).click();
      await row.waitFor({ state: "detached" });
      await eventually("the deleted user is refused at login", async () => !(await canLogIn(victim)));
    }));

  test("every main page: screenshots (375x812, 1440x900, light and dark), axe, no sideways scroll", { timeout: 600_000 }, async () => {
    const shots = path.join(ARTIFACTS, "screenshots");
    await mkdir(shots, { recursive: true });
    const problems = [];

    // Data to show: an admin with tasks in several states and their notifications.
    const admin = await registerUser("tour", "Grace Hopper");
    const token = await apiLogin(admin);
    const tasks = [
      { title: "Plan the quarterly review", priority: "HIGH", description: "Agenda, numbers, owners." },
      { title: "Renew the domain name", priority: "URGENT" },
      { title: "Reply to the design feedback", priority: "LOW" },
    ];
    const created = [];
    for (const t of tasks) created.push(await apiCreateTask(token, t));
    await promote(admin.email);

    const signedOut = [
      ["landing", "/", (p) => p.getByRole("heading", { level: 1, name: /Tessera/ })],
      ["login", "/login", (p) => button(p, "Sign in")],
      ["register", "/register", (p) => button(p, "Create account")],
      ["forgot", "/forgot-password", (p) => button(p, "Send reset link")],
      ["reset", "/reset-password?token=e2e-screenshot-token", (p) => button(p, "Set new password")],
    ];
    const signedIn = [
      ["tasks", "/tasks", (p) => taskItem(p, tasks[2].title)],
      ["task-detail", `/tasks/${created[0].id}`, (p) => button(p, "Save changes")],
      ["notifications", "/notifications", (p) => heading(p, "Notifications")],
      ["profile", "/profile", (p) => button(p, "Save profile")],
      ["admin-users", "/admin/users", (p) => p.getByRole("row").filter({ hasText: admin.email })],
    ];

    const tour = async (page, pages) => {
      for (const [name, url, ready] of pages) {
        for (const scheme of ["light", "dark"]) {
          await page.emulateMedia({ colorScheme: scheme });
          await page.setViewportSize({ width: 1440, height: 900 });
          await page.goto(url);
          await ready(page).waitFor();
          for (const [w, h] of [[1440, 900], [375, 812]]) {
            await page.setViewportSize({ width: w, height: h });
            await ready(page).waitFor();
            await page.screenshot({ path: path.join(shots, `${name}-${w}x${h}-${scheme}.png`), fullPage: true });
            if (w === 375) {
              const [scroll, inner] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
              if (scroll > inner) problems.push(`${name} (${scheme}, 375 px): scrolls sideways (${scroll} px wide)`);
            }
          }
          await page.setViewportSize({ width: 1440, height: 900 });
          const violations = await axeViolations(page);
          if (violations.length) problems.push(`${name} (${scheme}): axe found ${violations.length} serious/critical:\n${violations.join("\n")}`);
        }
      }
    };
    await withContext("tour signed out", async ({ page }) => tour(page, signedOut));
    // Its notifications (one per task, and the welcome e-mail) are in before the tour shows them.
    const unread = await eventually("the tour user's notifications", async () => {
      const { meta } = await apiNotifications(token);
      return meta.unreadCount === tasks.length + 1 && meta.unreadCount;
    });
    await withContext("tour signed in", async ({ page }) => {
      await signIn(page, admin);
      await bell(page, unread).waitFor();
      await tour(page, signedIn);
    });
    console.log(`[${DEPLOYMENT}] screenshots: ${shots}`);
    // One readable list (an assertion's diff would print it three times).
    if (problems.length) throw new Error(`${problems.length} problem(s):\n${problems.join("\n")}`);
  });
});
