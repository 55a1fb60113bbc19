// Plays OnAir's web player page in headless Chromium and reports what a viewer got.
//
//   node tests/browser/play.mjs URL MODE SECONDS [--switch-levels] [--screenshot PATH]
//
// URL is the player page (http://127.0.0.1:8080/live/KEY/); MODE is llhls, hls, dash or webrtc and
// is put into the URL's query. MODE hlsjs, shaka-hls, shaka-dash or dashjs plays the stream
// in a stock player instead: tests/browser/embed.html, served beside the stream as embed.html
// with the libraries from node_modules under /embed-lib/. Once the video has started, the
// page's window.onairPlayer hook is sampled every 500 ms for SECONDS seconds. --switch-levels forces each rendition
// in turn, spread over the run, then goes back to auto. --screenshot saves a PNG at the end.
//
// Prints one JSON line:
//   mode, engine        what was asked for and what played it (hls, dash, native)
//   startupSeconds      page load to the first advancing frame (null: it never started)
//   advanced            seconds of media played during the window, summed over forward steps,
//                       so it stays meaningful across the page's own reloads
//   decodedFrames, droppedFrames   from video.getVideoPlaybackQuality() at the end
//   stalls, stalledSeconds         times currentTime stood still > 1.5 s while not paused
//   longestFreeze       the longest time no new frame was decoded, seconds (to the 500 ms sample)
//   latency {p50, max}             the page's latency to the live edge, seconds
//   glassToGlass {count, p50, p95} capture stamp to screen, ms (count 0: no stamp seen)
//   levels [{height, bitrate}], switched [{level, at, height, bitrate, accepted, reached}]
//   webrtc              WebRTC only: {nacks, plis, lost, rtt, audioTracks, videoTracks} at the end
//   errors              page exceptions, console errors and the player's own error notes
// Exits 0 whenever it ran (the caller judges the numbers), 2 when Chromium or
// playwright-core is missing, 1 on bad arguments.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launch } from "./chromium.mjs";

const PAGE_MODES = ["llhls", "hls", "dash", "webrtc"];
const EMBED_MODES = ["hlsjs", "shaka-hls", "shaka-dash", "dashjs"];
const USAGE = `usage: node tests/browser/play.mjs URL ${[...PAGE_MODES, ...EMBED_MODES].join("|")} SECONDS [--switch-levels] [--screenshot PATH]`;
const HERE = dirname(fileURLToPath(import.meta.url));
const NODE_MODULES = join(HERE, "..", "..", "node_modules");
// What embed.html may load from /embed-lib/, by file name.
const EMBED_LIBRARIES = {
  "hls.min.js": "hls.js/dist/hls.min.js",
  "shaka-player.compiled.js": "shaka-player/dist/shaka-player.compiled.js",
  "dash.all.min.js": "dashjs/dist/dash.all.min.js",
};
const START_TIMEOUT_MS = 30_000;
const SAMPLE_MS = 500;
const STALL_MS = 1500;

function parseArgs(argv) {
  const positional = [];
  const opts = { switchLevels: false, screenshot: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--switch-levels") opts.switchLevels = true;
    else if (a === "--screenshot") {
      opts.screenshot = argv[++i];
      if (!opts.screenshot) return null;
    } else if (a.startsWith("--")) return null;
    else positional.push(a);
  }
  if (positional.length !== 3) return null;
  const [url, mode, seconds] = positional;
  if (![...PAGE_MODES, ...EMBED_MODES].includes(mode)) return null;
  const secs = Number(seconds);
  if (!Number.isFinite(secs) || secs <= 0) return null;
  try {
    new URL(url);
  } catch {
    return null;
  }
  return { url, mode, seconds: secs, ...opts };
}

