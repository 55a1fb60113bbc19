//! Suppression of stationary noise (hiss, hum, a fan): each frequency's
//! power, smoothed over 100 ms, has its noise floor tracked as its running
//! minimum, rising slowly, and what stands no higher than the floor is
//! attenuated (spectral subtraction).
//! RNNoise, trained on speech in real rooms, leaves broadband hiss almost
//! untouched; this takes it down. 20 ms windows at 50 % overlap, so it adds
//! one 10 ms block of delay.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::dsp::BLOCK;

const WINDOW: usize = BLOCK * 2;
/// How fast the floor may rise, per block: 6 dB a second.
const RISE: f32 = 1.0139;
/// Blocks averaged before the floor is first set.
const WARMUP: u32 = 10;
/// The floor sits under the noise's mean; subtracting three times it
/// clears the noise's fluctuations too.
const OVER: f32 = 3.0;
/// Smoothing of each bin's power, per block (a 100 ms time constant).
const SMOOTH: f32 = 0.9;
/// The deepest cut: -26 dB, so what is left never sounds hollow.
const FLOOR: f32 = 0.05;

struct Channel {
    /// Blocks with sound heard so far: silence (an input not yet flowing) teaches nothing about the noise.
    heard: u32,
    /// The last WINDOW input samples.
    input: Vec<f32>,
    /// The second half of the last synthesised window, to overlap-add.
    tail: Vec<f32>,
    smoothed: Vec<f32>,
    noise: Vec<f32>,
    gain: Vec<f32>,
}

pub struct HissSuppressor {
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    /// sqrt-Hann: applied on analysis and synthesis, its square sums to one at 50 % overlap.
    window: Vec<f32>,
    channels: [Channel; 2],
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
}

impl Default for HissSuppressor {
    fn default() -> HissSuppressor {
        let mut planner = RealFftPlanner::<f32>::new();
        let (forward, inverse) = (planner.plan_fft_forward(WINDOW), planner.plan_fft_inverse(WINDOW));
        let window = (0..WINDOW).map(|n| (0.5 - 0.5 * (std::f32::consts::TAU * n as f32 / WINDOW as f32).cos()).sqrt()).collect();
        let bins = WINDOW / 2 + 1;
        let channel =
            || Channel { heard: 0, input: vec![0.0; WINDOW], tail: vec![0.0; BLOCK], smoothed: vec![0.0; bins], noise: vec![0.0; bins], gain: vec![1.0; bins] };
        HissSuppressor { forward, inverse, window, channels: [channel(), channel()], frame: vec![0.0; WINDOW], spectrum: vec![Complex::default(); bins] }
    }
}

impl HissSuppressor {
    /// `block` is BLOCK interleaved stereo frames, processed in place.
    pub fn process(&mut self, block: &mut [f32]) {
        for (index, channel) in self.channels.iter_mut().enumerate() {
            channel.input.copy_within(BLOCK.., 0);
            let mut silent = true;
            for (i, sample) in channel.input[BLOCK..].iter_mut().enumerate() {
                *sample = block.get(i * 2 + index).copied().unwrap_or(0.0);
                silent &= *sample == 0.0;
            }
            if !silent {
                channel.heard = channel.heard.saturating_add(1);
            }
            for ((out, &x), &w) in self.frame.iter_mut().zip(&channel.input).zip(&self.window) {
                *out = x * w;
            }
            if self.forward.process(&mut self.frame, &mut self.spectrum).is_err() {
                continue;
            }
            let bins = self.spectrum.iter_mut().zip(&mut channel.smoothed).zip(&mut channel.noise).zip(&mut channel.gain);
            let (heard, learn) = (channel.heard, !silent);
            for (((bin, smoothed), noise), gain) in bins {
                // The floor starts at the first 100 ms of sound's average; then it follows
                // the power down smoothly and up slowly, settling low in the noise's own range.
                if learn {
                    *smoothed = if heard == 1 { bin.norm_sqr() } else { SMOOTH * *smoothed + (1.0 - SMOOTH) * bin.norm_sqr() };
                    if heard == WARMUP {
                        *noise = *smoothed;
                    } else if heard > WARMUP {
                        *noise = if *smoothed < *noise { 0.9 * *noise + 0.1 * *smoothed } else { *noise * RISE };
                    }
                }
                let wanted = if heard < WARMUP { 1.0 } else { (1.0 - OVER * *noise / smoothed.max(1e-20)).max(FLOOR) };
                // Open at once, close over a few blocks: no musical noise.
                *gain = wanted.max(*gain * 0.7);
                *bin *= *gain;
            }
            if self.inverse.process(&mut self.spectrum, &mut self.frame).is_err() {
                continue;
            }
            let scale = 1.0 / WINDOW as f32;
            for (y, &w) in self.frame.iter_mut().zip(&self.window) {
                *y *= w * scale;
            }
            for i in 0..BLOCK {
                if let Some(out) = block.get_mut(i * 2 + index) {
                    *out = self.frame[i] + channel.tail[i];
                }
            }
            channel.tail.copy_from_slice(&self.frame[BLOCK..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn energy(samples: &[f32]) -> f64 {
        samples.iter().map(|s| f64::from(s * s)).sum()
    }

    #[test]
    fn white_noise_after_silence_goes_down_by_more_than_ten_db_and_a_burst_over_it_survives() {
        let mut state = 0x2545_f491u32;
        let mut white = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32 * 2.0 - 1.0) * 0.1
        };
        let mut suppressor = HissSuppressor::default();
        // An input starts silent (its buffer filling): that is not the noise floor.
        for _ in 0..20 {
            suppressor.process(&mut vec![0.0; BLOCK * 2]);
        }
        let (mut before, mut after) = (0.0, 0.0);
        for index in 0..400 {
            let mut block: Vec<f32> = (0..BLOCK).flat_map(|_| [white(); 2]).collect();
            let input = energy(&block);
            suppressor.process(&mut block);
            if index >= 200 {
                (before, after) = (before + input, after + energy(&block));
            }
        }
        let reduction = 10.0 * (after / before).log10();
        assert!(reduction < -10.0, "white noise down by {reduction:.1} dB only");
        // A 1 kHz burst well over the floor comes through at its level.
        let burst: Vec<f32> = (0..BLOCK * 20).flat_map(|i| [0.5 * (std::f32::consts::TAU * 1000.0 * i as f32 / 48_000.0).sin(); 2]).collect();
        let mut out = Vec::new();
        for chunk in burst.chunks(BLOCK * 2) {
            let mut block: Vec<f32> = chunk.iter().map(|&s| s + white()).collect();
            suppressor.process(&mut block);
            out.extend(block);
        }
        let kept = 10.0 * (energy(&out[BLOCK * 8..]) / energy(&burst[BLOCK * 8..])).log10();
        assert!(kept.abs() < 1.5, "the burst changed by {kept:.1} dB");
    }
}
