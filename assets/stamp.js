// Glass-to-glass latency: reads the capture stamp OnAir's test pattern draws
// into each frame and reports how long ago it was captured when shown.
//
//   const watcher = onairStamp.watch(video, (ms) => ...);   // each newly shown stamp
//   watcher.poke();    // call now and then: re-arms after the element's source changed
//   watcher.found();   // a stamp was read in the last 3 s
//
// Layout (see src/media/stamp.rs): 4 rows × 16 columns of square cells, each
// width/64 px, one cell in from the top-left corner; 64 bits MSB first, white
// is 1; 48 bits of Unix milliseconds then a 16-bit check word.
"use strict";
(() => {
  const COLUMNS = 16, ROWS = 4;
  const MASK64 = (1n << 64n) - 1n;
  const SAMPLE_MS = 240;

  function checkWord(millis) {
    const mixed = ((BigInt(millis) & 0xffffffffffffn) * 0x9e3779b97f4a7c15n) & MASK64;
    return Number(mixed >> 48n) ^ 0xa5c3;
  }

  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });

  /// The stamp in the frame `video` shows, in Unix milliseconds; null when none.
  function read(video) {
    const w = video.videoWidth, h = video.videoHeight;
    if (!w || !h) return null;
    const cell = w / 64;
    if (cell < 2 || (ROWS + 1) * cell > h) return null;
    // Only the stamp's corner is needed; source pixels map 1:1 onto the canvas.
    const rw = Math.min(w, Math.ceil((COLUMNS + 1) * cell) + 1);
    const rh = Math.min(h, Math.ceil((ROWS + 1) * cell) + 1);
    if (canvas.width !== rw || canvas.height !== rh) {
      canvas.width = rw;
      canvas.height = rh;
    }
    let px;
    try {
      context.drawImage(video, 0, 0, rw, rh, 0, 0, rw, rh);
      px = context.getImageData(0, 0, rw, rh).data;
    } catch (e) { return null; }
    let millis = 0, check = 0;
    for (let index = 0; index < COLUMNS * ROWS; index++) {
      const row = Math.floor(index / COLUMNS), column = index % COLUMNS;
      // Average the middle half of the cell, away from blurred edges.
      const x0 = Math.round((column + 1.25) * cell);
      const x1 = Math.max(Math.round((column + 1.75) * cell), x0 + 1);
      const y0 = Math.round((row + 1.25) * cell);
      const y1 = Math.max(Math.round((row + 1.75) * cell), y0 + 1);
      let sum = 0, count = 0;
      for (let y = y0; y < y1 && y < rh; y++) {
        for (let x = x0; x < x1 && x < rw; x++) {
          const o = (y * rw + x) * 4;
          // BT.601 limited-range luma: black 16, white 235.
          sum += 16 + (65.481 * px[o] + 128.553 * px[o + 1] + 24.966 * px[o + 2]) / 255;
          count++;
        }
      }
      if (!count) return null;
      const bit = sum / count > 128 ? 1 : 0;
      if (index < 48) millis = millis * 2 + bit;
      else check = check * 2 + bit;
    }
    return checkWord(millis) === check ? millis : null;
  }

  /// Calls onSample(ms) for each new stamp `video` shows, at most every SAMPLE_MS.
  function watch(video, onSample) {
    const state = { lastSample: 0, lastStamp: 0, lastFound: 0, lastCallback: 0, handle: 0 };
    const sample = () => {
      const stamp = read(video);
      const now = Date.now();
      if (stamp === null || stamp === state.lastStamp) return;
      state.lastStamp = stamp;
      state.lastFound = performance.now();
      const ms = now - stamp;
      // A stamp from the far past or future is a clock problem, not a latency.
      if (ms < -1000 || ms > 600000) return;
      onSample(ms);
    };
    const hasFrameCallback = "requestVideoFrameCallback" in HTMLVideoElement.prototype;
    const onFrame = (now) => {
      state.lastCallback = performance.now();
      if (now - state.lastSample >= SAMPLE_MS) {
        state.lastSample = now;
        sample();
      }
      state.handle = video.requestVideoFrameCallback(onFrame);
    };
    const poke = () => {
      if (hasFrameCallback) {
        // Re-arm when a new source dropped the pending callback.
        if (performance.now() - state.lastCallback > 1000) {
          if (state.handle) video.cancelVideoFrameCallback(state.handle);
          state.lastCallback = performance.now();
          state.handle = video.requestVideoFrameCallback(onFrame);
        }
      } else if (!video.paused) {
        sample();
      }
    };
    poke();
    return { poke, found: () => state.lastFound > 0 && performance.now() - state.lastFound < 3000 };
  }

  window.onairStamp = { read, watch };
})();
