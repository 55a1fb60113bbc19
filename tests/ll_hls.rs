//! Low-Latency HLS conformance against a live ffmpeg publisher: parts and
//! their durations, hints, rendition reports, blocking reload timing, 400s,
//! delta updates, parts that add up to their segment byte for byte, and the
//! hinted part streamed in chunks while it is written.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Publisher, Server, decode_count, get_bytes, status, wait_for};

const PART_TARGET: f64 = 0.334;

fn attribute<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[start..];
    if let Some(quoted) = rest.strip_prefix('"') { quoted.split('"').next() } else { rest.split(',').next() }
}

/// (segment number, part index) of a `part-N.I.m4s` URI.
fn part_id(uri: &str) -> (u64, u32) {
    let (n, i) = uri.trim_start_matches("part-").trim_end_matches(".m4s").split_once('.').unwrap();
    (n.parse().unwrap(), i.parse().unwrap())
}

/// The URI of the part the playlist hints at.
fn hinted_uri(playlist: &str) -> &str {
    let hint = playlist.lines().find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:")).expect("a preload hint");
    attribute(hint, "URI").expect("the hint's URI")
}

/// A server with 1 s segments and a publisher on `key`, once two segments are
/// listed; with the path of its video playlist.
fn live_with_parts(extra_segments_config: &str, key: &str) -> (Server, Publisher, String) {
    let server = Server::start(&format!("[segments]\ntarget_ms = 1000\n{extra_segments_config}[streams]\ngrace_seconds = 1.0\n"));
    let publisher = publish(&server, key, 30);
    let video = format!("/live/{key}/video/playlist.m3u8");
    wait_for("parts listed", Duration::from_secs(30), || server.get(&video).filter(|p| p.matches("#EXTINF").count() >= 2));
    (server, publisher, video)
}

/// Publishes 1 s GOPs of 30 fps video and AAC audio for `seconds`.
fn publish(server: &Server, key: &str, seconds: u32) -> Publisher {
    Publisher::spawn(
        &format!("-f lavfi -i testsrc2=size=320x240:rate=30 -f lavfi -i sine=sample_rate=48000 -t {seconds}"),
        "-c:v libx264 -preset veryfast -tune zerolatency -g 30 -pix_fmt yuv420p -c:a aac -b:a 96k",
        &server.rtmp_url(key),
    )
}

