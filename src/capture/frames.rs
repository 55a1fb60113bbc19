//! Raw captured media.

use super::clock::CaptureTime;

/// A planar I420 picture (Y, then U, then V, no padding).
#[derive(Clone, Debug)]
pub struct VideoFrame {
    pub width: usize,
    pub height: usize,
    pub i420: Vec<u8>,
    pub captured: CaptureTime,
}

impl VideoFrame {
    pub fn blank(width: usize, height: usize, captured: CaptureTime) -> VideoFrame {
        let luma = width * height;
        let mut i420 = vec![16u8; luma + luma / 2];
        i420[luma..].fill(128);
        VideoFrame { width, height, i420, captured }
    }

    pub fn luma(&self) -> &[u8] {
        &self.i420[..self.width * self.height]
    }
}

/// Interleaved 16-bit stereo PCM at 48 kHz; `captured` is its first sample.
#[derive(Clone, Debug)]
pub struct AudioBuffer {
    pub samples: Vec<i16>,
    pub captured: CaptureTime,
}

pub const AUDIO_RATE: u32 = 48_000;
pub const AUDIO_CHANNELS: usize = 2;

/// Peak and RMS of a buffer in dBFS, for meters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AudioLevel {
    pub peak_dbfs: f32,
    pub rms_dbfs: f32,
}

impl AudioLevel {
    pub const SILENT: AudioLevel = AudioLevel { peak_dbfs: -120.0, rms_dbfs: -120.0 };

    pub fn measure(samples: &[i16]) -> AudioLevel {
        AudioLevel::measure_f32(samples.iter().map(|&sample| f32::from(sample) / 32768.0))
    }

    /// The level of samples in -1..1.
    pub fn measure_f32(samples: impl IntoIterator<Item = f32>) -> AudioLevel {
        let (mut peak, mut energy, mut count) = (0f32, 0f64, 0usize);
        for value in samples {
            peak = peak.max(value.abs());
            energy += f64::from(value * value);
            count += 1;
        }
        if count == 0 {
            return AudioLevel::SILENT;
        }
        let rms = (energy / count as f64).sqrt() as f32;
        let db = |v: f32| if v > 0.0 { (20.0 * v.log10()).max(-120.0) } else { -120.0 };
        AudioLevel { peak_dbfs: db(peak), rms_dbfs: db(rms) }
    }

    /// The buffer touched full scale.
    pub fn clipped(&self) -> bool {
        self.peak_dbfs > -0.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_of_a_full_scale_square_and_silence() {
        let square: Vec<i16> = (0..480).map(|i| if i % 2 == 0 { i16::MAX } else { -i16::MAX }).collect();
        let level = AudioLevel::measure(&square);
        assert!(level.peak_dbfs > -0.01 && level.rms_dbfs > -0.01 && level.clipped());
        assert_eq!(AudioLevel::measure(&[0; 64]), AudioLevel::SILENT);
    }
}
