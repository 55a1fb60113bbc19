//! A decoded I420 picture and its scaling to a rung's size, plane by plane
//! with SIMD.

use onair_scale::PlaneScaler;

/// I420 with tight planes (stride = width).
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl Picture {
    /// Copies planes that come with strides (a decoder's buffers).
    pub fn from_strided(width: u32, height: u32, planes: [&[u8]; 3], strides: [usize; 3]) -> Option<Picture> {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        let copy = |plane: &[u8], stride: usize, width: usize, rows: usize| -> Option<Vec<u8>> {
            let mut out = Vec::with_capacity(width * rows);
            for row in 0..rows {
                out.extend_from_slice(plane.get(row * stride..row * stride + width)?);
            }
            Some(out)
        };
        Some(Picture { width, height, y: copy(planes[0], strides[0], w, h)?, u: copy(planes[1], strides[1], cw, ch)?, v: copy(planes[2], strides[2], cw, ch)? })
    }
}

pub struct Scaler {
    planes: PlaneScaler,
    width: u32,
    height: u32,
}

impl Scaler {
    pub fn new(width: u32, height: u32) -> Scaler {
        Scaler { planes: PlaneScaler::default(), width, height }
    }

    /// Scales `source` into `i420` (resized to width × height × 3/2).
    pub fn scale(&mut self, source: &Picture, i420: &mut Vec<u8>) -> Result<(), String> {
        let (w, h) = (self.width as usize, self.height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        i420.resize(w * h + 2 * cw * ch, 0);
        let (y, chroma) = i420.split_at_mut(w * h);
        let (u, v) = chroma.split_at_mut(cw * ch);
        let (sw, sh) = (source.width, source.height);
        let (scw, sch) = (sw.div_ceil(2), sh.div_ceil(2));
        self.planes.scale(&source.y, sw, sh, y, self.width, self.height)?;
        self.planes.scale(&source.u, scw, sch, u, cw as u32, ch as u32)?;
        self.planes.scale(&source.v, scw, sch, v, cw as u32, ch as u32)
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
    fn strided_planes_are_copied_without_their_padding() {
        let y: Vec<u8> = (0..8 * 2).map(|i| if i % 8 < 4 { 1 } else { 9 }).collect();
        let chroma = vec![5u8; 8];
        let picture = Picture::from_strided(4, 2, [&y, &chroma, &chroma], [8, 8, 8]).unwrap();
        assert_eq!(picture.y, vec![1; 8]);
        assert_eq!(picture.u, vec![5; 2]);
        assert!(Picture::from_strided(4, 4, [&y, &chroma, &chroma], [8, 8, 8]).is_none(), "too short a plane is refused");
    }
}
