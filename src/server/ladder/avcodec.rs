//! The ladder's H.264 decoder: FFmpeg's libavcodec (Debian's `libavcodec-dev`),
//! which decodes a 1080p30 source in under half the CPU OpenH264's decoder
//! needs. One thread, in display order; the caller retimes the pictures.
//!
//! Only the leading fields of `AVPacket` and `AVFrame` are declared: they have
//! kept their places since FFmpeg 4, and a test checks them against the
//! installed headers' offsets.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;

use super::picture::{Picture, PicturePool};

mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    pub const AV_CODEC_ID_H264: c_int = 27;
    pub const AV_PIX_FMT_YUV420P: c_int = 0;
    pub const AV_PIX_FMT_YUVJ420P: c_int = 12;
    pub const AVERROR_EAGAIN: c_int = -11;
    pub const AVERROR_EOF: c_int = -0x2046_4F45;
    pub const AV_LOG_QUIET: c_int = -8;

    /// `AVPacket`'s leading fields; allocated by libavcodec only.
    #[repr(C)]
    pub struct AVPacket {
        pub buf: *mut c_void,
        pub pts: i64,
        pub dts: i64,
        pub data: *mut u8,
        pub size: c_int,
    }

    /// `AVFrame`'s leading fields; allocated by libavutil only.
    #[repr(C)]
    pub struct AVFrame {
        pub data: [*mut u8; 8],
        pub linesize: [c_int; 8],
        pub extended_data: *mut *mut u8,
        pub width: c_int,
        pub height: c_int,
        pub nb_samples: c_int,
        pub format: c_int,
    }

    #[link(name = "avcodec")]
    unsafe extern "C" {
        pub fn avcodec_find_decoder(id: c_int) -> *const c_void;
        pub fn avcodec_alloc_context3(codec: *const c_void) -> *mut c_void;
        pub fn avcodec_open2(context: *mut c_void, codec: *const c_void, options: *mut *mut c_void) -> c_int;
        pub fn avcodec_free_context(context: *mut *mut c_void);
        pub fn avcodec_send_packet(context: *mut c_void, packet: *const AVPacket) -> c_int;
        pub fn avcodec_receive_frame(context: *mut c_void, frame: *mut AVFrame) -> c_int;
        pub fn avcodec_flush_buffers(context: *mut c_void);
        pub fn av_packet_alloc() -> *mut AVPacket;
        pub fn av_packet_free(packet: *mut *mut AVPacket);
        pub fn av_new_packet(packet: *mut AVPacket, size: c_int) -> c_int;
        pub fn av_packet_unref(packet: *mut AVPacket);
    }

    #[link(name = "avutil")]
    unsafe extern "C" {
        pub fn av_frame_alloc() -> *mut AVFrame;
        pub fn av_frame_free(frame: *mut *mut AVFrame);
        pub fn av_frame_unref(frame: *mut AVFrame);
        pub fn av_dict_set(dictionary: *mut *mut c_void, key: *const c_char, value: *const c_char, flags: c_int) -> c_int;
        pub fn av_dict_free(dictionary: *mut *mut c_void);
        pub fn av_strerror(error: c_int, buffer: *mut c_char, size: usize) -> c_int;
        pub fn av_log_set_level(level: c_int);
    }
}

/// libavcodec's words for an error code.
fn error_text(code: c_int) -> String {
    let mut buffer = [0 as c_char; 128];
    // SAFETY: av_strerror writes at most `buffer.len()` bytes, NUL-terminated.
    unsafe {
        if ffi::av_strerror(code, buffer.as_mut_ptr(), buffer.len()) < 0 {
            return format!("libavcodec error {code}");
        }
        CStr::from_ptr(buffer.as_ptr()).to_string_lossy().into_owned()
    }
}

pub struct H264Decoder {
    context: *mut c_void,
    packet: *mut ffi::AVPacket,
    frame: *mut ffi::AVFrame,
}

impl H264Decoder {
    pub fn new() -> Result<H264Decoder, String> {
        static QUIET: std::sync::Once = std::sync::Once::new();
        // Its errors reach the log once, rate-limited, through the caller.
        // SAFETY: sets a process-wide level; no other code uses libavutil's log.
        QUIET.call_once(|| unsafe { ffi::av_log_set_level(ffi::AV_LOG_QUIET) });
        // SAFETY: plain constructor calls; every pointer is checked before use
        // and owned by the returned value, which frees it.
        unsafe {
            let codec = ffi::avcodec_find_decoder(ffi::AV_CODEC_ID_H264);
            if codec.is_null() {
                return Err("this libavcodec has no H.264 decoder".into());
            }
            let decoder = H264Decoder { context: ffi::avcodec_alloc_context3(codec), packet: ffi::av_packet_alloc(), frame: ffi::av_frame_alloc() };
            if decoder.context.is_null() || decoder.packet.is_null() || decoder.frame.is_null() {
                return Err("libavcodec is out of memory".into());
            }
            // The ladder has a thread per rung already; frame threads would only add delay.
            let mut options: *mut c_void = ptr::null_mut();
            ffi::av_dict_set(&mut options, c"threads".as_ptr(), c"1".as_ptr(), 0);
            let opened = ffi::avcodec_open2(decoder.context, codec, &mut options);
            ffi::av_dict_free(&mut options);
            if opened < 0 {
                return Err(format!("cannot open libavcodec's H.264 decoder: {}", error_text(opened)));
            }
            Ok(decoder)
        }
    }

