//! The ladder's H.264 decoder: FFmpeg's libavcodec through bindings
//! generated from the installed headers (FFmpeg 5.1 to 7.x), so no struct
//! layout or error code is written here by hand. It decodes a 1080p30
//! source in under half the CPU OpenH264's decoder needs. One thread, in
//! display order; the caller retimes the pictures.

use std::ffi::{CStr, c_char, c_int};
use std::ptr;

use super::picture::{Picture, PicturePool};
use crate::ffmpeg::{self as ffi, AVCodecContext, AVFrame, AVPacket, Ffmpeg};
use crate::native::LoadError;

/// An error code from libavcodec, with its own words for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct AvError {
    pub code: c_int,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Unavailable(#[from] LoadError),
    #[error("this libavcodec has no H.264 decoder")]
    NoDecoder,
    #[error("cannot open libavcodec's H.264 decoder: {0}")]
    Open(AvError),
    #[error("an access unit of {0} bytes is beyond libavcodec")]
    TooLarge(usize),
    #[error("libavcodec refused the access unit: {0}")]
    Send(AvError),
    #[error("libavcodec failed to decode: {0}")]
    Receive(AvError),
    #[error("the source's pixel format (FFmpeg's number {0}) is not 8-bit 4:2:0, which the ladder needs")]
    PixelFormat(c_int),
    #[error("a decoded picture of {width}x{height} with short planes")]
    ShortPlanes { width: u32, height: u32 },
}

pub struct H264Decoder {
    ffmpeg: &'static Ffmpeg,
    context: *mut AVCodecContext,
    frame: *mut AVFrame,
    packet: *mut AVPacket,
    /// The access unit being sent, followed by the zeros libavcodec may read past its end.
    padded: Vec<u8>,
}

// SAFETY: the decoder's context, frame and packet belong to this value
// alone; libavcodec lets a context move between threads between calls.
unsafe impl Send for H264Decoder {}

/// What one libavcodec call said.
enum Outcome {
    Done,
    /// "Not now": drain pictures, or send more.
    Again,
    End,
    Failed(AvError),
}

impl H264Decoder {
    pub fn new() -> Result<H264Decoder, DecodeError> {
        let ffmpeg = ffi::ffmpeg()?;
        static QUIET: std::sync::Once = std::sync::Once::new();
        // Its errors reach the log once, rate-limited, through the caller.
        // SAFETY: sets a global level; no other effect.
        QUIET.call_once(|| unsafe { ffmpeg.av_log_set_level(ffi::AV_LOG_QUIET) });
        // SAFETY: plain lookups and constructors; every pointer is checked
        // before use and freed by Drop (which accepts nulls).
        unsafe {
            let codec = ffmpeg.avcodec_find_decoder(ffi::AV_CODEC_ID_H264);
            if codec.is_null() {
                return Err(DecodeError::NoDecoder);
            }
            let decoder = H264Decoder {
                ffmpeg,
                context: ffmpeg.avcodec_alloc_context3(codec),
                frame: ffmpeg.av_frame_alloc(),
                packet: ffmpeg.av_packet_alloc(),
                padded: Vec::new(),
            };
            if decoder.context.is_null() || decoder.frame.is_null() || decoder.packet.is_null() {
                return Err(DecodeError::Open(decoder.error(-libc::ENOMEM)));
            }
            // The ladder has a thread per rung already; frame threads would only add delay.
            (*decoder.context).thread_count = 1;
            match decoder.outcome(ffmpeg.avcodec_open2(decoder.context, codec, ptr::null_mut())) {
                Outcome::Done => Ok(decoder),
                Outcome::Failed(error) => Err(DecodeError::Open(error)),
                Outcome::Again | Outcome::End => Err(DecodeError::Open(decoder.error(-libc::EINVAL))),
            }
        }
    }

    /// Decodes one access unit (Annex-B, parameter sets in band) and appends
    /// the pictures that are ready, in display order.
    pub fn decode(&mut self, annexb: &[u8], pool: &mut PicturePool, pictures: &mut Vec<Picture>) -> Result<(), DecodeError> {
        let size = c_int::try_from(annexb.len()).map_err(|_| DecodeError::TooLarge(annexb.len()))?;
        self.padded.clear();
        self.padded.extend_from_slice(annexb);
        self.padded.resize(annexb.len() + ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize, 0);
        // SAFETY: the packet points into `padded`, which outlives both sends;
        // a packet without a buffer of its own is copied by libavcodec.
        unsafe {
            (*self.packet).data = self.padded.as_mut_ptr();
            (*self.packet).size = size;
        }
        let sent = match self.send(self.packet) {
            // Pictures are drained after every unit, so this is only a guard.
            Outcome::Again => {
                self.receive(pool, pictures)?;
                self.send(self.packet)
            }
            sent => sent,
        };
        // SAFETY: the packet is ours; it no longer points into `padded`.
        unsafe {
            (*self.packet).data = ptr::null_mut();
            (*self.packet).size = 0;
        }
        match sent {
            Outcome::Failed(error) => return Err(DecodeError::Send(error)),
            Outcome::Again => return Err(DecodeError::Send(self.error(-libc::EAGAIN))),
            Outcome::Done | Outcome::End => {}
        }
        self.receive(pool, pictures)
    }

