// Headless Chromium for the browser scripts, started the same way by each:
// autoplay allowed, WebRTC on loopback allowed, and nothing that reaches
// beyond this machine (it has no network past loopback).

import { existsSync } from "node:fs";

export const CHROMIUM = process.env.ONAIR_CHROMIUM || "/usr/bin/chromium";

const ARGS = [
  "--autoplay-policy=no-user-gesture-required",
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--no-first-run",
  // WebRTC peers on loopback: the server's candidate is 127.0.0.1.
  "--allow-loopback-in-peer-connection",
];

// The browser, or null after saying (as `script`) what to install.
export async function launch(script) {
  let chromium;
  try {
    ({ chromium } = await import("playwright-core"));
  } catch {
    console.error(`${script}: playwright-core is not installed; run packaging/setup.sh`);
    return null;
  }
  if (!existsSync(CHROMIUM)) {
    console.error(`${script}: Chromium not found at ${CHROMIUM}; run packaging/setup.sh`);
    return null;
  }
  // A test's own certificate is trusted by its public key's hash (base64
  // SHA-256 of the SubjectPublicKeyInfo), never by turning checks off.
  const trust = process.env.ONAIR_CHROMIUM_TRUST_SPKI;
  const args = trust ? [...ARGS, `--ignore-certificate-errors-spki-list=${trust}`] : ARGS;
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}
