//! Microphones through cpal, converted to 48 kHz interleaved stereo.

use std::sync::mpsc;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use rubato::{FftFixedIn, Resampler};

use super::clock::CaptureClock;
use super::frames::{AUDIO_RATE, AudioBuffer};
use super::{AudioSource, CaptureError};

#[derive(Clone, Debug, PartialEq)]
pub struct MicrophoneDescription {
    pub name: String,
    pub default_config: String,
}

/// ALSA's null device and a sound server's monitors of its outputs are
/// inputs, but not microphones: they capture silence or the speakers.
fn is_microphone(name: &str) -> bool {
    let name = name.to_lowercase();
    !(name == "null" || name.starts_with("discard all samples") || name.starts_with("monitor of ") || name.ends_with(".monitor"))
}

fn device_name(device: &cpal::Device) -> Option<String> {
    device.description().ok().map(|d| d.name().to_string())
}

pub fn list_microphones() -> Result<Vec<MicrophoneDescription>, CaptureError> {
    let host = cpal::default_host();
    let devices = host.input_devices().map_err(|e| CaptureError::Device(format!("cannot list microphones: {e}")))?;
    Ok(devices
        .filter(|device| device_name(device).is_none_or(|name| is_microphone(&name)))
        .map(|device| {
            let name = device.description().map(|d| d.name().to_string()).unwrap_or_else(|_| "unnamed input".into());
            let default_config = device
                .default_input_config()
                .map(|c| format!("{} Hz, {} ch, {:?}", c.sample_rate(), c.channels(), c.sample_format()))
                .unwrap_or_else(|e| format!("unusable: {e}"));
            MicrophoneDescription { name, default_config }
        })
        .collect())
}

/// A running capture: the cpal stream lives on its own thread (it is not Send);
/// buffers arrive over a bounded channel.
pub struct Microphone {
    buffers: mpsc::Receiver<Result<Vec<f32>, String>>,
    channels: usize,
    resampler: Option<FftFixedIn<f32>>,
    pending: Vec<Vec<f32>>,
    clock: CaptureClock,
    /// Samples per channel delivered so far, for capture timestamps.
    delivered: u64,
    start_micros: Option<i64>,
    name: String,
    _stop: mpsc::Sender<()>,
}

impl Microphone {
    /// Opens the default input, or the first whose name contains `selector`.
    pub fn open(selector: Option<&str>, clock: CaptureClock) -> Result<Microphone, CaptureError> {
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let (buffer_tx, buffers) = mpsc::sync_channel(64);
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let selector = selector.map(str::to_lowercase);
        std::thread::Builder::new()
            .name("microphone".into())
            .spawn(move || {
                let opened = open_stream(selector.as_deref(), buffer_tx);
                match opened {
                    Ok((stream, rate, channels, name)) => {
                        let _ = ready_tx.send(Ok((rate, channels, name)));
                        // Keep the stream alive until the Microphone is dropped.
                        let _ = stop_rx.recv();
                        drop(stream);
                    }
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                    }
                }
            })
            .map_err(|e| CaptureError::Device(format!("cannot start the microphone thread: {e}")))?;
        let (rate, channels, name) =
            ready_rx.recv_timeout(Duration::from_secs(10)).map_err(|_| CaptureError::Device("the microphone did not start within 10 s".into()))??;
        let resampler = if rate == AUDIO_RATE {
            None
        } else {
            Some(
                FftFixedIn::<f32>::new(rate as usize, AUDIO_RATE as usize, 480, 2, 2)
                    .map_err(|e| CaptureError::Device(format!("cannot resample {rate} Hz: {e}")))?,
            )
        };
        Ok(Microphone { buffers, channels, resampler, pending: vec![Vec::new(), Vec::new()], clock, delivered: 0, start_micros: None, name, _stop: stop_tx })
    }
}

type OpenedStream = (cpal::Stream, u32, usize, String);