    /// Ends the stream: the pictures still held for reordering come out.
    pub fn flush(&mut self, pool: &mut PicturePool, pictures: &mut Vec<Picture>) -> Result<(), DecodeError> {
        // A null packet is the end of the stream.
        if let Outcome::Failed(error) = self.send(ptr::null()) {
            return Err(DecodeError::Send(error));
        }
        self.receive(pool, pictures)?;
        // Resets the decoder for whatever comes next.
        self.reset();
        Ok(())
    }

    /// Forgets every picture in flight (after an error, before the next keyframe).
    pub fn reset(&mut self) {
        // SAFETY: an open context.
        unsafe { self.ffmpeg.avcodec_flush_buffers(self.context) };
    }

    fn send(&self, packet: *const AVPacket) -> Outcome {
        // SAFETY: an open context; the packet is null or ours.
        self.outcome(unsafe { self.ffmpeg.avcodec_send_packet(self.context, packet) })
    }

    fn receive(&mut self, pool: &mut PicturePool, pictures: &mut Vec<Picture>) -> Result<(), DecodeError> {
        loop {
            // SAFETY: an open context and our frame, which the call unreferences first.
            match self.outcome(unsafe { self.ffmpeg.avcodec_receive_frame(self.context, self.frame) }) {
                // SAFETY: the frame holds the picture just received.
                Outcome::Done => pictures.push(copy_frame(unsafe { &*self.frame }, pool.take())?),
                Outcome::Again | Outcome::End => return Ok(()),
                Outcome::Failed(error) => return Err(DecodeError::Receive(error)),
            }
        }
    }

    fn outcome(&self, code: c_int) -> Outcome {
        match code {
            0.. => Outcome::Done,
            ffi::ONAIR_AVERROR_EAGAIN => Outcome::Again,
            ffi::ONAIR_AVERROR_EOF => Outcome::End,
            code => Outcome::Failed(self.error(code)),
        }
    }

    fn error(&self, code: c_int) -> AvError {
        let mut text = [0 as c_char; 128];
        // SAFETY: the buffer's length is passed; libavutil always terminates it.
        let found = unsafe { self.ffmpeg.av_strerror(code, text.as_mut_ptr(), text.len()) } == 0;
        // SAFETY: NUL-terminated by av_strerror (or zeroed).
        let message = if found { unsafe { CStr::from_ptr(text.as_ptr()) }.to_string_lossy().into_owned() } else { "unknown error".into() };
        AvError { code, message }
    }
}

impl Drop for H264Decoder {
    fn drop(&mut self) {
        // SAFETY: each was allocated by its own constructor (or is null, which they accept).
        unsafe {
            self.ffmpeg.av_packet_free(&mut self.packet);
            self.ffmpeg.av_frame_free(&mut self.frame);
            self.ffmpeg.avcodec_free_context(&mut self.context);
        }
    }
}

