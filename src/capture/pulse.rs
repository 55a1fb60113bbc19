//! Recording any source of the sound server (PulseAudio, or PipeWire's
//! PulseAudio service) by name through libpulse-simple: a microphone, or
//! the monitor of an output, which is what the computer plays. The server
//! keeps its own buffer and hands over 10 ms pieces, so nothing is lost
//! when a read comes late. libpulse opens the first time a source does.

use std::ffi::{CStr, CString, c_int};
use std::ptr;

use super::clock::CaptureClock;
use super::frames::{AUDIO_CHANNELS, AUDIO_RATE, AudioBuffer};
use super::{AudioSource, CaptureError};
use crate::native::NativeLibrary;

#[allow(non_camel_case_types, non_snake_case, non_upper_case_globals, dead_code, clippy::all)]
mod ffi {
    include!(concat!(env!("OUT_DIR"), "/pulse_bindings.rs"));
}

static PULSE: NativeLibrary<ffi::LibPulse> =
    NativeLibrary::new(&[env!("ONAIR_LIBPULSE_SONAME"), env!("ONAIR_LIBPULSE_SIMPLE_SONAME")], ffi::LibPulse::from_library::<libloading::Library>);

/// The sound server's name for the monitor of its default output.
pub const DEFAULT_MONITOR: &str = "@DEFAULT_MONITOR@";

/// Samples per channel in each read (10 ms).
const PIECE: usize = AUDIO_RATE as usize / 100;

pub struct PulseSource {
    stream: *mut ffi::pa_simple,
    name: String,
    clock: CaptureClock,
    piece: Vec<f32>,
    start_micros: Option<i64>,
    delivered: u64,
}

// SAFETY: the stream is used by one thread at a time, through `&mut self`.
unsafe impl Send for PulseSource {}

impl PulseSource {
    /// Opens the source named `source` (`pactl list short sources` lists them), or the default input.
    pub fn open(source: Option<&str>, clock: CaptureClock) -> Result<PulseSource, CaptureError> {
        let pulse = PULSE.get().map_err(|error| CaptureError::NoDevice(error.to_string()))?;
        let name = source.unwrap_or("the default input").to_string();
        let device = source.map(CString::new).transpose().map_err(|_| CaptureError::NoDevice(format!("{name}: a source name has no NUL")))?;
        let spec = ffi::pa_sample_spec { format: ffi::PA_SAMPLE_FLOAT32LE, rate: AUDIO_RATE, channels: AUDIO_CHANNELS as u8 };
        // The server's default buffer length; a piece each 10 ms.
        let piece_bytes = (PIECE * AUDIO_CHANNELS * std::mem::size_of::<f32>()) as u32;
        let attributes = ffi::pa_buffer_attr { maxlength: u32::MAX, tlength: u32::MAX, prebuf: u32::MAX, minreq: u32::MAX, fragsize: piece_bytes };
        let mut error: c_int = 0;
        // SAFETY: every pointer is valid for the call or null where libpulse takes null (default server, channel map).
        let stream = unsafe {
            pulse.pa_simple_new(
                ptr::null(),
                c"OnAir".as_ptr(),
                ffi::PA_STREAM_RECORD,
                device.as_ref().map_or(ptr::null(), |d| d.as_ptr()),
                c"mixer input".as_ptr(),
                &spec,
                ptr::null(),
                &attributes,
                &mut error,
            )
        };
        if stream.is_null() {
            return Err(CaptureError::NoDevice(format!("sound server source {name}: {}", describe(pulse, error))));
        }
        Ok(PulseSource { stream, name, clock, piece: vec![0.0; PIECE * AUDIO_CHANNELS], start_micros: None, delivered: 0 })
    }
}

fn describe(pulse: &ffi::LibPulse, error: c_int) -> String {
    // SAFETY: pa_strerror returns a static string (or null).
    let text = unsafe { pulse.pa_strerror(error) };
    if text.is_null() { format!("error {error}") } else { unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned() }
}

impl AudioSource for PulseSource {
    fn next_buffer(&mut self) -> Result<AudioBuffer, CaptureError> {
        let pulse = PULSE.get().map_err(|error| CaptureError::Device(error.to_string()))?;
        let mut error: c_int = 0;
        let bytes = self.piece.len() * std::mem::size_of::<f32>();
        // SAFETY: the buffer holds `bytes` bytes; the stream is open until drop.
        let read = unsafe { pulse.pa_simple_read(self.stream, self.piece.as_mut_ptr().cast(), bytes, &mut error) };
        if read < 0 {
            return Err(CaptureError::Device(format!("{}: {}", self.name, describe(pulse, error))));
        }
        // The first piece's first sample was captured a piece ago; the rest follow by count.
        let start = *self.start_micros.get_or_insert_with(|| self.clock.now().micros - (PIECE as i64 * 1_000_000) / i64::from(AUDIO_RATE));
        let captured = self.clock.from_micros(start + (self.delivered * 1_000_000 / u64::from(AUDIO_RATE)) as i64);
        self.delivered += PIECE as u64;
        let samples = self.piece.iter().map(|&sample| (sample.clamp(-1.0, 1.0) * 32767.0) as i16).collect();
        Ok(AudioBuffer { samples, captured })
    }

    fn describe(&self) -> String {
        format!("sound server source {}", self.name)
    }
}

impl Drop for PulseSource {
    fn drop(&mut self) {
        if let Ok(pulse) = PULSE.get() {
            // SAFETY: made by pa_simple_new and freed only here.
            unsafe { pulse.pa_simple_free(self.stream) };
        }
    }
}
