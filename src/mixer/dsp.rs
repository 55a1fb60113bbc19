//! The mixer's signal processing on 10 ms blocks of 48 kHz stereo f32:
//! noise suppression (RNNoise), a noise gate, and the limiter on the mix.

use nnnoiseless::DenoiseState;

/// Samples per channel in one block: RNNoise's frame, 10 ms at 48 kHz.
pub const BLOCK: usize = DenoiseState::FRAME_SIZE;

pub fn db_to_gain(db: f32) -> f32 {
    10f32.powf(db / 20.0)
}

/// RNNoise on each channel of interleaved stereo.
pub struct Denoiser {
    channels: [Box<DenoiseState<'static>>; 2],
    scratch_in: Vec<f32>,
    scratch_out: Vec<f32>,
}

impl Default for Denoiser {
    fn default() -> Denoiser {
        Denoiser { channels: [DenoiseState::new(), DenoiseState::new()], scratch_in: vec![0.0; BLOCK], scratch_out: vec![0.0; BLOCK] }
    }
}

impl Denoiser {
    /// `block` is BLOCK stereo frames in -1..1.
    pub fn process(&mut self, block: &mut [f32]) {
        for (channel, state) in self.channels.iter_mut().enumerate() {
            // RNNoise works on 16-bit-scaled samples.
            for (i, sample) in self.scratch_in.iter_mut().enumerate() {
                *sample = block.get(i * 2 + channel).copied().unwrap_or(0.0) * 32768.0;
            }
            state.process_frame(&mut self.scratch_out, &self.scratch_in);
            for (i, &sample) in self.scratch_out.iter().enumerate() {
                if let Some(out) = block.get_mut(i * 2 + channel) {
                    *out = sample / 32768.0;
                }
            }
        }
    }
}

/// Silences an input whose level stays under the threshold; opens at once
/// when it rises over it, closes after a hold so word endings survive.
#[derive(Default)]
pub struct Gate {
    gain: f32,
    held_blocks: u32,
}

impl Gate {
    const HOLD_BLOCKS: u32 = 20;

    pub fn process(&mut self, block: &mut [f32], threshold_db: f32) {
        let rms = (block.iter().map(|s| s * s).sum::<f32>() / block.len().max(1) as f32).sqrt();
        let open = rms > db_to_gain(threshold_db);
        if open {
            self.held_blocks = Self::HOLD_BLOCKS;
        } else {
            self.held_blocks = self.held_blocks.saturating_sub(1);
        }
        let target = if self.held_blocks > 0 { 1.0 } else { 0.0 };
        // A ramp over the block, never a click.
        let frames = block.len() / 2;
        for (i, frame) in block.chunks_exact_mut(2).enumerate() {
            let gain = self.gain + (target - self.gain) * (i + 1) as f32 / frames as f32;
            frame[0] *= gain;
            frame[1] *= gain;
        }
        self.gain = target;
    }
}

/// Keeps the mix under a ceiling: the gain drops at once to what a peak
/// needs and recovers over about 100 ms, so the mix never clips.
pub struct Limiter {
    gain: f32,
    ceiling: f32,
    release_per_sample: f32,
}

impl Default for Limiter {
    fn default() -> Limiter {
        Limiter { gain: 1.0, ceiling: db_to_gain(-1.0), release_per_sample: 1.0 - (-1.0 / (0.1 * 48_000.0f32)).exp() }
    }
}

impl Limiter {
    /// Returns the deepest gain reduction in the block, in dB (0 or less).
    pub fn process(&mut self, block: &mut [f32]) -> f32 {
        let mut deepest = 1f32;
        for frame in block.chunks_exact_mut(2) {
            let peak = frame[0].abs().max(frame[1].abs());
            // Attack at once to what this sample needs; release smoothly toward unity.
            let allowed = if peak > self.ceiling { self.ceiling / peak } else { 1.0 };
            self.gain = (self.gain + (1.0 - self.gain) * self.release_per_sample).min(allowed);
            frame[0] *= self.gain;
            frame[1] *= self.gain;
            deepest = deepest.min(self.gain);
        }
        20.0 * deepest.max(1e-6).log10()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(frequency: f32, amplitude: f32, blocks: usize) -> Vec<f32> {
        (0..blocks * BLOCK).flat_map(|i| [amplitude * (std::f32::consts::TAU * frequency * i as f32 / 48_000.0).sin(); 2]).collect()
    }

    #[test]
    fn the_limiter_keeps_a_loud_mix_under_its_ceiling_and_a_quiet_one_as_it_is() {
        let mut limiter = Limiter::default();
        let mut loud = sine(440.0, 1.8, 20);
        let reduction = loud.chunks_mut(BLOCK * 2).map(|block| limiter.process(block)).fold(0f32, f32::min);
        assert!(loud.iter().all(|s| s.abs() <= db_to_gain(-1.0) + 1e-6), "a sample over the ceiling");
        assert!(reduction < -5.0, "{reduction} dB");
        let mut limiter = Limiter::default();
        let quiet = sine(440.0, 0.25, 5);
        let mut processed = quiet.clone();
        processed.chunks_mut(BLOCK * 2).for_each(|block| {
            limiter.process(block);
        });
        assert_eq!(processed, quiet);
    }

    #[test]
    fn the_gate_silences_what_stays_under_its_threshold() {
        let mut gate = Gate::default();
        let mut hum = sine(100.0, 0.001, 40);
        hum.chunks_mut(BLOCK * 2).for_each(|block| gate.process(block, -40.0));
        assert!(hum[BLOCK * 2 * 30..].iter().all(|s| *s == 0.0), "-60 dBFS stays shut under a -40 dB gate");
        let mut voice = sine(300.0, 0.3, 4);
        voice.chunks_mut(BLOCK * 2).for_each(|block| gate.process(block, -40.0));
        assert!(voice[BLOCK * 2..].iter().any(|s| s.abs() > 0.29), "a loud input opens it");
    }
}
