#!/usr/bin/env python3
"""Segment availability lag, measured from outside.

Starts `onair serve`, publishes a live 320x240 testsrc2 stream (libx264 -tune
zerolatency, 30 fps, GOP 60 = 2 s segments, -re) for --seconds, and polls the video
media playlist every --poll-ms over one keep-alive HTTP connection. For every new
`seg-N.m4s` it records

    lag = (wall time the segment first appeared in the playlist)
          - (its EXT-X-PROGRAM-DATE-TIME + its EXTINF duration)

i.e. how long after the segment's wall-clock end it was listed. onair anchors
PROGRAM-DATE-TIME to the arrival time of the stream's first frame, so the lag is
"arrival of the frame that closes the segment (the next keyframe) -> listed",
plus any drift of the publisher's pacing against that anchor (ffmpeg -re pacing,
encoder and FLV muxer buffering), plus up to one poll interval. It is an
external, approximate figure, not onair's internal one.

Usage: benches/ingest_to_available.py [--seconds 130] [--poll-ms 5]   (ONAIR_BIN=path)
"""

import argparse
import datetime as dt
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
KEY = "bench"


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"port {port} never opened")


def parse_pdt(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def percentile(values, p):
    s = sorted(values)
    k = (len(s) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=130, help="publish duration")
    ap.add_argument("--poll-ms", type=float, default=5.0)
    ap.add_argument("--bin", default=os.environ.get("ONAIR_BIN", os.path.join(ROOT, "target/release/onair")))
    args = ap.parse_args()

    rtmp_port, http_port = free_port(), free_port()
    while http_port == rtmp_port:
        http_port = free_port()
    procs = []
    internal, count = {}, None
    logdir = tempfile.mkdtemp(prefix="onair-avail-bench.")

    def stop_all(*_):
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()

    signal.signal(signal.SIGTERM, lambda *a: (stop_all(), sys.exit(1)))
    try:
        onair_log = open(os.path.join(logdir, "onair.log"), "w")
        procs.append(subprocess.Popen([args.bin, "serve", "--rtmp", f"{HOST}:{rtmp_port}", "--http", f"{HOST}:{http_port}"],
                                      stdout=onair_log, stderr=subprocess.STDOUT))
        wait_port(http_port)
        wait_port(rtmp_port)
        pub_cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
                   "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
                   "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                   "-t", str(args.seconds),
                   "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
                   "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
                   "-c:a", "aac", "-b:a", "64k", "-f", "flv", f"rtmp://{HOST}:{rtmp_port}/live/{KEY}"]
        print("publisher:", " ".join(pub_cmd), flush=True)
        pub = subprocess.Popen(pub_cmd, stdout=subprocess.DEVNULL, stderr=open(os.path.join(logdir, "pub.log"), "w"))
        procs.append(pub)

        path = f"/live/{KEY}/video/playlist.m3u8"
        conn = http.client.HTTPConnection(HOST, http_port, timeout=2)
        seen = {}
        lags = []
        polls = 0
        interval = args.poll_ms / 1000.0
        seg_re = re.compile(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)\n#EXTINF:([0-9.]+),\n(seg-(\d+)\.m4s)")
        while pub.poll() is None:
            t_req = time.time()
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read().decode()
                status = resp.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(HOST, http_port, timeout=2)
                status, body = 0, ""
            t_seen = time.time()
            polls += 1
            if status == 200:
                for pdt, extinf, _name, num in seg_re.findall(body):
                    n = int(num)
                    if n in seen:
                        continue
                    # the request was sent at t_req; the segment was listed somewhere in (previous poll, t_seen]
                    end = parse_pdt(pdt) + float(extinf)
                    lag = t_seen - end
                    seen[n] = (end, lag, float(extinf))
                    if len(seen) > 1:  # skip the stream's first segment (startup, anchor)
                        lags.append(lag)
                        print(f"seg-{n}: extinf {float(extinf):.3f}s  lag {lag * 1000:7.1f} ms", flush=True)
            sleep = interval - (time.time() - t_req)
            if sleep > 0:
                time.sleep(sleep)
        rc = pub.wait()
        if rc != 0:
            print(open(os.path.join(logdir, "pub.log")).read(), file=sys.stderr)
            raise SystemExit(f"publisher exited {rc}")
        # onair's own measure: arrival of the frame that completes a segment -> segment listed.
        conn = http.client.HTTPConnection(HOST, http_port, timeout=2)
        conn.request("GET", "/metrics")
        metrics = conn.getresponse().read().decode()
        internal = dict(re.findall(r'onair_segment_listing_delay_seconds\{quantile="([0-9.]+)"\} ([0-9.]+)', metrics))
        count = re.search(r"onair_segment_listing_delay_seconds_count (\d+)", metrics)
    finally:
        stop_all()
        shutil.rmtree(logdir, ignore_errors=True)

    if len(lags) < 5:
        raise SystemExit(f"too few segments measured ({len(lags)})")
    ms = [x * 1000 for x in lags]
    if internal:
        print(f"\nonair internal, frame arrival -> segment listed ({count.group(1) if count else '?'} listings, audio and video):")
        print("| p50 ms | p99 ms |")
        print("|---|---|")
        print(f"| {float(internal['0.5']) * 1000:.3f} | {float(internal['0.99']) * 1000:.3f} |")
    print(f"\n{len(ms)} segments, {polls} polls (every {args.poll_ms:g} ms), {args.seconds} s stream, 2 s GOP\n")
    p50, p99, lo = percentile(ms, 50), percentile(ms, 99), min(ms)
    print("| segments | p50 ms | p99 ms | min ms | max ms | mean ms | p50-min ms | p99-min ms |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {len(ms)} | {p50:.1f} | {p99:.1f} | {lo:.1f} | {max(ms):.1f} | {statistics.mean(ms):.1f} | {p50 - lo:.1f} | {p99 - lo:.1f} |")
    print("\nlag = listed wall time - (PROGRAM-DATE-TIME + EXTINF). PROGRAM-DATE-TIME is anchored to the arrival of the"
          "\nstream's first frame, so any constant publisher start-up delay (ffmpeg -re pacing clock starts before the RTMP"
          "\nconnect/first send) shifts every lag by the same amount and can make it negative; the spread (p99-min) is"
          "\nthe part not explained by that constant. Includes up to one poll interval and publisher (ffmpeg -re / FLV mux) buffering.")

if __name__ == "__main__":
    main()
