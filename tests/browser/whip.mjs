// Publishes to OnAir over WHIP from headless Chromium, as a browser studio
// would: a canvas animated at 30 fps (moving bars, a frame counter and the
// capture stamp of src/media/stamp.rs: the draw time in Unix milliseconds as
// 4 × 16 cells one cell in from the corner, each width/64 wide, white for 1)
// and a 440 Hz tone from WebAudio, sent as H.264 + Opus.
//
//   node tests/browser/whip.mjs WHIP_URL SECONDS [--token TOKEN]
//
// WHIP_URL is http://HOST:PORT/live/KEY/whip; the page is opened on the
// server's own origin. Prints one JSON line: {connected, seconds, status,
// error, framesSent, videoCodec, audioCodec, deleted}. Exits 0 whenever it
// ran (the caller judges), 2 when Chromium or playwright-core is missing.

import { launch } from "./chromium.mjs";


async function main() {
  const [url, secondsText, ...rest] = process.argv.slice(2);
  const seconds = Number(secondsText);
  if (!url || !Number.isFinite(seconds) || seconds <= 0) {
    console.error("usage: node tests/browser/whip.mjs WHIP_URL SECONDS [--token TOKEN]");
    return 1;
  }
  const token = rest[0] === "--token" ? rest[1] : null;
  const browser = await launch("whip.mjs");
  if (!browser) return 2;
  let result = { connected: false, status: null, error: null };
  try {
    const page = await browser.newPage();
    await page.goto(new URL("/time", url).toString());
    result = await page.evaluate(async ({ url, seconds, token }) => {
      const out = { connected: false, status: null, error: null, framesSent: 0, videoCodec: null, audioCodec: null, deleted: null };
      const canvas = document.createElement("canvas");
      canvas.width = 1280;
      canvas.height = 720;
      document.body.appendChild(canvas);
      const g = canvas.getContext("2d");
      // The 48-bit time and its 16-bit check word, as stamp.rs makes them.
      const drawStamp = (millis) => {
        const time = BigInt(millis) & 0xffffffffffffn;
        const mixed = (time * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
        const check = ((mixed >> 48n) & 0xffffn) ^ 0xa5c3n;
        const bits = (time << 16n) | check;
        const cell = canvas.width / 64;
        for (let index = 0; index < 64; index++) {
          g.fillStyle = (bits >> BigInt(63 - index)) & 1n ? "#fff" : "#000";
          g.fillRect(((index % 16) + 1) * cell, (Math.floor(index / 16) + 1) * cell, cell, cell);
        }
      };
      let n = 0;
      const draw = () => {
        n += 1;
        for (let i = 0; i < 8; i++) {
          g.fillStyle = `hsl(${(i * 45 + n * 3) % 360} 80% 50%)`;
          g.fillRect(i * 160, 0, 160, 720);
        }
        drawStamp(Date.now());
        g.fillStyle = "#000";
        g.fillRect(40, 600, 400, 80);
        g.fillStyle = "#fff";
        g.font = "48px sans-serif";
        g.fillText(String(n), 60, 660);
      };
      draw();
      const timer = setInterval(draw, 1000 / 30);
      const audio = new AudioContext({ sampleRate: 48000 });
      const tone = audio.createOscillator();
      tone.frequency.value = 440;
      const sink = audio.createMediaStreamDestination();
      tone.connect(sink);
      tone.start();
      await audio.resume();
      const pc = new RTCPeerConnection();
      const track = canvas.captureStream(30).getVideoTracks()[0];
      // A studio keeps its picture size; the browser would otherwise shrink it while its estimate ramps up.
      track.contentHint = "detail";
      const video = pc.addTransceiver(track, { direction: "sendonly", sendEncodings: [{ maxBitrate: 2500000 }] });
      pc.addTransceiver(sink.stream.getAudioTracks()[0], { direction: "sendonly" });
      // H.264 first: that is what the server ingests.
      const h264 = RTCRtpSender.getCapabilities("video").codecs.filter((c) => c.mimeType === "video/H264" && /packetization-mode=1/.test(c.sdpFmtpLine || ""));
      video.setCodecPreferences(h264);
      const parameters = video.sender.getParameters();
      parameters.degradationPreference = "maintain-resolution";
      await video.sender.setParameters(parameters).catch(() => {});
      await pc.setLocalDescription(await pc.createOffer());
      const headers = { "Content-Type": "application/sdp" };
      if (token) headers.Authorization = "Bearer " + token;
      const response = await fetch(url, { method: "POST", headers, body: pc.localDescription.sdp });
      out.status = response.status;
      const answer = await response.text();
      if (response.status !== 201) {
        out.error = answer.trim();
        clearInterval(timer);
        return out;
      }
      const location = new URL(response.headers.get("Location"), url).toString();
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
      const until = Date.now() + 15000;
      while (pc.connectionState !== "connected" && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      out.connected = pc.connectionState === "connected";
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const stats = await pc.getStats();
      const codecs = {};
      stats.forEach((s) => { if (s.type === "codec") codecs[s.id] = s.mimeType; });
      stats.forEach((s) => {
        if (s.type === "outbound-rtp" && s.kind === "video") { out.framesSent = s.framesSent; out.videoCodec = codecs[s.codecId] || null; }
        if (s.type === "outbound-rtp" && s.kind === "audio") out.audioCodec = codecs[s.codecId] || null;
      });
      clearInterval(timer);
      out.deleted = (await fetch(location, { method: "DELETE" })).status;
      pc.close();
      return out;
    }, { url, seconds, token });
  } catch (err) {
    result.error = "harness: " + (err && err.message ? err.message.split("\n")[0] : String(err));
  } finally {
    await browser.close().catch(() => {});
  }
  process.stdout.write(JSON.stringify(result) + "\n");
  return 0;
}

main().then((code) => process.exit(code), (err) => {
  console.error("whip.mjs: " + (err && err.stack ? err.stack : err));
  process.exit(2);
});
