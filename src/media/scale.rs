//! Scaling and colour conversion through libswscale (SIMD on every CPU it
//! knows): the ladder's rungs scale decoded I420 down, the compositor scales
//! each layer (a screen's BGRx, an image's RGBA, a camera's I420) to its
//! place on the canvas, converting to I420, or to YUVA when the layer has
//! an alpha channel. Planes are read where they lie, with their strides,
//! so a crop is only an offset.

use std::ffi::c_int;
use std::ptr;

use super::bgrx;
use crate::ffmpeg::{self, AVPixelFormat, SWS_AREA, SWS_BICUBIC, SwsContext};
use crate::native::LoadError;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScaleError {
    #[error(transparent)]
    Unavailable(#[from] LoadError),
    #[error("a {width}x{height} {format:?} picture with short planes")]
    ShortPlanes { format: PixelFormat, width: usize, height: usize },
    #[error("a picture {0} pixels across is beyond libswscale")]
    TooLarge(usize),
    #[error("libswscale cannot scale {from_width}x{from_height} to {to_width}x{to_height}")]
    NoContext { from_width: usize, from_height: usize, to_width: usize, to_height: usize },
    #[error("libswscale wrote {rows} of {expected} rows")]
    ShortOutput { rows: i32, expected: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Planar 4:2:0, BT.601 limited range: what the encoder takes.
    I420,
    /// I420 and a full-resolution alpha plane.
    Yuva420,
    /// Packed B, G, R and an unused byte: an X11 screen.
    Bgr0,
    /// Packed R, G, B, A (straight alpha): a decoded PNG, rendered text.
    Rgba,
}

impl PixelFormat {
    fn av(self) -> AVPixelFormat {
        match self {
            PixelFormat::I420 => ffmpeg::AV_PIX_FMT_YUV420P,
            PixelFormat::Yuva420 => ffmpeg::AV_PIX_FMT_YUVA420P,
            PixelFormat::Bgr0 => ffmpeg::AV_PIX_FMT_BGR0,
            PixelFormat::Rgba => ffmpeg::AV_PIX_FMT_RGBA,
        }
    }

    /// (bytes per pixel, width divisor, height divisor) of each plane.
    fn planes(self) -> &'static [(usize, usize, usize)] {
        match self {
            PixelFormat::I420 => &[(1, 1, 1), (1, 2, 2), (1, 2, 2)],
            PixelFormat::Yuva420 => &[(1, 1, 1), (1, 2, 2), (1, 2, 2), (1, 1, 1)],
            PixelFormat::Bgr0 | PixelFormat::Rgba => &[(4, 1, 1)],
        }
    }

    pub fn has_alpha(self) -> bool {
        matches!(self, PixelFormat::Yuva420 | PixelFormat::Rgba)
    }

    /// Bytes of a tight picture of this size.
    pub fn size(self, width: usize, height: usize) -> usize {
        self.planes().iter().map(|&(bytes, dw, dh)| bytes * width.div_ceil(dw) * height.div_ceil(dh)).sum()
    }
}

/// A picture's planes as they lie in memory.
#[derive(Clone, Copy, Debug)]
pub struct Planes<'a> {
    pub format: PixelFormat,
    pub width: usize,
    pub height: usize,
    pub data: [&'a [u8]; 4],
    pub strides: [usize; 4],
}

impl<'a> Planes<'a> {
    /// A tight picture: planes one after the other, stride = width (÷2 for chroma).
    pub fn tight(format: PixelFormat, data: &'a [u8], width: usize, height: usize) -> Planes<'a> {
        let mut planes = Planes { format, width, height, data: [&[]; 4], strides: [0; 4] };
        let mut rest = data;
        for (index, &(bytes, dw, dh)) in format.planes().iter().enumerate() {
            let stride = bytes * width.div_ceil(dw);
            let (plane, tail) = rest.split_at((stride * height.div_ceil(dh)).min(rest.len()));
            (planes.data[index], planes.strides[index], rest) = (plane, stride, tail);
        }
        planes
    }

    /// The rectangle at (left, top) of this size, rounded to even so chroma lines up.
    pub fn crop(mut self, left: usize, top: usize, width: usize, height: usize) -> Planes<'a> {
        let (left, top) = (left.min(self.width) & !1, top.min(self.height) & !1);
        let (width, height) = (width.min(self.width - left).max(2) & !1, height.min(self.height - top).max(2) & !1);
        for (index, &(bytes, dw, dh)) in self.format.planes().iter().enumerate() {
            let offset = (top / dh) * self.strides[index] + (left / dw) * bytes;
            self.data[index] = self.data[index].get(offset..).unwrap_or(&[]);
        }
        (self.width, self.height) = (width, height);
        self
    }

    fn check(&self) -> Result<(), ScaleError> {
        let short = ScaleError::ShortPlanes { format: self.format, width: self.width, height: self.height };
        for (index, &(bytes, dw, dh)) in self.format.planes().iter().enumerate() {
            let (row, rows) = (bytes * self.width.div_ceil(dw), self.height.div_ceil(dh));
            if rows > 0 && (self.strides[index] < row || self.data[index].len() < (rows - 1) * self.strides[index] + row) {
                return Err(short);
            }
        }
        Ok(())
    }
}

/// Converts an even-sized BGRx picture into the tight I420 `out` of the
/// same size without libswscale (`bgrx`); false, and nothing written, for
/// any other picture.
pub fn convert_bgrx(source: &Planes, out: &mut [u8]) -> Result<bool, ScaleError> {
    let (w, h) = (source.width, source.height);
    if source.format != PixelFormat::Bgr0 || w % 2 != 0 || h % 2 != 0 || out.len() < PixelFormat::I420.size(w, h) {
        return Ok(false);
    }
    source.check()?;
    bgrx::bgrx_to_i420(source.data[0], source.strides[0], w, h, out);
    Ok(true)
}

/// Scales any picture to one size and format; keeps libswscale's context
/// while the source's size and format stay.
pub struct Scaler {
    width: usize,
    height: usize,
    output: PixelFormat,
    context: Option<((usize, usize, PixelFormat), *mut SwsContext)>,
}

// SAFETY: the context is used only through `&mut self`, never shared.
unsafe impl Send for Scaler {}

impl Scaler {
    pub fn new(width: usize, height: usize, output: PixelFormat) -> Scaler {
        Scaler { width, height, output, context: None }
    }

    pub fn output(&self) -> (usize, usize, PixelFormat) {
        (self.width, self.height, self.output)
    }

    /// Scales `source` into `out`, resized to a tight picture of the output size and format.
    pub fn scale(&mut self, source: &Planes, out: &mut Vec<u8>) -> Result<(), ScaleError> {
        let (w, h) = (self.width, self.height);
        if self.output == PixelFormat::I420 && (source.width, source.height) == (w, h) && source.format == PixelFormat::Bgr0 {
            out.resize(self.output.size(w, h), 0);
            if convert_bgrx(source, out)? {
                return Ok(());
            }
        }
        self.scale_with_libswscale(source, out)
    }

    pub(crate) fn scale_with_libswscale(&mut self, source: &Planes, out: &mut Vec<u8>) -> Result<(), ScaleError> {
        source.check()?;
        let (w, h) = (self.width, self.height);
        out.resize(self.output.size(w, h), 0);
        let ffmpeg = ffmpeg::ffmpeg()?;
        let context = self.context_for(source)?;
        let int = |n: usize| c_int::try_from(n).map_err(|_| ScaleError::TooLarge(n));
        let mut source_planes = [ptr::null(); 4];
        let mut source_strides = [0 as c_int; 4];
        for index in 0..source.format.planes().len() {
            source_planes[index] = source.data[index].as_ptr();
            source_strides[index] = int(source.strides[index])?;
        }
        let mut target_planes = [ptr::null_mut(); 4];
        let mut target_strides = [0 as c_int; 4];
        let mut rest = out.as_mut_slice();
        for (index, &(bytes, dw, dh)) in self.output.planes().iter().enumerate() {
            let stride = bytes * w.div_ceil(dw);
            let (plane, tail) = rest.split_at_mut(stride * h.div_ceil(dh));
            (target_planes[index], target_strides[index], rest) = (plane.as_mut_ptr(), int(stride)?, tail);
        }
        // SAFETY: the context was made for this source's size and format and
        // the output's; every source plane was checked above to hold its rows
        // at its stride, and the output was sized for its own.
        let rows = unsafe {
            ffmpeg.sws_scale(context, source_planes.as_ptr(), source_strides.as_ptr(), 0, int(source.height)?, target_planes.as_ptr(), target_strides.as_ptr())
        };
        if rows != int(h)? {
            return Err(ScaleError::ShortOutput { rows, expected: h });
        }
        Ok(())
    }

    fn context_for(&mut self, source: &Planes) -> Result<*mut SwsContext, ScaleError> {
        let key = (source.width, source.height, source.format);
        if let Some((made_for, context)) = self.context
            && made_for == key
        {
            return Ok(context);
        }
        self.free();
        let int = |n: usize| c_int::try_from(n).map_err(|_| ScaleError::TooLarge(n));
        let (from_w, from_h, to_w, to_h) = (int(source.width)?, int(source.height)?, int(self.width)?, int(self.height)?);
        // Area averaging for a downscale: every source pixel counts by the share
        // of it an output pixel covers, keeping detail without aliasing. Bicubic
        // where the picture grows.
        let flags = if self.width <= source.width && self.height <= source.height { SWS_AREA } else { SWS_BICUBIC };
        // SAFETY: plain constructor; null filters and parameters are libswscale's defaults.
        let context = unsafe {
            ffmpeg::ffmpeg()?.sws_getContext(
                from_w,
                from_h,
                source.format.av(),
                to_w,
                to_h,
                self.output.av(),
                flags as c_int,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null(),
            )
        };
        if context.is_null() {
            return Err(ScaleError::NoContext { from_width: source.width, from_height: source.height, to_width: self.width, to_height: self.height });
        }
        self.context = Some((key, context));
        Ok(context)
    }

    fn free(&mut self) {
        // A context exists only once libswscale was loaded.
        if let (Some((_, context)), Ok(ffmpeg)) = (self.context.take(), ffmpeg::ffmpeg()) {
            // SAFETY: made by sws_getContext and used by nothing else.
            unsafe { ffmpeg.sws_freeContext(context) };
        }
    }
}

impl Drop for Scaler {
    fn drop(&mut self) {
        self.free();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i420(width: usize, height: usize, luma: impl Fn(usize, usize) -> u8, u: u8, v: u8) -> Vec<u8> {
        let mut data: Vec<u8> = (0..width * height).map(|i| luma(i % width, i / width)).collect();
        data.resize(width * height + width * height / 4, u);
        data.resize(width * height + width * height / 2, v);
        data
    }

    #[test]
    fn scaling_keeps_a_flat_picture_flat_and_sizes_its_planes() {
        let source = i420(64, 36, |_, _| 200, 90, 160);
        let mut scaler = Scaler::new(32, 18, PixelFormat::I420);
        let mut out = Vec::new();
        scaler.scale(&Planes::tight(PixelFormat::I420, &source, 64, 36), &mut out).unwrap();
        assert_eq!(out.len(), 32 * 18 + 2 * 16 * 9);
        assert!(out[..32 * 18].iter().all(|&p| p == 200));
        assert!(out[32 * 18..32 * 18 + 16 * 9].iter().all(|&p| p == 90));
        assert!(out[32 * 18 + 16 * 9..].iter().all(|&p| p == 160));
    }

    #[test]
    fn scaling_keeps_where_things_are_and_follows_a_new_source_size() {
        let mut scaler = Scaler::new(32, 18, PixelFormat::I420);
        let mut out = Vec::new();
        for (w, h) in [(64, 36), (128, 72), (16, 10)] {
            // Dark left half, bright right half.
            let source = i420(w, h, |x, _| if x < w / 2 { 20 } else { 230 }, 128, 128);
            scaler.scale(&Planes::tight(PixelFormat::I420, &source, w, h), &mut out).unwrap();
            let row = &out[9 * 32..10 * 32];
            assert!(row[..13].iter().all(|&p| p < 40) && row[19..].iter().all(|&p| p > 210), "{w}x{h}: {row:?}");
        }
        let short = [0u8; 10];
        assert!(scaler.scale(&Planes::tight(PixelFormat::I420, &short, 64, 36), &mut out).is_err(), "short planes are refused, never read past");
    }

    #[test]
    fn a_crop_reads_only_its_rectangle() {
        // Four quadrants of different luma; the crop takes the bottom right one.
        let source = i420(64, 64, |x, y| [[30, 90], [150, 210]][y / 32][x / 32], 128, 128);
        let cropped = Planes::tight(PixelFormat::I420, &source, 64, 64).crop(32, 32, 32, 32);
        let mut scaler = Scaler::new(16, 16, PixelFormat::I420);
        let mut out = Vec::new();
        scaler.scale(&cropped, &mut out).unwrap();
        assert!(out[..256].iter().all(|&p| p == 210), "{:?}", &out[..256]);
    }

    #[test]
    fn rgba_converts_to_limited_range_yuva_with_its_alpha() {
        // Opaque white on the left, transparent red on the right.
        let (w, h) = (32, 16);
        let rgba: Vec<u8> = (0..w * h).flat_map(|i| if i % w < w / 2 { [255, 255, 255, 255] } else { [255, 0, 0, 0] }).collect();
        let mut scaler = Scaler::new(w, h, PixelFormat::Yuva420);
        let mut out = Vec::new();
        scaler.scale(&Planes::tight(PixelFormat::Rgba, &rgba, w, h), &mut out).unwrap();
        let planes = Planes::tight(PixelFormat::Yuva420, &out, w, h);
        let (luma, alpha) = (planes.data[0], planes.data[3]);
        assert!((233..=236).contains(&luma[4]), "white is luma 235: {}", luma[4]);
        assert_eq!((alpha[4], alpha[w - 4]), (255, 0));
        assert!(luma[w - 4] < 100, "red is dark in luma: {}", luma[w - 4]);
    }
}
