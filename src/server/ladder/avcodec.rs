//! The ladder's H.264 decoder: FFmpeg's libavcodec through ffmpeg-next,
//! whose bindings are generated from the installed headers (FFmpeg 5.1 to
//! 8.x), so no struct layout or error code is written here by hand. It
//! decodes a 1080p30 source in under half the CPU OpenH264's decoder needs.
//! One thread, in display order; the caller retimes the pictures.

use ffmpeg_next as ffmpeg;
use ffmpeg_next::format::Pixel;

use super::picture::{Picture, PicturePool};

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("this libavcodec has no H.264 decoder")]
    NoDecoder,
    #[error("cannot open libavcodec's H.264 decoder: {0}")]
    Open(ffmpeg::Error),
    #[error("libavcodec refused the access unit: {0}")]
    Send(ffmpeg::Error),
    #[error("libavcodec failed to decode: {0}")]
    Receive(ffmpeg::Error),
    #[error("the source's pixel format ({0:?}) is not 8-bit 4:2:0, which the ladder needs")]
    PixelFormat(Pixel),
    #[error("a decoded picture of {width}x{height} with short planes")]
    ShortPlanes { width: u32, height: u32 },
}

pub struct H264Decoder {
    decoder: ffmpeg::decoder::Video,
    frame: ffmpeg::frame::Video,
}

/// libavcodec's "not now": drain pictures, or send more.
fn is_again(error: &ffmpeg::Error) -> bool {
    matches!(error, ffmpeg::Error::Other { errno } if *errno == ffmpeg::error::EAGAIN)
}

impl H264Decoder {
    pub fn new() -> Result<H264Decoder, DecodeError> {
        static QUIET: std::sync::Once = std::sync::Once::new();
        // Its errors reach the log once, rate-limited, through the caller.
        QUIET.call_once(|| ffmpeg::log::set_level(ffmpeg::log::Level::Quiet));
        let codec = ffmpeg::decoder::find(ffmpeg::codec::Id::H264).ok_or(DecodeError::NoDecoder)?;
        let mut context = ffmpeg::codec::Context::new_with_codec(codec);
        // The ladder has a thread per rung already; frame threads would only add delay.
        context.set_threading(ffmpeg::threading::Config::count(1));
        let decoder = context.decoder().video().map_err(DecodeError::Open)?;
        Ok(H264Decoder { decoder, frame: ffmpeg::frame::Video::empty() })
    }

    /// Decodes one access unit (Annex-B, parameter sets in band) and appends
    /// the pictures that are ready, in display order.
    pub fn decode(&mut self, annexb: &[u8], pool: &mut PicturePool, pictures: &mut Vec<Picture>) -> Result<(), DecodeError> {
        let packet = ffmpeg::Packet::copy(annexb);
        match self.decoder.send_packet(&packet) {
            // Pictures are drained after every unit, so this is only a guard.
            Err(error) if is_again(&error) => {
                self.receive(pool, pictures)?;
                self.decoder.send_packet(&packet).map_err(DecodeError::Send)?;
            }
            sent => sent.map_err(DecodeError::Send)?,
        }
        self.receive(pool, pictures)
    }

    /// Ends the stream: the pictures still held for reordering come out.
    pub fn flush(&mut self, pool: &mut PicturePool, pictures: &mut Vec<Picture>) -> Result<(), DecodeError> {
        match self.decoder.send_eof() {
            Ok(()) | Err(ffmpeg::Error::Eof) => {}
            Err(error) => return Err(DecodeError::Send(error)),
        }
        self.receive(pool, pictures)?;
        // Resets the decoder for whatever comes next.
        self.decoder.flush();
        Ok(())
    }

    /// Forgets every picture in flight (after an error, before the next keyframe).
    pub fn reset(&mut self) {
        self.decoder.flush();
    }

    fn receive(&mut self, pool: &mut PicturePool, pictures: &mut Vec<Picture>) -> Result<(), DecodeError> {
        loop {
            match self.decoder.receive_frame(&mut self.frame) {
                Ok(()) => pictures.push(copy_frame(&self.frame, pool.take())?),
                Err(ffmpeg::Error::Eof) => return Ok(()),
                Err(error) if is_again(&error) => return Ok(()),
                Err(error) => return Err(DecodeError::Receive(error)),
            }
        }
    }
}

/// Copies a decoded 8-bit 4:2:0 frame out of libavcodec's buffers into `picture`.
fn copy_frame(frame: &ffmpeg::frame::Video, mut picture: Picture) -> Result<Picture, DecodeError> {
    let format = frame.format();
    if !matches!(format, Pixel::YUV420P | Pixel::YUVJ420P) {
        return Err(DecodeError::PixelFormat(format));
    }
    let (width, height) = (frame.width(), frame.height());
    let planes = [frame.data(0), frame.data(1), frame.data(2)];
    let strides = [frame.stride(0), frame.stride(1), frame.stride(2)];
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
