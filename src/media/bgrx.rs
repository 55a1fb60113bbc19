//! An X11 screen's BGRx to I420 at the same size: the compositor's
//! costliest step, since a screen changes every frame. libswscale has no
//! unscaled path for it and runs its generic scaler with a unit filter; this
//! is one pass of integer arithmetic that the compiler vectorises, built
//! again for AVX2 where the CPU has it. BT.601 limited range with
//! libswscale's own coefficients, so the two agree within a level.

/// libswscale's fixed point (`RGB2YUV_SHIFT`) and its BT.601 coefficients
/// scaled to limited range (219 levels of luma, 224 of chroma).
const SHIFT: u32 = 15;
const RY: i32 = 8414;
const GY: i32 = 16519;
const BY: i32 = 3208;
const RU: i32 = -4864;
const GU: i32 = -9527;
const BU: i32 = 14392;
const RV: i32 = 14392;
const GV: i32 = -12060;
const BV: i32 = -2331;

/// Converts a `width`×`height` BGRx picture (rows `stride` bytes apart) into
/// a tight I420 `out`. Width and height are even; `source` holds every row.
pub fn bgrx_to_i420(source: &[u8], stride: usize, width: usize, height: usize, out: &mut [u8]) {
    debug_assert!(width.is_multiple_of(2) && height.is_multiple_of(2));
    debug_assert!(source.len() >= stride * (height - 1) + 4 * width && out.len() >= width * height * 3 / 2);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { convert_avx2(source, stride, width, height, out) };
    }
    convert(source, stride, width, height, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn convert_avx2(source: &[u8], stride: usize, width: usize, height: usize, out: &mut [u8]) {
    convert(source, stride, width, height, out);
}

#[inline(always)]
fn convert(source: &[u8], stride: usize, width: usize, height: usize, out: &mut [u8]) {
    let (luma, chroma) = out.split_at_mut(width * height);
    let (u_plane, v_plane) = chroma.split_at_mut(width * height / 4);
    let half = width / 2;
    for row in 0..height / 2 {
        let top = &source[2 * row * stride..][..4 * width];
        let bottom = &source[(2 * row + 1) * stride..][..4 * width];
        luma_row(top, &mut luma[2 * row * width..][..width]);
        luma_row(bottom, &mut luma[(2 * row + 1) * width..][..width]);
        chroma_row(top, bottom, &mut u_plane[row * half..][..half], &mut v_plane[row * half..][..half]);
    }
}

#[inline(always)]
fn pixel(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Σ coefficient × channel. Wrapping arithmetic, though it never wraps (a
/// channel sum is at most 1020, a coefficient under 2^15): the release
/// build's overflow checks would otherwise keep the loops from vectorising.
#[inline(always)]
fn dot(coefficients: [i32; 3], channels: [i32; 3]) -> i32 {
    coefficients[0].wrapping_mul(channels[0]).wrapping_add(coefficients[1].wrapping_mul(channels[1])).wrapping_add(coefficients[2].wrapping_mul(channels[2]))
}

#[inline(always)]
fn luma_row(source: &[u8], luma: &mut [u8]) {
    for (y, bytes) in luma.iter_mut().zip(source.chunks_exact(4)) {
        let p = pixel(bytes);
        let (b, g, r) = ((p & 0xff) as i32, ((p >> 8) & 0xff) as i32, ((p >> 16) & 0xff) as i32);
        *y = (dot([RY, GY, BY], [r, g, b]).wrapping_add((16 << SHIFT) + (1 << (SHIFT - 1))) >> SHIFT) as u8;
    }
}

/// Each chroma sample from the mean of its four pixels, as libswscale's
/// centred 4:2:0 makes it.
#[inline(always)]
fn chroma_row(top: &[u8], bottom: &[u8], u: &mut [u8], v: &mut [u8]) {
    for (((u, v), top), bottom) in u.iter_mut().zip(v.iter_mut()).zip(top.chunks_exact(8)).zip(bottom.chunks_exact(8)) {
        let four = [pixel(&top[..4]), pixel(&top[4..]), pixel(&bottom[..4]), pixel(&bottom[4..])];
        // Red and blue side by side in 16-bit halves: four of each sum without carrying over.
        let red_blue = four.iter().fold(0u32, |sum, p| sum.wrapping_add(p & 0x00ff_00ff));
        let green = four.iter().fold(0u32, |sum, p| sum.wrapping_add((p >> 8) & 0xff));
        let (b, g, r) = ((red_blue & 0xffff) as i32, green as i32, (red_blue >> 16) as i32);
        // Sums of four: two more bits of shift.
        let round = (128 << (SHIFT + 2)) + (1 << (SHIFT + 1));
        *u = (dot([RU, GU, BU], [r, g, b]).wrapping_add(round) >> (SHIFT + 2)) as u8;
        *v = (dot([RV, GV, BV], [r, g, b]).wrapping_add(round) >> (SHIFT + 2)) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::scale::{PixelFormat, Planes, Scaler};

    /// A picture with every kind of content: gradients, hard edges, noise.
    fn screen(width: usize, height: usize, stride: usize) -> Vec<u8> {
        let mut seed = 0x2545_f491_u32;
        let mut data = vec![0u8; stride * height];
        for y in 0..height {
            for x in 0..width {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let [n0, n1, n2, _] = seed.to_le_bytes();
                let pixel = match (x * 4 / width, y * 2 / height) {
                    (0, _) => [(x * 255 / width) as u8, (y * 255 / height) as u8, 128, 0],
                    (1, 0) => [255, 255, 255, 0],
                    (1, _) => [0, 0, 0, 0],
                    (2, _) => [n0, n1, n2, 0xaa],
                    _ => [if (x / 3 + y / 3) % 2 == 0 { 255 } else { 0 }, 40, 200, 0],
                };
                data[y * stride + 4 * x..][..4].copy_from_slice(&pixel);
            }
        }
        data
    }

    #[test]
    fn agrees_with_libswscale_within_a_level() {
        let (width, height, stride) = (256, 144, 256 * 4 + 64);
        let source = screen(width, height, stride);
        let mut ours = vec![0u8; width * height * 3 / 2];
        bgrx_to_i420(&source, stride, width, height, &mut ours);
        // libswscale itself, through its generic path (a stride it must honour).
        let mut theirs = Vec::new();
        let planes = Planes { format: PixelFormat::Bgr0, width, height, data: [&source, &[], &[], &[]], strides: [stride, 0, 0, 0] };
        Scaler::new(width, height, PixelFormat::I420).scale_with_libswscale(&planes, &mut theirs).unwrap();
        assert_eq!(theirs.len(), ours.len());
        for (plane, range) in [("Y", 0..width * height), ("U", width * height..width * height * 5 / 4), ("V", width * height * 5 / 4..ours.len())] {
            let worst = ours[range.clone()].iter().zip(&theirs[range.clone()]).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
            assert!(worst <= 1, "{plane}: differs from libswscale by up to {worst} levels");
        }
    }
}
