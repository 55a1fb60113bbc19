//! A decoded I420 picture, the pool that recycles them, and scaling to a
//! rung's size (libswscale's area averaging: in the 1080p ladder it costs
//! under half of what fast_image_resize's SIMD box convolution did).
//! libswscale is called through bindings generated from its header, straight
//! on the picture's own planes, which every rung shares without a copy.

use std::collections::VecDeque;
use std::ffi::c_int;
use std::ptr;
use std::sync::Arc;

use super::ffi::{self, SWS_AREA, SwsContext};
use crate::native::LoadError;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScaleError {
    #[error(transparent)]
    Unavailable(#[from] LoadError),
    #[error("a {width}x{height} picture with short planes")]
    ShortPlanes { width: u32, height: u32 },
    #[error("a picture {0} pixels across is beyond libswscale")]
    TooLarge(usize),
    #[error("libswscale cannot scale {from_width}x{from_height} to {to_width}x{to_height}")]
    NoContext { from_width: u32, from_height: u32, to_width: u32, to_height: u32 },
    #[error("libswscale wrote {rows} of {expected} rows")]
    ShortOutput { rows: i32, expected: usize },
}

/// I420 with tight planes (stride = width).
#[derive(Default)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl Picture {
    /// Copies planes that come with strides (a decoder's buffers) into this
    /// picture's own, keeping their memory; false when a plane is too short.
    pub fn fill_from_strided(&mut self, width: u32, height: u32, planes: [&[u8]; 3], strides: [usize; 3]) -> bool {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let copy = |out: &mut Vec<u8>, plane: &[u8], stride: usize, width: usize, rows: usize| -> bool {
            out.clear();
            for row in 0..rows {
                match plane.get(row * stride..row * stride + width) {
                    Some(line) => out.extend_from_slice(line),
                    None => return false,
                }
            }
            true
        };
        (self.width, self.height) = (width, height);
        copy(&mut self.y, planes[0], strides[0], w, h) && copy(&mut self.u, planes[1], strides[1], cw, ch) && copy(&mut self.v, planes[2], strides[2], cw, ch)
    }
}

/// Pictures handed to the rungs, taken back once every rung is done with
/// them: a fresh 3 MB picture per 1080p frame would be faulted into memory
/// page by page every time (a tenth of the decoding thread's CPU).
#[derive(Default)]
pub struct PicturePool {
    lent: VecDeque<Arc<Picture>>,
}

impl PicturePool {
    /// More than the rungs' queues hold at once.
    const KEEP: usize = 16;

    /// A picture no rung holds any more, or a new one.
    pub fn take(&mut self) -> Picture {
        // Only this pool can add holders, so a count of one stays one.
        let free = self.lent.iter().position(|picture| Arc::strong_count(picture) == 1);
        free.and_then(|index| self.lent.remove(index)).and_then(|picture| Arc::try_unwrap(picture).ok()).unwrap_or_default()
    }

    pub fn lend(&mut self, picture: &Arc<Picture>) {
        if self.lent.len() >= Self::KEEP {
            self.lent.pop_front();
        }
        self.lent.push_back(picture.clone());
    }
}

pub struct Scaler {
    width: u32,
    height: u32,
    /// libswscale's context for the source size it was made for.
    context: Option<((u32, u32), *mut SwsContext)>,
}

impl Scaler {
    pub fn new(width: u32, height: u32) -> Scaler {
        Scaler { width, height, context: None }
    }

