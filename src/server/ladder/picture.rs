//! A decoded I420 picture and the pool that recycles them. Each rung scales
//! it to its size (`media::scale`, libswscale's area averaging: in the 1080p
//! ladder it costs under half of what fast_image_resize's SIMD box
//! convolution did) straight from its own planes, which every rung shares
//! without a copy.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::media::scale::{PixelFormat, Planes};

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
    pub fn planes(&self) -> Planes<'_> {
        let (w, h) = (self.width as usize, self.height as usize);
        let cw = w.div_ceil(2);
        Planes { format: PixelFormat::I420, width: w, height: h, data: [&self.y, &self.u, &self.v, &[]], strides: [w, cw, cw, 0] }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

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