#[test]
fn ll_hls_playlists_parts_hints_reports_and_delta_updates() {
    let server = Server::start("[segments]\ntarget_ms = 1000\nwindow = 12\n[streams]\ngrace_seconds = 1.0\n");
    let _publisher = publish(&server, "ll", 30);
    let video = "/live/ll/video/playlist.m3u8";
    // Wait for 8 closed segments so the delta update has something to skip.
    let playlist = wait_for("8 segments listed", Duration::from_secs(40), || server.get(video).filter(|p| p.matches("#EXTINF").count() >= 8));
    assert!(playlist.contains("#EXT-X-VERSION:9"), "{playlist}");
    let control = playlist.lines().find(|l| l.starts_with("#EXT-X-SERVER-CONTROL:")).expect("server control");
    assert_eq!(attribute(control, "CAN-BLOCK-RELOAD"), Some("YES"));
    let hold_back: f64 = attribute(control, "PART-HOLD-BACK").unwrap().parse().unwrap();
    assert!(hold_back >= 3.0 * PART_TARGET - 1e-6, "{control}");
    assert!(attribute(control, "CAN-SKIP-UNTIL").is_some(), "{control}");
    let part_inf = playlist.lines().find(|l| l.starts_with("#EXT-X-PART-INF:")).expect("part info");
    assert_eq!(attribute(part_inf, "PART-TARGET").unwrap().parse::<f64>().unwrap(), PART_TARGET);

    // Parts: never above the target, the first of each segment independent,
    // and a listed segment's parts add up to its duration.
    let mut parts_of_segment: Vec<(f64, bool, String)> = Vec::new();
    let mut segments_with_parts = 0;
    for line in playlist.lines() {
        if line.starts_with("#EXT-X-PART:") {
            let duration: f64 = attribute(line, "DURATION").unwrap().parse().unwrap();
            assert!(duration <= PART_TARGET + 1e-6 && duration > 0.0, "{line}");
            parts_of_segment.push((duration, attribute(line, "INDEPENDENT") == Some("YES"), attribute(line, "URI").unwrap().to_string()));
        } else if let Some(extinf) = line.strip_prefix("#EXTINF:") {
            if !parts_of_segment.is_empty() {
                let duration: f64 = extinf.trim_end_matches(',').parse().unwrap();
                let sum: f64 = parts_of_segment.iter().map(|p| p.0).sum();
                assert!((sum - duration).abs() < 0.002, "parts add up to {sum}, segment {duration}:\n{playlist}");
                assert!(parts_of_segment[0].1, "a segment's first part starts with a keyframe:\n{playlist}");
                segments_with_parts += 1;
            }
            parts_of_segment.clear();
        }
    }
    assert!(segments_with_parts >= 2, "parts are listed for the newest segments:\n{playlist}");
    // The open segment's parts follow the last segment, then the hint for the next part.
    let hint = playlist.lines().find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:")).expect("preload hint");
    assert_eq!(attribute(hint, "TYPE"), Some("PART"));
    let (hint_number, hint_index) = part_id(attribute(hint, "URI").unwrap());
    let last_listed_part = parts_of_segment.last().map(|p| part_id(&p.2));
    match last_listed_part {
        Some((number, index)) => assert_eq!((hint_number, hint_index), (number, index + 1), "{playlist}"),
        None => assert_eq!(hint_index, 0, "{playlist}"),
    }
    let report = playlist.lines().find(|l| l.starts_with("#EXT-X-RENDITION-REPORT:")).expect("rendition report");
    assert_eq!(attribute(report, "URI"), Some("../audio/playlist.m3u8"));
    assert!(attribute(report, "LAST-MSN").unwrap().parse::<u64>().unwrap() >= hint_number - 1, "{report}");

    // A closed segment is its parts, byte for byte.
    let closed: Vec<u64> = playlist.lines().filter_map(|l| l.strip_prefix("seg-")).map(|l| l.trim_end_matches(".m4s").parse().unwrap()).collect();
    let newest_closed = *closed.last().unwrap();
    let segment = get_bytes(&server.url(&format!("/live/ll/video/seg-{newest_closed}.m4s"))).unwrap();
    let mut joined = Vec::new();
    for index in 0.. {
        match get_bytes(&server.url(&format!("/live/ll/video/part-{newest_closed}.{index}.m4s"))) {
            Some(bytes) => joined.extend(bytes),
            None => break,
        }
    }
    assert_eq!(joined.len(), segment.len());
    assert!(joined == segment, "parts concatenate to their segment");

    // Delta update: old segments skipped, the sequence number unchanged.
    let delta = server.get(&format!("{video}?_HLS_skip=YES")).unwrap();
    let skip = delta.lines().find(|l| l.starts_with("#EXT-X-SKIP:")).unwrap_or_else(|| panic!("no skip in:\n{delta}"));
    let skipped: usize = attribute(skip, "SKIPPED-SEGMENTS").unwrap().parse().unwrap();
    assert!(skipped >= 1, "{skip}");
    let sequence = |p: &str| p.lines().find_map(|l| l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:")).map(str::to_string);
    let full = server.get(video).unwrap();
    let count = |p: &str| p.matches("#EXTINF").count();
    assert!(count(&delta) + skipped >= count(&full) - 1 && count(&delta) < count(&full), "{delta}\n---\n{full}");
    assert!(sequence(&delta).is_some());

    // Requests too far ahead or malformed are refused at once.
    let started = Instant::now();
    assert_eq!(status(&server.url(&format!("{video}?_HLS_msn={}&_HLS_part=0", hint_number + 5))), 400);
    assert_eq!(status(&server.url(&format!("{video}?_HLS_part=1"))), 400);
    assert!(started.elapsed() < Duration::from_secs(1));
    // ffmpeg, which ignores the LL tags, still plays the playlist.
    assert!(decode_count(&server.url("/live/ll/index.m3u8"), "v") >= 200);
}

#[test]
fn blocking_reload_and_hinted_parts_answer_within_a_part_of_the_parts_existence() {
    // Parts sent whole: the part and the reload answer at its completion alike.
    let (server, _publisher, video) = live_with_parts("chunk_ms = 0\n", "block");
    let video = video.as_str();
    let mut gaps = Vec::new();
    for _ in 0..8 {
        let playlist = server.get(video).unwrap();
        let (number, index) = part_id(hinted_uri(&playlist));
        let started = Instant::now();
        let (playlist_after, part_after) = std::thread::scope(|scope| {
            let reload = scope.spawn(|| {
                let text = server.get(&format!("{video}?_HLS_msn={number}&_HLS_part={index}")).expect("blocking reload");
                (started.elapsed(), text)
            });
            let part = scope.spawn(|| {
                let bytes = get_bytes(&server.url(&format!("/live/block/video/part-{number}.{index}.m4s"))).expect("hinted part");
                (started.elapsed(), bytes)
            });
            (reload.join().unwrap(), part.join().unwrap())
        });
        let (reload_time, text) = playlist_after;
        let (part_time, bytes) = part_after;
        assert!(!bytes.is_empty());
        let uri = format!("part-{number}.{index}.m4s");
        let next_segment_first = format!("part-{}.0.m4s", number + 1);
        assert!(text.contains(&uri) || text.contains(&next_segment_first), "the reload answers with the part it waited for:\n{text}");
        // Both waited for the same event: the part's existence.
        assert!(reload_time < Duration::from_secs_f64(PART_TARGET * 2.0 + 0.3), "blocking reload took {reload_time:?}");
        gaps.push((reload_time.as_secs_f64() - part_time.as_secs_f64()).abs());
    }
    gaps.sort_by(f64::total_cmp);
    let median = gaps[gaps.len() / 2];
    assert!(median < PART_TARGET, "playlist and part answered {median:.3} s apart (median over {gaps:?})");
    let playlist = server.get(video).unwrap();
    let (code, headers, _) = get_chunks(&host(&server), &format!("/live/block/video/{}", hinted_uri(&playlist)));
    assert_eq!(code, 200);
    assert!(headers.iter().any(|(name, _)| name == "content-length"), "with chunk_ms = 0 the hinted part comes whole: {headers:?}");
}

/// The server's HTTP address, as `HOST:PORT`.
fn host(server: &Server) -> String {
    server.url("").trim_start_matches("http://").to_string()
}

/// A GET over HTTP/1.1: the response's headers (names lowercased) and, for
/// a chunked body, each HTTP chunk as it came.
fn get_chunks(host: &str, path: &str) -> (u16, Vec<(String, String)>, Vec<Vec<u8>>) {
    let mut stream = TcpStream::connect(host).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let Some((name, value)) = line.trim_end().split_once(':') else { break };
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut chunks = Vec::new();
    if headers.iter().any(|(name, value)| name == "transfer-encoding" && value == "chunked") {
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            let size = usize::from_str_radix(line.trim_end(), 16).unwrap_or_else(|_| panic!("a chunk size, not {line:?}"));
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            assert_eq!(&chunk[size..], b"\r\n");
            if size == 0 {
                break;
            }
            chunk.truncate(size);
            chunks.push(chunk);
        }
    }
    (status, headers, chunks)
}

#[test]
fn the_hinted_part_streams_in_chunks_while_it_is_written_and_is_the_part_byte_for_byte() {
    let (server, _publisher, video) = live_with_parts("", "chunks");
    for _ in 0..3 {
        // Right after a part completes, the hinted one has hardly begun.
        let playlist = server.get(&video).unwrap();
        let (number, index) = part_id(hinted_uri(&playlist));
        let fresh = server.get(&format!("{video}?_HLS_msn={number}&_HLS_part={index}")).expect("blocking reload");
        let (number, index) = part_id(hinted_uri(&fresh));
        let path = format!("/live/chunks/video/part-{number}.{index}.m4s");
        let (code, headers, chunks) = get_chunks(&host(&server), &path);
        assert_eq!(code, 200);
        assert!(headers.iter().any(|(name, value)| name == "transfer-encoding" && value == "chunked"), "{headers:?}");
        assert!(chunks.len() >= 2, "the part came in {} piece(s); it should come as its frames do", chunks.len());
        let streamed = chunks.concat();
        let whole = get_bytes(&server.url(&path)).expect("the part, whole");
        assert_eq!(streamed, whole, "the streamed part is the part");
        assert_eq!(&streamed[4..8], b"moof", "it begins with a fragment");
    }
}