    /// Scales `source` into `i420` (resized to width × height × 3/2).
    pub fn scale(&mut self, source: &Picture, i420: &mut Vec<u8>) -> Result<(), ScaleError> {
        let (w, h) = (self.width as usize, self.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        i420.resize(w * h + 2 * cw * ch, 0);
        let (sw, sh) = (source.width as usize, source.height as usize);
        let (scw, sch) = (sw.div_ceil(2), sh.div_ceil(2));
        if source.y.len() < sw * sh || source.u.len() < scw * sch || source.v.len() < scw * sch {
            return Err(ScaleError::ShortPlanes { width: source.width, height: source.height });
        }
        let ffmpeg = ffi::ffmpeg()?;
        let context = self.context_for(source.width, source.height)?;
        let (y, chroma) = i420.split_at_mut(w * h);
        let (u, v) = chroma.split_at_mut(cw * ch);
        let int = |n: usize| c_int::try_from(n).map_err(|_| ScaleError::TooLarge(n));
        let source_planes = [source.y.as_ptr(), source.u.as_ptr(), source.v.as_ptr(), ptr::null()];
        let source_strides = [int(sw)?, int(scw)?, int(scw)?, 0];
        let target_planes = [y.as_mut_ptr(), u.as_mut_ptr(), v.as_mut_ptr(), ptr::null_mut()];
        let target_strides = [int(w)?, int(cw)?, int(cw)?, 0];
        // SAFETY: the context was made for these sizes; every plane was checked
        // (or sized) above to hold stride × rows bytes.
        let rows =
            unsafe { ffmpeg.sws_scale(context, source_planes.as_ptr(), source_strides.as_ptr(), 0, int(sh)?, target_planes.as_ptr(), target_strides.as_ptr()) };
        if rows != int(h)? {
            return Err(ScaleError::ShortOutput { rows, expected: h });
        }
        Ok(())
    }

    fn context_for(&mut self, width: u32, height: u32) -> Result<*mut SwsContext, ScaleError> {
        if let Some((size, context)) = self.context
            && size == (width, height)
        {
            return Ok(context);
        }
        self.free();
        let int = |n: u32| c_int::try_from(n).map_err(|_| ScaleError::TooLarge(n as usize));
        let (from_w, from_h, to_w, to_h) = (int(width)?, int(height)?, int(self.width)?, int(self.height)?);
        // SAFETY: plain constructor; null filters and parameters are libswscale's defaults.
        // Area averaging: every source pixel counts by the share of it an
        // output pixel covers, what a downscale needs to keep detail without aliasing.
        let yuv420p = ffi::AV_PIX_FMT_YUV420P;
        let context = unsafe {
            ffi::ffmpeg()?.sws_getContext(from_w, from_h, yuv420p, to_w, to_h, yuv420p, SWS_AREA as c_int, ptr::null_mut(), ptr::null_mut(), ptr::null())
        };
        if context.is_null() {
            return Err(ScaleError::NoContext { from_width: width, from_height: height, to_width: self.width, to_height: self.height });
        }
        self.context = Some(((width, height), context));
        Ok(context)
    }

    fn free(&mut self) {
        // A context exists only once libswscale was loaded.
        if let (Some((_, context)), Ok(ffmpeg)) = (self.context.take(), ffi::ffmpeg()) {
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

    #[test]
    fn scaling_keeps_a_flat_picture_flat_and_sizes_its_planes() {
        let source = Picture { width: 64, height: 36, y: vec![200; 64 * 36], u: vec![90; 32 * 18], v: vec![160; 32 * 18] };
        let mut scaler = Scaler::new(32, 18);
        let mut out = Vec::new();
        scaler.scale(&source, &mut out).unwrap();
        assert_eq!(out.len(), 32 * 18 + 2 * 16 * 9);
        assert!(out[..32 * 18].iter().all(|&p| p == 200));
        assert!(out[32 * 18..32 * 18 + 16 * 9].iter().all(|&p| p == 90));
        assert!(out[32 * 18 + 16 * 9..].iter().all(|&p| p == 160));
    }

    #[test]
    fn scaling_keeps_where_things_are_and_follows_a_new_source_size() {
        let mut scaler = Scaler::new(32, 18);
        let mut out = Vec::new();
        for (width, height) in [(64u32, 36u32), (128, 72)] {
            let (w, h) = (width as usize, height as usize);
            // Dark left half, bright right half.
            let y = (0..w * h).map(|i| if i % w < w / 2 { 20 } else { 230 }).collect();
            let source = Picture { width, height, y, u: vec![128; w * h / 4], v: vec![128; w * h / 4] };
            scaler.scale(&source, &mut out).unwrap();
            let row = &out[9 * 32..10 * 32];
            assert!(row[..14].iter().all(|&p| p < 40) && row[18..].iter().all(|&p| p > 210), "{width}x{height}: {row:?}");
        }
        let short = Picture { width: 64, height: 36, y: vec![0; 10], u: vec![], v: vec![] };
        assert!(scaler.scale(&short, &mut out).is_err(), "short planes are refused, never read past");
    }

    #[test]
    fn a_picture_comes_back_only_when_no_rung_holds_it() {
        let mut pool = PicturePool::default();
        let mut first = pool.take();
        assert!(first.fill_from_strided(2, 2, [&[1; 4], &[2], &[3]], [2, 1, 1]));
        let first = Arc::new(first);
        pool.lend(&first);
        let held_by_a_rung = first.clone();
        drop(first);
        assert!(pool.take().y.is_empty(), "a rung still holds it: a new picture");
        drop(held_by_a_rung);
        let again = pool.take();
        assert_eq!(again.y, [1; 4], "the same memory comes back");
        assert!(pool.take().y.is_empty());
    }

    #[test]
    fn strided_planes_are_copied_without_their_padding() {
        let y: Vec<u8> = (0..8 * 2).map(|i| if i % 8 < 4 { 1 } else { 9 }).collect();
        let chroma = vec![5u8; 8];
        let mut picture = Picture::default();
        assert!(picture.fill_from_strided(4, 2, [&y, &chroma, &chroma], [8, 8, 8]));
        assert_eq!(picture.y, vec![1; 8]);
        assert_eq!(picture.u, vec![5; 2]);
        assert!(!picture.fill_from_strided(4, 4, [&y, &chroma, &chroma], [8, 8, 8]), "too short a plane is refused");
    }
}