function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!args) {
    console.error(USAGE);
    return 1;
  }

  const errors = [];
  const addError = (text) => {
    if (errors.length < 100 && !errors.includes(text)) errors.push(text);
  };
  let started = false;

  const browser = await launch("play.mjs");
  if (!browser) return 2;
  const result = {
    mode: args.mode,
    advanced: 0,
    decodedFrames: 0,
    droppedFrames: 0,
    errors,
    stalls: 0,
    stalledSeconds: 0,
    longestFreeze: null,
    glassToGlass: { count: 0, p50: null, p95: null },
    levels: [],
    switched: [],
    latency: { p50: null, max: null },
    startupSeconds: null,
    engine: null,
    webrtc: null,
  };
  const began = Date.now();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    page.on("console", (msg) => {
      if (msg.type() !== "error") return;
      const text = msg.text();
      // 404s while the page polls for a stream that is not live yet are expected.
      if (!started && /Failed to load resource.*\b404\b/.test(text)) return;
      addError("console: " + text);
    });
    // The console's line has no URL: name what failed, and when, from the response itself.
    page.on("response", (response) => {
      if (response.status() < 400 || !started) return;
      const at = ((Date.now() - began) / 1000).toFixed(1);
      addError(`http ${response.status()} at ${at} s: ${response.url()}`);
    });
    page.on("pageerror", (err) => addError("page: " + (err && err.message ? err.message : String(err))));
    page.on("crash", () => addError("page crashed"));

    const url = new URL(args.url);
    if (EMBED_MODES.includes(args.mode)) {
      const base = url.toString().replace(/\/?$/, "/");
      await page.route(base + "embed.html*", (route) =>
        route.fulfill({ contentType: "text/html", body: readFileSync(join(HERE, "embed.html")) }),
      );
      await page.route(`${url.origin}/embed-lib/*`, (route) => {
        const file = EMBED_LIBRARIES[new URL(route.request().url()).pathname.split("/").pop()];
        if (!file) return route.fulfill({ status: 404, body: "" });
        return route.fulfill({ contentType: "text/javascript", body: readFileSync(join(NODE_MODULES, file)) });
      });
      url.pathname = new URL(base).pathname + "embed.html";
    }
    url.searchParams.set("mode", args.mode);
    const opened = Date.now();
    await page.goto(url.toString(), { waitUntil: "load", timeout: START_TIMEOUT_MS });
    try {
      await page.waitForFunction(
        () => window.onairPlayer && document.querySelector("video") && document.querySelector("video").currentTime > 0,
        null,
        { timeout: START_TIMEOUT_MS, polling: 100 },
      );
      started = true;
      result.startupSeconds = (Date.now() - opened) / 1000;
    } catch {
      const why = await page.evaluate(() => (window.onairPlayer ? window.onairPlayer.error : "no window.onairPlayer")).catch(() => null);
      addError(`playback did not start within ${START_TIMEOUT_MS / 1000} s` + (why ? ": " + why : ""));
    }

    if (started) {
      const sample = () =>
        page.evaluate(() => {
          const p = window.onairPlayer;
          const s = p.stats();
          return { ...s, error: p.error, now: Date.now() };
        });
      const first = await sample();
      result.engine = first.engine;
      const latencies = [];
      let last = first;
      let lastMoveAt = Date.now();
      let inStall = false;
      let advanced = 0;
      let stallStart = 0;
      let lastFrameAt = Date.now();
      let longestFreeze = 0;
      const seen = new Set();

      // Rendition switches spread over the run: each level, then auto.
      const plan = [];
      if (args.switchLevels) {
        const n = first.levels.length;
        const steps = [...Array(n).keys(), -1];
        steps.forEach((level, k) => plan.push({ at: (args.seconds * 1000 * (k + 1)) / (steps.length + 1), level }));
      }
      let current = null;

      const t0 = Date.now();
      while (Date.now() - t0 < args.seconds * 1000) {
        await sleep(SAMPLE_MS);
        const elapsed = Date.now() - t0;
        if (plan.length && elapsed >= plan[0].at) {
          const { level } = plan.shift();
          if (current) result.switched.push(current);
          const ok = await page.evaluate((i) => window.onairPlayer.setLevel(i), level);
          const target = level >= 0 ? last.levels[level] : null;
          current = {
            level,
            at: Math.round(elapsed) / 1000,
            height: target ? target.height : null,
            bitrate: target ? target.bitrate : null,
            accepted: ok !== false,
            reached: false,
          };
        }
        const s = await sample();
        if (current && !current.reached) {
          current.reached = current.level < 0 ? s.auto : s.level === current.level;
        }
        if (s.error && !seen.has(s.error)) {
          seen.add(s.error);
          addError("player: " + s.error);
        }
        if (Number.isFinite(s.latency)) latencies.push(s.latency);
        const now = Date.now();
        // Playback across reloads: count forward steps, not jumps to the live edge.
        const step = s.currentTime - last.currentTime;
        if (step > 0 && step < 5) advanced += step;
        if (s.currentTime !== last.currentTime) {
          if (inStall) result.stalledSeconds += (now - stallStart) / 1000;
          inStall = false;
          lastMoveAt = now;
        } else if (!s.paused && now - lastMoveAt > STALL_MS && !inStall) {
          inStall = true;
          stallStart = lastMoveAt;
          result.stalls += 1;
        }
        if (s.paused) lastMoveAt = now;
        if (s.decodedFrames > last.decodedFrames || s.paused) lastFrameAt = now;
        longestFreeze = Math.max(longestFreeze, now - lastFrameAt);
        last = s;
      }
      if (inStall) result.stalledSeconds += (Date.now() - stallStart) / 1000;
      result.stalledSeconds = Math.round(result.stalledSeconds * 10) / 10;
      result.longestFreeze = longestFreeze / 1000;
      if (current) result.switched.push(current);

      const end = await page.evaluate(() => {
        const p = window.onairPlayer;
        const media = document.querySelector("video").srcObject;
        const tracks = media ? { audioTracks: media.getAudioTracks().length, videoTracks: media.getVideoTracks().length } : {};
        return { stats: p.stats(), glass: [...(p.glassToGlass || [])], errors: [...(p.errors || [])], tracks };
      });
      const lastStep = end.stats.currentTime - last.currentTime;
      if (lastStep > 0 && lastStep < 5) advanced += lastStep;
      result.advanced = Math.round(advanced * 1000) / 1000;
      result.decodedFrames = end.stats.decodedFrames;
      result.droppedFrames = end.stats.droppedFrames;
      result.levels = end.stats.levels;
      if (end.stats.webrtc) result.webrtc = { ...end.stats.webrtc, ...end.tracks };
      result.latency = {
        p50: percentile(latencies, 50),
        max: latencies.length ? Math.max(...latencies) : null,
      };
      result.glassToGlass = {
        count: end.glass.length,
        p50: percentile(end.glass, 50),
        p95: percentile(end.glass, 95),
      };
      if (process.env.G2G_SAMPLES) result.glassToGlass.samples = end.glass.map(Math.round);
      for (const e of end.errors) addError("player: " + e.replace(/^\S+ /, ""));
    }

    if (args.screenshot) await page.screenshot({ path: args.screenshot });
  } catch (err) {
    addError("harness: " + (err && err.message ? err.message.split("\n")[0] : String(err)));
  } finally {
    await browser.close().catch(() => {});
  }
  process.stdout.write(JSON.stringify(result) + "\n");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error("play.mjs: " + (err && err.stack ? err.stack : err));
    process.exit(2);
  },
);
