//! Pixel format conversion and scaling to I420 (BT.601, limited range).

/// Packed YUYV (YUY2) to planar I420; chroma of each row pair is averaged.
pub fn yuyv_to_i420(src: &[u8], width: usize, height: usize) -> Option<Vec<u8>> {
    if !width.is_multiple_of(2) || !height.is_multiple_of(2) || src.len() < width * height * 2 {
        return None;
    }
    let luma = width * height;
    let mut out = vec![0u8; luma + luma / 2];
    let (y_plane, chroma) = out.split_at_mut(luma);
    let (u_plane, v_plane) = chroma.split_at_mut(luma / 4);
    for y in 0..height {
        let row = &src[y * width * 2..(y + 1) * width * 2];
        for x in 0..width {
            y_plane[y * width + x] = row[x * 2];
        }
    }
    for cy in 0..height / 2 {
        let top = &src[cy * 2 * width * 2..];
        let bottom = &src[(cy * 2 + 1) * width * 2..];
        for cx in 0..width / 2 {
            let i = cx * 4;
            u_plane[cy * width / 2 + cx] = (u16::from(top[i + 1]) + u16::from(bottom[i + 1])).div_ceil(2) as u8;
            v_plane[cy * width / 2 + cx] = (u16::from(top[i + 3]) + u16::from(bottom[i + 3])).div_ceil(2) as u8;
        }
    }
    Some(out)
}

/// NV12 (Y plane, then interleaved UV) to I420.
pub fn nv12_to_i420(src: &[u8], width: usize, height: usize) -> Option<Vec<u8>> {
    let luma = width * height;
    if !width.is_multiple_of(2) || !height.is_multiple_of(2) || src.len() < luma + luma / 2 {
        return None;
    }
    let mut out = Vec::with_capacity(luma + luma / 2);
    out.extend_from_slice(&src[..luma]);
    let uv = &src[luma..luma + luma / 2];
    out.extend(uv.iter().step_by(2));
    out.extend(uv.iter().skip(1).step_by(2));
    Some(out)
}

/// Packed RGB24 (full range, as JPEG decodes) to I420 with BT.601 limited-range YCbCr.
pub fn rgb_to_i420(src: &[u8], width: usize, height: usize) -> Option<Vec<u8>> {
    if !width.is_multiple_of(2) || !height.is_multiple_of(2) || src.len() < width * height * 3 {
        return None;
    }
    let luma = width * height;
    let mut out = vec![0u8; luma + luma / 2];
    let pixel = |x: usize, y: usize| {
        let i = (y * width + x) * 3;
        (i32::from(src[i]), i32::from(src[i + 1]), i32::from(src[i + 2]))
    };
    for y in 0..height {
        for x in 0..width {
            let (r, g, b) = pixel(x, y);
            out[y * width + x] = (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8;
        }
    }
    for cy in 0..height / 2 {
        for cx in 0..width / 2 {
            let (mut r, mut g, mut b) = (0, 0, 0);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let (pr, pg, pb) = pixel(cx * 2 + dx, cy * 2 + dy);
                r += pr;
                g += pg;
                b += pb;
            }
            let (r, g, b) = (r / 4, g / 4, b / 4);
            out[luma + cy * width / 2 + cx] = (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128).clamp(16, 240) as u8;
            out[luma + luma / 4 + cy * width / 2 + cx] = (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128).clamp(16, 240) as u8;
        }
    }
    Some(out)
}

/// Bilinear scaling of an I420 picture, plane by plane.
pub fn scale_i420(src: &[u8], width: usize, height: usize, to_width: usize, to_height: usize) -> Vec<u8> {
    if (width, height) == (to_width, to_height) {
        return src.to_vec();
    }
    let luma = width * height;
    let to_luma = to_width * to_height;
    let mut out = vec![0u8; to_luma + to_luma / 2];
    scale_plane(&src[..luma], width, height, &mut out[..to_luma], to_width, to_height);
    let (cw, ch, tcw, tch) = (width / 2, height / 2, to_width / 2, to_height / 2);
    scale_plane(&src[luma..luma + luma / 4], cw, ch, &mut out[to_luma..to_luma + to_luma / 4], tcw, tch);
    scale_plane(&src[luma + luma / 4..luma + luma / 2], cw, ch, &mut out[to_luma + to_luma / 4..], tcw, tch);
    out
}

