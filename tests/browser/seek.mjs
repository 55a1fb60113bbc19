// Plays a recording's page (/vod/KEY/ID/) in headless Chromium, seeks to the
// middle and reports whether playback went on from there.
//
//   node tests/browser/seek.mjs URL hls|dash [--screenshot PATH]
//
// Prints one JSON line:
//   mode, duration      what was asked for, and the video element's duration (s)
//   started             playback advanced before the seek
//   seekTo, reached     the middle, and currentTime once it played on from there
//   playedAfterSeek     seconds advanced after the seek landed
//   errors              page exceptions, console errors and the page's own error notes
// Exits 0 whenever it ran (the caller judges the numbers), 2 when Chromium or
// playwright-core is missing, 1 on bad arguments.

import { launch } from "./chromium.mjs";

const TIMEOUT_MS = 30_000;

async function main() {
  const [url, mode, flag, screenshot] = process.argv.slice(2);
  if (!url || !["hls", "dash"].includes(mode) || (flag && flag !== "--screenshot")) {
    console.error("usage: node tests/browser/seek.mjs URL hls|dash [--screenshot PATH]");
    return 1;
  }
  const errors = [];
  const browser = await launch("seek.mjs");
  if (!browser) return 2;
  const result = { mode, duration: null, started: false, seekTo: null, reached: null, playedAfterSeek: 0, errors };
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
    page.on("console", (msg) => msg.type() === "error" && errors.push("console: " + msg.text()));
    page.on("pageerror", (err) => errors.push("page: " + (err && err.message ? err.message : String(err))));
    const target = new URL(url);
    target.searchParams.set("mode", mode);
    await page.goto(target.toString(), { waitUntil: "load", timeout: TIMEOUT_MS });
    const video = () => page.evaluate(() => {
      const v = document.getElementById("video");
      return { t: v.currentTime, d: v.duration, ready: v.readyState, errors: window.__onairVod ? window.__onairVod.errors : [] };
    });
    const until = async (test) => {
      const deadline = Date.now() + TIMEOUT_MS;
      while (Date.now() < deadline) {
        const state = await video();
        if (test(state)) return state;
        await new Promise((r) => setTimeout(r, 200));
      }
      return null;
    };
    const playing = await until((s) => s.t > 0.5 && Number.isFinite(s.d));
    if (playing) {
      result.started = true;
      result.duration = playing.d;
      result.seekTo = playing.d / 2;
      await page.evaluate((to) => { document.getElementById("video").currentTime = to; }, result.seekTo);
      const after = await until((s) => s.t >= result.seekTo + 1.0);
      if (after) {
        result.reached = after.t;
        result.playedAfterSeek = after.t - result.seekTo;
      }
    }
    errors.push(...((await video()).errors || []));
    if (screenshot) await page.screenshot({ path: screenshot });
  } catch (error) {
    errors.push("harness: " + (error && error.message ? error.message : String(error)));
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(result));
  return 0;
}

process.exit(await main());