fn open_stream(selector: Option<&str>, sink: mpsc::SyncSender<Result<Vec<f32>, String>>) -> Result<OpenedStream, CaptureError> {
    let host = cpal::default_host();
    let device = match selector {
        None => host.default_input_device().ok_or_else(|| CaptureError::NoDevice("no microphone found; use the test tone (--audio tone) or none".into()))?,
        Some(wanted) => host
            .input_devices()
            .map_err(|e| CaptureError::Device(e.to_string()))?
            .find(|d| device_name(d).is_some_and(|name| is_microphone(&name) && name.to_lowercase().contains(wanted)))
            .ok_or_else(|| CaptureError::NoDevice(format!("no microphone's name contains \"{wanted}\"; `onair devices` lists them")))?,
    };
    let name = device.description().map(|d| d.name().to_string()).unwrap_or_else(|_| "microphone".into());
    // Prefer 48 kHz when the device offers it; otherwise take its default and resample.
    let default = device.default_input_config().map_err(|e| CaptureError::Device(format!("{name}: {e}")))?;
    let channels = default.channels();
    let rate = device
        .supported_input_configs()
        .ok()
        .and_then(|mut configs| configs.find(|c| c.channels() == channels && c.min_sample_rate() <= AUDIO_RATE && AUDIO_RATE <= c.max_sample_rate()))
        .map_or(default.sample_rate(), |_| AUDIO_RATE);
    let config = cpal::StreamConfig { channels, sample_rate: rate, buffer_size: cpal::BufferSize::Default };
    let errors = sink.clone();
    let stream = device
        .build_input_stream(
            config,
            move |data: &[f32], _: &cpal::InputCallbackInfo| {
                // Never block the audio thread: a full channel drops this buffer.
                let _ = sink.try_send(Ok(data.to_vec()));
            },
            move |error| {
                let _ = errors.try_send(Err(error.to_string()));
            },
            None,
        )
        .map_err(|e| CaptureError::Device(format!("{name}: cannot open input stream: {e}")))?;
    stream.play().map_err(|e| CaptureError::Device(format!("{name}: cannot start: {e}")))?;
    Ok((stream, rate, usize::from(channels), name))
}

impl AudioSource for Microphone {
    fn next_buffer(&mut self) -> Result<AudioBuffer, CaptureError> {
        loop {
            let data = match self.buffers.recv_timeout(Duration::from_secs(5)) {
                Ok(Ok(data)) => data,
                Ok(Err(error)) => return Err(CaptureError::Device(format!("microphone failed: {error}"))),
                Err(_) => return Err(CaptureError::Device("the microphone delivered nothing for 5 s".into())),
            };
            let frames = data.len() / self.channels.max(1);
            let start = *self.start_micros.get_or_insert_with(|| {
                // The first buffer's first sample was captured its duration ago.
                let now = self.clock.now().micros;
                now - frames as i64 * 1_000_000 / i64::from(AUDIO_RATE)
            });
            // Down- or up-mix to stereo.
            for frame in data.chunks(self.channels.max(1)) {
                let left = frame[0];
                let right = *frame.get(1).unwrap_or(&left);
                self.pending[0].push(left);
                self.pending[1].push(right);
            }
            let stereo = match &mut self.resampler {
                None => std::mem::replace(&mut self.pending, vec![Vec::new(), Vec::new()]),
                Some(resampler) => {
                    let mut out = vec![Vec::new(), Vec::new()];
                    while self.pending[0].len() >= resampler.input_frames_next() {
                        let needed = resampler.input_frames_next();
                        let chunk: Vec<Vec<f32>> = self.pending.iter_mut().map(|ch| ch.drain(..needed).collect()).collect();
                        let resampled = resampler.process(&chunk, None).map_err(|e| CaptureError::Device(format!("resampling failed: {e}")))?;
                        for (channel, samples) in resampled.into_iter().enumerate() {
                            out[channel].extend(samples);
                        }
                    }
                    out
                }
            };
            if stereo[0].is_empty() {
                continue;
            }
            let captured = self.clock.from_micros(start + (self.delivered * 1_000_000 / u64::from(AUDIO_RATE)) as i64);
            self.delivered += stereo[0].len() as u64;
            let samples = stereo[0].iter().zip(&stereo[1]).flat_map(|(&l, &r)| [to_i16(l), to_i16(r)]).collect();
            return Ok(AudioBuffer { samples, captured });
        }
    }

    fn describe(&self) -> String {
        format!("microphone {}", self.name)
    }
}

fn to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_null_device_and_monitors_are_not_microphones() {
        assert!(!is_microphone("Discard all samples (playback) or generate zero samples (capture)"));
        assert!(!is_microphone("Monitor of Built-in Audio Analog Stereo"));
        assert!(!is_microphone("alsa_output.pci-0000_00_1f.3.analog-stereo.monitor"));
        assert!(!is_microphone("null"));
        assert!(is_microphone("USB Audio Device, USB Audio"));
        assert!(is_microphone("Default ALSA Output (currently PulseAudio Sound Server)"));
    }
}