fn scale_plane(src: &[u8], w: usize, h: usize, dst: &mut [u8], tw: usize, th: usize) {
    if w == 0 || h == 0 || tw == 0 || th == 0 {
        return;
    }
    let x_ratio = w as f32 / tw as f32;
    let y_ratio = h as f32 / th as f32;
    for y in 0..th {
        let sy = ((y as f32 + 0.5) * y_ratio - 0.5).clamp(0.0, (h - 1) as f32);
        let y0 = sy as usize;
        let y1 = (y0 + 1).min(h - 1);
        let fy = sy - y0 as f32;
        for x in 0..tw {
            let sx = ((x as f32 + 0.5) * x_ratio - 0.5).clamp(0.0, (w - 1) as f32);
            let x0 = sx as usize;
            let x1 = (x0 + 1).min(w - 1);
            let fx = sx - x0 as f32;
            let top = f32::from(src[y0 * w + x0]) * (1.0 - fx) + f32::from(src[y0 * w + x1]) * fx;
            let bottom = f32::from(src[y1 * w + x0]) * (1.0 - fx) + f32::from(src[y1 * w + x1]) * fx;
            dst[y * tw + x] = (top * (1.0 - fy) + bottom * fy).round() as u8;
        }
    }
}

/// A small RGBA picture (at most `max_width` wide) of I420 planes with the
/// given strides, BT.601 limited range, nearest-neighbour sampled.
pub fn i420_to_rgba_preview(planes: [&[u8]; 3], strides: [usize; 3], width: usize, height: usize, max_width: usize) -> (usize, usize, Vec<u8>) {
    let out_width = max_width.min(width).max(1);
    let out_height = (height * out_width / width.max(1)).max(1);
    let mut rgba = Vec::with_capacity(out_width * out_height * 4);
    let sample = |plane: usize, x: usize, y: usize| f32::from(planes[plane].get(y * strides[plane] + x).copied().unwrap_or(128));
    for y in 0..out_height {
        let sy = y * height / out_height;
        for x in 0..out_width {
            let sx = x * width / out_width;
            let c = 1.164 * (sample(0, sx, sy) - 16.0);
            let u = sample(1, sx / 2, sy / 2) - 128.0;
            let v = sample(2, sx / 2, sy / 2) - 128.0;
            let channel = |value: f32| value.clamp(0.0, 255.0) as u8;
            rgba.extend_from_slice(&[channel(c + 1.596 * v), channel(c - 0.392 * u - 0.813 * v), channel(c + 2.017 * u), 255]);
        }
    }
    (out_width, out_height, rgba)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_and_nv12_give_the_same_planes() {
        // 2x2: Y = 10 20 / 30 40, U = 100 and 110 averaged, V = 200 and 210 averaged.
        let yuyv = [10, 100, 20, 200, 30, 110, 40, 210];
        assert_eq!(yuyv_to_i420(&yuyv, 2, 2).unwrap(), [10, 20, 30, 40, 105, 205]);
        let nv12 = [10, 20, 30, 40, 105, 205];
        assert_eq!(nv12_to_i420(&nv12, 2, 2).unwrap(), [10, 20, 30, 40, 105, 205]);
        assert!(yuyv_to_i420(&yuyv[..6], 2, 2).is_none());
    }

    #[test]
    fn rgb_white_and_black_map_to_limited_range() {
        let white = [255u8; 12];
        assert_eq!(rgb_to_i420(&white, 2, 2).unwrap(), [235, 235, 235, 235, 128, 128]);
        let black = [0u8; 12];
        assert_eq!(rgb_to_i420(&black, 2, 2).unwrap(), [16, 16, 16, 16, 128, 128]);
    }

    #[test]
    fn scaling_keeps_flat_planes_flat() {
        let mut src = vec![90u8; 64 * 48 + 64 * 48 / 2];
        src[64 * 48..].fill(128);
        let out = scale_i420(&src, 64, 48, 32, 24);
        assert_eq!(out.len(), 32 * 24 * 3 / 2);
        assert!(out[..32 * 24].iter().all(|&v| v == 90));
        assert!(out[32 * 24..].iter().all(|&v| v == 128));
    }
}
