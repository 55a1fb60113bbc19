//! The capture stamp: a machine-readable wall-clock time drawn into test frames,
//! so latency can be read back from any decoded output, at any scale.
//!
//! Layout, on the luma plane: a grid of 4 rows × 16 columns of square cells,
//! each `width / 64` pixels on a side, starting one cell in from the top-left
//! corner (so it occupies a quarter of the width). Cells hold 64 bits, row by
//! row, most significant bit first: white (luma 235) is 1, black (16) is 0.
//! The first 48 bits are the capture time in milliseconds since the Unix
//! epoch; the last 16 are a check word (`check_word`) that rejects frames
//! without a stamp or with a damaged one. Geometry is proportional to the
//! width, so a scaled rendition keeps a readable stamp.

pub const COLUMNS: usize = 16;
pub const ROWS: usize = 4;
const WHITE: u8 = 235;
const BLACK: u8 = 16;

fn cell_size(width: usize) -> f64 {
    width as f64 / 64.0
}

/// 16 bits derived from the 48-bit payload.
pub fn check_word(millis: u64) -> u16 {
    let mixed = (millis & 0xffff_ffff_ffff).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((mixed >> 48) as u16) ^ 0xa5c3
}

fn bits(millis: u64) -> u64 {
    ((millis & 0xffff_ffff_ffff) << 16) | u64::from(check_word(millis))
}

/// Draws the stamp into an 8-bit luma plane.
pub fn draw(luma: &mut [u8], width: usize, height: usize, stride: usize, millis: u64) {
    let cell = cell_size(width);
    let value = bits(millis);
    // Pixel centres decide which cell a pixel belongs to.
    let x_end = ((COLUMNS as f64 + 1.0) * cell).ceil() as usize;
    let y_end = ((ROWS as f64 + 1.0) * cell).ceil() as usize;
    for y in 0..y_end.min(height) {
        let row = ((y as f64 + 0.5) / cell).floor() as isize - 1;
        if !(0..ROWS as isize).contains(&row) {
            continue;
        }
        for x in 0..x_end.min(width) {
            let column = ((x as f64 + 0.5) / cell).floor() as isize - 1;
            if !(0..COLUMNS as isize).contains(&column) {
                continue;
            }
            let index = row as usize * COLUMNS + column as usize;
            let bit = (value >> (63 - index)) & 1;
            if let Some(pixel) = luma.get_mut(y * stride + x) {
                *pixel = if bit == 1 { WHITE } else { BLACK };
            }
        }
    }
}

/// Reads the stamp from a decoded luma plane; `None` when absent or damaged.
pub fn read(luma: &[u8], width: usize, height: usize, stride: usize) -> Option<u64> {
    let cell = cell_size(width);
    if cell < 2.0 || (ROWS as f64 + 1.0) * cell > height as f64 {
        return None;
    }
    let mut value = 0u64;
    for index in 0..COLUMNS * ROWS {
        let (row, column) = (index / COLUMNS, index % COLUMNS);
        // Average the middle half of the cell, away from blurred edges.
        let x0 = ((column as f64 + 1.25) * cell).round() as usize;
        let x1 = ((column as f64 + 1.75) * cell).round().max(x0 as f64 + 1.0) as usize;
        let y0 = ((row as f64 + 1.25) * cell).round() as usize;
        let y1 = ((row as f64 + 1.75) * cell).round().max(y0 as f64 + 1.0) as usize;
        let (mut sum, mut count) = (0u64, 0u64);
        for y in y0..y1 {
            for x in x0..x1 {
                sum += u64::from(*luma.get(y * stride + x)?);
                count += 1;
            }
        }
        let bit = u64::from(sum / count.max(1) > 128);
        value = (value << 1) | bit;
    }
    let millis = value >> 16;
    (check_word(millis) == (value & 0xffff) as u16).then_some(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_survives_scaling() {
        let (width, height) = (1280, 720);
        let mut luma = vec![128u8; width * height];
        let millis = 1_795_635_306_123;
        draw(&mut luma, width, height, width, millis);
        assert_eq!(read(&luma, width, height, width), Some(millis));
        // Nearest-neighbour downscale to 640x360.
        let small: Vec<u8> = (0..360).flat_map(|y| (0..640).map(move |x| (x, y))).map(|(x, y)| luma[(y * 2) * width + x * 2]).collect();
        assert_eq!(read(&small, 640, 360, 640), Some(millis));
    }

    #[test]
    fn a_frame_without_a_stamp_reads_as_none() {
        let luma = vec![128u8; 320 * 240];
        assert_eq!(read(&luma, 320, 240, 320), None);
        let noise: Vec<u8> = (0..320 * 240).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        assert_eq!(read(&noise, 320, 240, 320), None);
    }
}