/// Copies a decoded 8-bit 4:2:0 frame out of libavcodec's buffers into `picture`.
fn copy_frame(frame: &AVFrame, mut picture: Picture) -> Result<Picture, DecodeError> {
    if frame.format != ffi::AV_PIX_FMT_YUV420P && frame.format != ffi::AV_PIX_FMT_YUVJ420P {
        return Err(DecodeError::PixelFormat(frame.format));
    }
    let (width, height) = (u32::try_from(frame.width).unwrap_or(0), u32::try_from(frame.height).unwrap_or(0));
    let rows = [height, height.div_ceil(2), height.div_ceil(2)];
    let mut planes: [&[u8]; 3] = [&[]; 3];
    let mut strides = [0usize; 3];
    for plane in 0..3 {
        let (data, stride) = (frame.data[plane], frame.linesize[plane]);
        let stride = usize::try_from(stride).ok().filter(|_| !data.is_null()).ok_or(DecodeError::ShortPlanes { width, height })?;
        // SAFETY: libavcodec's plane holds `linesize` bytes for each of its rows.
        planes[plane] = unsafe { std::slice::from_raw_parts(data, stride * rows[plane] as usize) };
        strides[plane] = stride;
    }
    if !picture.fill_from_strided(width, height, planes, strides) {
        return Err(DecodeError::ShortPlanes { width, height });
    }
    Ok(picture)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flat pictures of the given shades, encoded by the engine's encoder
    /// (a keyframe first), as Annex-B access units with parameter sets.
    fn encoded_units(width: usize, height: usize, shades: &[u8]) -> Vec<Vec<u8>> {
        use crate::capture::clock::CaptureTime;
        use crate::capture::frames::VideoFrame;
        use crate::encode::h264::H264Encoder;
        use crate::media::h264::{append_annexb, avcc_parameter_sets, nal_units};
        use crate::media::wallclock::UnixMillis;

        let mut encoder = H264Encoder::for_ladder(width, height, 30, 300).unwrap();
        let mut config = None;
        let mut units = Vec::new();
        for (index, &shade) in shades.iter().enumerate() {
            let mut i420 = vec![shade; width * height];
            i420.resize(width * height * 3 / 2, 128);
            let frame = VideoFrame { width, height, i420, captured: CaptureTime { micros: 0, wall: UnixMillis(0) } };
            if index == 0 {
                encoder.force_keyframe();
            }
            let encoded = encoder.encode(&frame).unwrap().expect("a frame");
            config = encoded.config.or(config);
            let config = config.as_ref().expect("parameter sets with the keyframe");
            let mut annexb = Vec::new();
            if encoded.keyframe {
                append_annexb(&mut annexb, avcc_parameter_sets(&config.avcc));
            }
            append_annexb(&mut annexb, nal_units(&encoded.data, config.nal_length_size));
            units.push(annexb);
        }
        units
    }

    #[test]
    fn decodes_what_the_engine_encodes_in_order_and_keeps_its_picture() {
        let mut decoder = H264Decoder::new().unwrap();
        let mut pictures = Vec::new();
        for unit in encoded_units(64, 48, &[60, 120, 180]) {
            decoder.decode(&unit, &mut PicturePool::default(), &mut pictures).unwrap();
        }
        decoder.flush(&mut PicturePool::default(), &mut pictures).unwrap();
        let shades: Vec<u8> = pictures.iter().map(|p| p.y[p.y.len() / 2]).collect();
        assert_eq!(pictures.len(), 3, "shades {shades:?}");
        assert!(pictures.iter().all(|p| (p.width, p.height) == (64, 48) && p.u.len() == 32 * 24));
        for (got, want) in shades.iter().zip([60u8, 120, 180]) {
            assert!(got.abs_diff(want) <= 6, "luma {shades:?}, encoded 60, 120, 180");
        }
    }

    #[test]
    fn damaged_units_give_errors_or_whole_pictures_never_a_crash() {
        let units = encoded_units(64, 48, &[40, 80, 120, 160, 200, 240]);
        let mut noise = 0x2545_f491_u32;
        let mut next = move || {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            noise as usize
        };
        let (mut pool, mut decoded) = (PicturePool::default(), 0);
        for _ in 0..200 {
            let mut decoder = H264Decoder::new().unwrap();
            let mut pictures = Vec::new();
            for unit in &units {
                let mut damaged = unit.clone();
                for _ in 0..1 + next() % 4 {
                    let at = next() % damaged.len();
                    damaged[at] = next() as u8;
                }
                damaged.truncate(damaged.len() - next() % 3);
                let _ = decoder.decode(&damaged, &mut pool, &mut pictures);
            }
            let _ = decoder.flush(&mut pool, &mut pictures);
            for picture in &pictures {
                let (w, h) = (picture.width as usize, picture.height as usize);
                assert_eq!((picture.y.len(), picture.u.len()), (w * h, w.div_ceil(2) * h.div_ceil(2)), "{w}x{h}");
            }
            decoded += pictures.len();
        }
        assert!(decoded > 0, "some damaged streams still decode");
    }

    #[test]
    fn garbage_is_an_error_or_nothing_never_a_picture_or_a_crash() {
        let mut decoder = H264Decoder::new().unwrap();
        let mut pictures = Vec::new();
        let mut noise = 0x9e37_79b9_u32;
        for length in [0usize, 1, 4, 5, 64, 4096] {
            let mut unit = vec![0, 0, 0, 1];
            unit.extend((0..length).map(|_| {
                noise ^= noise << 13;
                noise ^= noise >> 17;
                noise ^= noise << 5;
                noise as u8
            }));
            let _ = decoder.decode(&unit, &mut PicturePool::default(), &mut pictures);
        }
        let _ = decoder.flush(&mut PicturePool::default(), &mut pictures);
        assert!(pictures.is_empty(), "{} pictures from noise", pictures.len());
    }
}