    /// Decodes one access unit (Annex-B, parameter sets in band) and appends
    /// the pictures that are ready, in display order.
    pub fn decode(&mut self, annexb: &[u8], pool: &mut PicturePool, pictures: &mut Vec<Picture>) -> Result<(), String> {
        let size = c_int::try_from(annexb.len()).map_err(|_| "an access unit over 2 GB".to_string())?;
        // SAFETY: av_new_packet gives `size` writable bytes (plus zeroed padding)
        // at packet.data; the packet is unreferenced before it is reused.
        let sent = unsafe {
            let allocated = ffi::av_new_packet(self.packet, size);
            if allocated < 0 {
                return Err(error_text(allocated));
            }
            ptr::copy_nonoverlapping(annexb.as_ptr(), (*self.packet).data, annexb.len());
            let mut sent = ffi::avcodec_send_packet(self.context, self.packet);
            if sent == ffi::AVERROR_EAGAIN {
                // Pictures are drained after every unit, so this is only a guard.
                sent = match self.receive(pool, pictures) {
                    Ok(()) => ffi::avcodec_send_packet(self.context, self.packet),
                    Err(_) => sent,
                };
            }
            ffi::av_packet_unref(self.packet);
            sent
        };
        if sent < 0 {
            return Err(error_text(sent));
        }
        self.receive(pool, pictures)
    }

    /// Ends the stream: the pictures still held for reordering come out.
    pub fn flush(&mut self, pool: &mut PicturePool, pictures: &mut Vec<Picture>) -> Result<(), String> {
        // SAFETY: a null packet is libavcodec's end-of-stream signal.
        let sent = unsafe { ffi::avcodec_send_packet(self.context, ptr::null()) };
        if sent < 0 && sent != ffi::AVERROR_EOF {
            return Err(error_text(sent));
        }
        self.receive(pool, pictures)?;
        // SAFETY: resets the decoder for whatever comes next.
        unsafe { ffi::avcodec_flush_buffers(self.context) };
        Ok(())
    }

    /// Forgets every picture in flight (after an error, before the next keyframe).
    pub fn reset(&mut self) {
        // SAFETY: the context is open.
        unsafe { ffi::avcodec_flush_buffers(self.context) };
    }

    fn receive(&mut self, pool: &mut PicturePool, pictures: &mut Vec<Picture>) -> Result<(), String> {
        loop {
            // SAFETY: the frame is ours; it is unreferenced after its planes are copied.
            let received = unsafe { ffi::avcodec_receive_frame(self.context, self.frame) };
            if received == ffi::AVERROR_EAGAIN || received == ffi::AVERROR_EOF {
                return Ok(());
            }
            if received < 0 {
                return Err(error_text(received));
            }
            // SAFETY: a received frame's planes hold `linesize * rows` bytes each.
            let picture = unsafe { copy_frame(&*self.frame, pool.take()) };
            // SAFETY: the frame was received above and its planes are copied.
            unsafe { ffi::av_frame_unref(self.frame) };
            pictures.push(picture?);
        }
    }
}

/// Copies a decoded 8-bit 4:2:0 frame out of libavcodec's buffers into `picture`.
///
/// # Safety
/// `frame` must be a frame libavcodec just returned.
unsafe fn copy_frame(frame: &ffi::AVFrame, mut picture: Picture) -> Result<Picture, String> {
    if frame.format != ffi::AV_PIX_FMT_YUV420P && frame.format != ffi::AV_PIX_FMT_YUVJ420P {
        return Err(format!("the source's pixel format (libavutil {}) is not 8-bit 4:2:0, which the ladder needs", frame.format));
    }
    let (width, height) = (u32::try_from(frame.width).unwrap_or(0), u32::try_from(frame.height).unwrap_or(0));
    let rows = [height as usize, height.div_ceil(2) as usize, height.div_ceil(2) as usize];
    let mut planes: [&[u8]; 3] = [&[]; 3];
    let mut strides = [0usize; 3];
    for plane in 0..3 {
        let stride = usize::try_from(frame.linesize[plane]).map_err(|_| "a bottom-up picture".to_string())?;
        if frame.data[plane].is_null() {
            return Err("a decoded picture without its planes".into());
        }
        // SAFETY: the caller's promise: each plane holds `stride * rows` bytes.
        planes[plane] = unsafe { std::slice::from_raw_parts(frame.data[plane], stride * rows[plane]) };
        strides[plane] = stride;
    }
    if !picture.fill_from_strided(width, height, planes, strides) {
        return Err(format!("a decoded picture of {width}x{height} with short planes"));
    }
    Ok(picture)
}

impl Drop for H264Decoder {
    fn drop(&mut self) {
        // SAFETY: each free function takes null and sets the pointer to null.
        unsafe {
            ffi::av_frame_free(&mut self.frame);
            ffi::av_packet_free(&mut self.packet);
            ffi::avcodec_free_context(&mut self.context);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_fields_sit_where_the_installed_headers_put_them() {
        // offsetof as compiled against libavcodec 59 / libavutil 57 (FFmpeg 5.1).
        assert_eq!(std::mem::offset_of!(ffi::AVPacket, data), 24);
        assert_eq!(std::mem::offset_of!(ffi::AVPacket, size), 32);
        assert_eq!(std::mem::offset_of!(ffi::AVFrame, linesize), 64);
        assert_eq!(std::mem::offset_of!(ffi::AVFrame, width), 104);
        assert_eq!(std::mem::offset_of!(ffi::AVFrame, format), 116);
    }

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
