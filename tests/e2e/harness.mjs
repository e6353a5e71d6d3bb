// Shared pieces of the browser end-to-end tests: a real sessionwire-server on port 0 with a
// fresh database, and Debian's Chromium driven by playwright-core (never a downloaded browser).
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const root = path.resolve(import.meta.dirname, "../..");
export const serverBinary = process.env.SESSIONWIRE_SERVER ?? path.join(root, "target/debug/sessionwire-server");
export const screenshotDir = process.env.E2E_SCREENSHOTS ?? path.join(root, "target/e2e-screenshots");
mkdirSync(screenshotDir, { recursive: true });

/** A fresh database folder for one test. */
export function freshDb() {
  return path.join(mkdtempSync(path.join(tmpdir(), "sessionwire-e2e-")), "sessions.db");
}

/** Starts the server and resolves once it prints `listening on http://ADDR`. */
export function startServer({ db, listen = "127.0.0.1:0", extraArgs = [] }) {
  return new Promise((resolve, reject) => {
    const child = spawn(serverBinary, ["--listen", listen, "--db", db, "--www", path.join(root, "www"), ...extraArgs], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), 20_000);
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const match = stdout.match(/listening on (http:\/\/\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1], child, address: match[1].replace("http://", ""), stderr: () => stderr });
      }
    });
    child.stderr.on("data", (chunk) => (stderr += chunk));
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${stderr}`));
    });
  });
}

/** Stops a server: SIGTERM (graceful) unless `signal` says otherwise; waits for the exit. */
export function stopServer(server, signal = "SIGTERM") {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null || server.child.signalCode !== null) return resolve();
    server.child.removeAllListeners("exit");
    server.child.once("exit", () => resolve());
    server.child.kill(signal);
  });
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

/** Opens the demo and waits until its client is connected. */
export async function openDemo(browser, url, { viewport = { width: 1280, height: 800 } } = {}) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  page.errors = errors;
  await page.goto(url);
  await page.waitForSelector('[data-testid="connection"][data-status="open"]', { timeout: 15_000 });
  return page;
}

export async function screenshot(page, name) {
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Types a message into the composer and sends it. */
export async function send(page, text) {
  await page.fill('[data-testid="input"]', text);
  await page.click('[data-testid="send"]');
}

/** The texts of the current conversation's messages, as {role, text, status}. */
export function messages(page) {
  return page.$$eval('[data-testid="messages"] > li', (items) =>
    items.map((li) => ({ role: li.dataset.role, status: li.dataset.status, text: li.querySelector(".text").textContent })),
  );
}

/**
 * Whether the running badge shows. Waits until the rendered badge agrees with the store (the
 * page renders on the next animation frame), and checks that its data attribute and its
 * visibility agree, read in one go.
 */
export async function running(page) {
  const handle = await page.waitForFunction(() => {
    const badge = document.querySelector('[data-testid="running"]');
    const flagged = badge.dataset.running === "true";
    const visible = !badge.hidden && getComputedStyle(badge).display !== "none";
    const store = window.sessionwire.getState().running;
    return flagged === store && visible === store ? { flagged, visible } : null;
  }, null, { timeout: 5_000, polling: 20 });
  const { flagged, visible } = await handle.jsonValue();
  if (flagged !== visible) throw new Error(`running badge: data-running=${flagged} but visible=${visible}`);
  return visible;
}

/**
 * Starts recording the running badge's `data-running` values as the page sets them (a
 * MutationObserver, so a state that lasts one frame is seen even when the machine is too busy
 * for a poll from the test to catch it); `badgeHistory(page)` returns them, repeats collapsed.
 */
export function recordBadge(page) {
  return page.evaluate(() => {
    const badge = document.querySelector('[data-testid="running"]');
    window.badgeHistory = [badge.dataset.running];
    new MutationObserver(() => {
      if (window.badgeHistory.at(-1) !== badge.dataset.running) window.badgeHistory.push(badge.dataset.running);
    }).observe(badge, { attributes: true, attributeFilter: ["data-running"] });
  });
}

export function badgeHistory(page) {
  return page.evaluate(() => window.badgeHistory);
}

/** The store's state, read through the client the page exposes. */
export function state(page) {
  return page.evaluate(() => window.sessionwire.getState());
}

/** Waits until `predicate(state)` holds in the page (evaluated in the page). */
export async function waitForState(page, predicate, arg, timeout = 15_000) {
  await page.waitForFunction(predicate, arg, { timeout, polling: 50 });
}
