//! The synthetic video source: a moving test pattern with a visible clock,
//! the capture stamp, and a white flash on the first frame of every second.

use std::time::Instant;

use super::clock::{CaptureClock, CaptureTime};
use super::frames::VideoFrame;
use super::{CaptureError, VideoSource};
use crate::media::stamp;

pub struct TestPattern {
    width: usize,
    height: usize,
    fps: u32,
    clock: CaptureClock,
    frame_index: u64,
    /// Frame numbering restarts at a size change; this keeps time continuous.
    base_micros: i64,
    background: Vec<u8>,
}

impl TestPattern {
    pub fn new(width: usize, height: usize, fps: u32, clock: CaptureClock) -> TestPattern {
        let (width, height) = (width.max(16) & !1, height.max(16) & !1);
        TestPattern { width, height, fps: fps.clamp(1, 240), clock, frame_index: 0, base_micros: 0, background: background(width, height) }
    }

    fn frame_micros(&self, index: u64) -> i64 {
        self.base_micros + (index as i64 * 1_000_000) / i64::from(self.fps)
    }

    /// Draws frame `index` captured at `captured` (pure apart from the clock text).
    pub fn render(&self, index: u64, captured: CaptureTime) -> VideoFrame {
        let (w, h) = (self.width, self.height);
        let mut frame = VideoFrame { width: w, height: h, i420: self.background.clone(), captured };
        let flash = index == 0 || captured.micros / 1_000_000 != self.frame_micros(index.saturating_sub(1)) / 1_000_000;
        if flash {
            frame.i420[..w * h].fill(235);
            frame.i420[w * h..].fill(128);
        } else {
            // A box sweeping left to right, one width every four seconds.
            let size = (h / 6).max(8);
            let travel = (w - size) as i64;
            let x = ((captured.micros * travel / 4_000_000) % travel.max(1)) as usize;
            let y = h / 2 - size / 2;
            fill_rect(&mut frame.i420[..w * h], w, x, y, size, size, 235);
        }
        if !flash {
            fill_noise(&mut frame.i420[..w * h], w, h, index);
        }
        draw_clock(&mut frame.i420[..w * h], w, h, captured);
        stamp::draw(&mut frame.i420[..w * h], w, h, w, captured.wall.0 as u64);
        frame
    }
}

impl VideoSource for TestPattern {
    fn next_frame(&mut self) -> Result<VideoFrame, CaptureError> {
        let micros = self.frame_micros(self.frame_index);
        let due = self.clock.instant(micros);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let frame = self.render(self.frame_index, self.clock.from_micros(micros));
        self.frame_index += 1;
        Ok(frame)
    }

    fn set_output(&mut self, width: usize, height: usize, fps: u32) {
        let next = self.frame_micros(self.frame_index);
        *self = TestPattern { base_micros: next, ..TestPattern::new(width, height, fps, self.clock) };
    }

    fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn describe(&self) -> String {
        format!("test pattern {}x{} at {} fps", self.width, self.height, self.fps)
    }
}

/// Seven colour bars with a luma ramp under them.
fn background(width: usize, height: usize) -> Vec<u8> {
    const BARS: [(u8, u8, u8); 7] = [(180, 128, 128), (168, 44, 136), (145, 147, 44), (133, 63, 52), (63, 193, 204), (51, 109, 212), (28, 212, 120)];
    let luma = width * height;
    let mut out = vec![0u8; luma + luma / 2];
    let bar_of = |x: usize| (x * BARS.len() / width).min(BARS.len() - 1);
    let ramp_from = height * 3 / 4;
    for y in 0..height {
        for x in 0..width {
            out[y * width + x] = if y < ramp_from { BARS[bar_of(x)].0 } else { (16 + x * 219 / width) as u8 };
        }
    }
    let (cw, ch) = (width / 2, height / 2);
    for y in 0..ch {
        for x in 0..cw {
            let (u, v) = if y * 2 < ramp_from { (BARS[bar_of(x * 2)].1, BARS[bar_of(x * 2)].2) } else { (128, 128) };
            out[luma + y * cw + x] = u;
            out[luma + luma / 4 + y * cw + x] = v;
        }
    }
    out
}

/// Film-grain-like noise over the bottom quarter, new every frame, so the
/// encoder has to spend its bitrate the way it does on a real camera.
fn fill_noise(luma: &mut [u8], width: usize, height: usize, index: u64) {
    let mut state = index.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for pixel in &mut luma[width * (height * 3 / 4)..] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let grain = (state >> 59) as i16 - 16;
        *pixel = (i16::from(*pixel) + grain).clamp(16, 235) as u8;
    }
}

fn fill_rect(luma: &mut [u8], stride: usize, x: usize, y: usize, w: usize, h: usize, value: u8) {
    let height = luma.len() / stride;
    for row in y..(y + h).min(height) {
        let start = row * stride + x.min(stride);
        let end = row * stride + (x + w).min(stride);
        luma[start..end].fill(value);
    }
}

/// Segments a–g of a seven-segment digit, as bits 0–6.
const DIGITS: [u8; 10] = [0x3f, 0x06, 0x5b, 0x4f, 0x66, 0x6d, 0x7d, 0x07, 0x7f, 0x6f];

/// `HH:MM:SS.mmm` of the capture wall clock, bottom left, readable by eye.
fn draw_clock(luma: &mut [u8], width: usize, height: usize, captured: CaptureTime) {
    let ms_of_day = captured.wall.0.rem_euclid(86_400_000);
    let text = format!("{:02}:{:02}:{:02}.{:03}", ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
    let digit_h = (height / 10).max(10);
    let digit_w = digit_h / 2;
    let t = (digit_h / 8).max(1);
    let top = height - digit_h - digit_h / 2;
    let mut x = digit_w / 2;
    fill_rect(luma, width, 0, top - t * 2, (digit_w + t * 2) * text.len() + digit_w, digit_h + t * 4, 16);
    for ch in text.chars() {
        match ch.to_digit(10) {
            Some(d) => {
                let bits = DIGITS[d as usize];
                let half = digit_h / 2;
                let segments = [
                    (0, x, top, digit_w, t),
                    (1, x + digit_w - t, top, t, half),
                    (2, x + digit_w - t, top + half, t, half),
                    (3, x, top + digit_h - t, digit_w, t),
                    (4, x, top + half, t, half),
                    (5, x, top, t, half),
                    (6, x, top + half - t / 2, digit_w, t),
                ];
                for (bit, sx, sy, sw, sh) in segments {
                    if bits & (1 << bit) != 0 {
                        fill_rect(luma, width, sx, sy, sw, sh, 235);
                    }
                }
                x += digit_w + t * 2;
            }
            None => {
                fill_rect(luma, width, x, top + digit_h - t, t, t, 235);
                if ch == ':' {
                    fill_rect(luma, width, x, top + digit_h / 3, t, t, 235);
                }
                x += t * 3;
            }
        }
        if x + digit_w >= width {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_stamp_and_flash_once_a_second() {
        let clock = CaptureClock::start();
        let pattern = TestPattern::new(320, 240, 30, clock);
        let mut flashes = Vec::new();
        for index in 0..90 {
            let captured = clock.from_micros(pattern.frame_micros(index));
            let frame = pattern.render(index, captured);
            assert_eq!(stamp::read(frame.luma(), 320, 240, 320), Some(captured.wall.0 as u64));
            let mean: u64 = frame.luma().iter().map(|&v| u64::from(v)).sum::<u64>() / (320 * 240);
            if mean > 200 {
                flashes.push(index);
            }
        }
        assert_eq!(flashes, [0, 30, 60]);
    }
}
