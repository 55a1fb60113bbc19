//! H.264 bitstream facts: avcC records, SPS parsing, NAL framing checks.

use bytes::Bytes;

use super::bits::{BitReader, OutOfBits, nal_to_rbsp};
use super::codec::H264Config;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum H264Error {
    #[error("avcC record is {0} bytes, too short")]
    AvccTooShort(usize),
    #[error("avcC record has configuration version {0}, expected 1")]
    AvccVersion(u8),
    #[error("avcC record has no SPS")]
    NoSps,
    #[error("avcC record is truncated at byte {0}")]
    AvccTruncated(usize),
    #[error("SPS is malformed: {0}")]
    Sps(#[from] OutOfBits),
    #[error("SPS describes an impossible picture size {width}x{height}")]
    PictureSize { width: u32, height: u32 },
    #[error("NAL unit at byte {offset} claims {length} bytes but {remaining} remain")]
    NalLength { offset: usize, length: usize, remaining: usize },
}

/// Facts from a sequence parameter set.
#[derive(Clone, Debug, PartialEq)]
pub struct SpsFacts {
    pub profile_idc: u8,
    pub constraint_flags: u8,
    pub level_idc: u8,
    pub width: u32,
    pub height: u32,
    pub frame_rate: Option<f64>,
}

/// Parses an AVCDecoderConfigurationRecord and the first SPS inside it.
pub fn parse_avcc(avcc: Bytes) -> Result<H264Config, H264Error> {
    if avcc.len() < 8 {
        return Err(H264Error::AvccTooShort(avcc.len()));
    }
    if avcc[0] != 1 {
        return Err(H264Error::AvccVersion(avcc[0]));
    }
    let nal_length_size = (avcc[4] & 0b11) + 1;
    let sps_count = avcc[5] & 0b1_1111;
    if sps_count == 0 {
        return Err(H264Error::NoSps);
    }
    let sps_len = usize::from(u16::from_be_bytes([avcc[6], avcc[7]]));
    let sps = avcc.get(8..8 + sps_len).ok_or(H264Error::AvccTruncated(8))?;
    let facts = parse_sps(sps)?;
    Ok(H264Config {
        avcc: avcc.clone(),
        profile_idc: facts.profile_idc,
        constraint_flags: facts.constraint_flags,
        level_idc: facts.level_idc,
        width: facts.width,
        height: facts.height,
        frame_rate: facts.frame_rate,
        nal_length_size,
    })
}

/// Parses an SPS NAL unit (with its one-byte NAL header).
pub fn parse_sps(nal: &[u8]) -> Result<SpsFacts, H264Error> {
    let rbsp = nal_to_rbsp(nal.get(1..).unwrap_or_default());
    let mut r = BitReader::new(&rbsp);
    let profile_idc = r.bits(8)? as u8;
    let constraint_flags = r.bits(8)? as u8;
    let level_idc = r.bits(8)? as u8;
    r.ue()?; // seq_parameter_set_id
    let mut chroma_format_idc = 1;
    let mut separate_colour_plane = false;
    if matches!(profile_idc, 100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135) {
        chroma_format_idc = r.ue()?;
        if chroma_format_idc == 3 {
            separate_colour_plane = r.bit()?;
        }
        r.ue()?; // bit_depth_luma_minus8
        r.ue()?; // bit_depth_chroma_minus8
        r.bit()?; // qpprime_y_zero_transform_bypass
        if r.bit()? {
            let lists = if chroma_format_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? {
                    skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            let cycle = r.ue()?;
            for _ in 0..cycle.min(256) {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_map_units = u64::from(r.ue()?) + 1;
    let frame_mbs_only = r.bit()?;
    if !frame_mbs_only {
        r.bit()?; // mb_adaptive_frame_field
    }
    r.bit()?; // direct_8x8_inference
    let (mut crop_left, mut crop_right, mut crop_top, mut crop_bottom) = (0, 0, 0, 0);
    if r.bit()? {
        crop_left = u64::from(r.ue()?);
        crop_right = u64::from(r.ue()?);
        crop_top = u64::from(r.ue()?);
        crop_bottom = u64::from(r.ue()?);
    }
    let chroma_array_type = if separate_colour_plane { 0 } else { chroma_format_idc };
    let field_factor = if frame_mbs_only { 1 } else { 2 };
    let (crop_unit_x, crop_unit_y) = match chroma_array_type {
        0 => (1, field_factor),
        1 => (2, 2 * field_factor),
        2 => (2, field_factor),
        _ => (1, field_factor),
    };
    let full_width = width_mbs * 16;
    let full_height = height_map_units * 16 * field_factor;
    let width = full_width.checked_sub(crop_unit_x * (crop_left + crop_right));
    let height = full_height.checked_sub(crop_unit_y * (crop_top + crop_bottom));
    let (width, height) = match (width, height) {
        (Some(w), Some(h)) if (1..=16384).contains(&w) && (1..=16384).contains(&h) => (w as u32, h as u32),
        _ => {
            return Err(H264Error::PictureSize { width: full_width.min(u64::from(u32::MAX)) as u32, height: full_height.min(u64::from(u32::MAX)) as u32 });
        }
    };
    // VUI is optional and often truncated by encoders; its absence is not an error.
    let frame_rate = if r.bit().unwrap_or(false) { read_vui_frame_rate(&mut r).ok().flatten() } else { None };
    Ok(SpsFacts { profile_idc, constraint_flags, level_idc, width, height, frame_rate })
}

fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), OutOfBits> {
    let mut last = 8i32;
    let mut next = 8i32;
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

fn read_vui_frame_rate(r: &mut BitReader<'_>) -> Result<Option<f64>, OutOfBits> {
    if r.bit()? {
        // aspect_ratio_info
        if r.bits(8)? == 255 {
            r.bits(32)?; // sar_width, sar_height
        }
    }
    if r.bit()? {
        r.bit()?; // overscan_appropriate
    }
    if r.bit()? {
        r.bits(4)?; // video_format, video_full_range
        if r.bit()? {
            r.bits(24)?; // colour primaries, transfer, matrix
        }
    }
    if r.bit()? {
        r.ue()?;
        r.ue()?;
    }
    if r.bit()? {
        let units = r.bits(32)?;
        let scale = r.bits(32)?;
        if units > 0 && scale > 0 {
            return Ok(Some(f64::from(scale) / (2.0 * f64::from(units))));
        }
    }
    Ok(None)
}

/// Checks that length-prefixed NAL units exactly tile `data`; returns the NAL types.
pub fn nal_types(data: &[u8], nal_length_size: u8) -> Result<Vec<u8>, H264Error> {
    let size = usize::from(nal_length_size);
    let mut types = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let remaining = data.len() - offset;
        if remaining < size {
            return Err(H264Error::NalLength { offset, length: size, remaining });
        }
        let length = data[offset..offset + size].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let body = offset + size;
        if length == 0 || length > data.len() - body {
            return Err(H264Error::NalLength { offset, length, remaining: data.len() - body });
        }
        types.push(data[body] & 0x1f);
        offset = body + length;
    }
    Ok(types)
}

/// The SPS and PPS units listed in an avcC record, in order.
pub fn avcc_parameter_sets(avcc: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut offset = 5;
    for count_mask in [0x1f, 0xff] {
        let Some(&count) = avcc.get(offset) else { return units };
        offset += 1;
        for _ in 0..(count & count_mask) {
            let Some(len) = avcc.get(offset..offset + 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else { return units };
            let Some(unit) = avcc.get(offset + 2..offset + 2 + len) else { return units };
            units.push(unit);
            offset += 2 + len;
        }
    }
    units
}

/// Splits an Annex-B byte stream into NAL units (without start codes).
pub fn annexb_nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut start = None;
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            if let Some(begin) = start {
                units.push(trim_trailing_zeros(&stream[begin..i]));
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    if let Some(begin) = start
        && begin < stream.len()
    {
        units.push(&stream[begin..]);
    }
    units.retain(|unit| !unit.is_empty());
    units
}

fn trim_trailing_zeros(unit: &[u8]) -> &[u8] {
    let end = unit.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    &unit[..end]
}

/// Writes NAL units with 4-byte length prefixes (the avcC / FLV / MP4 framing).
pub fn length_prefixed(units: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(units.iter().map(|u| u.len() + 4).sum());
    for unit in units {
        out.extend_from_slice(&(unit.len() as u32).to_be_bytes());
        out.extend_from_slice(unit);
    }
    out
}

/// The NAL units of data framed with 4-byte length prefixes, up to the first
/// unit that runs past the end.
pub fn length_prefixed_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    nal_units(data, 4)
}

/// The NAL units of data framed with `nal_length_size`-byte length prefixes,
/// up to the first unit that runs past the end.
pub fn nal_units(data: &[u8], nal_length_size: u8) -> impl Iterator<Item = &[u8]> {
    let size = usize::from(nal_length_size);
    let mut rest = data;
    std::iter::from_fn(move || {
        let len = rest.get(..size)?.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let unit = rest.get(size..size.checked_add(len)?)?;
        rest = &rest[size + len..];
        Some(unit)
    })
}

/// Appends NAL units with 4-byte Annex-B start codes.
pub fn append_annexb<'a>(out: &mut Vec<u8>, units: impl IntoIterator<Item = &'a [u8]>) {
    for unit in units {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(unit);
    }
}

/// Builds an AVCDecoderConfigurationRecord from one SPS and one PPS.
pub fn build_avcc(sps: &[u8], pps: &[u8]) -> Result<Bytes, H264Error> {
    if sps.len() < 4 {
        return Err(H264Error::AvccTooShort(sps.len()));
    }
    let mut record = vec![1, sps[1], sps[2], sps[3], 0xff, 0xe1];
    record.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    record.extend_from_slice(sps);
    record.push(1);
    record.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    record.extend_from_slice(pps);
    Ok(Bytes::from(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPS units written by ffmpeg's libx264 from testsrc.
    const SPS_320X240_BASELINE_30: [u8; 24] =
        [0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80];
    const SPS_1280X720_HIGH_30: [u8; 26] = [
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19,
        0x60,
    ];
    const SPS_1920X1080_MAIN_25: [u8; 24] =
        [0x67, 0x4d, 0x40, 0x28, 0xec, 0xa0, 0x3c, 0x01, 0x13, 0xf2, 0xe0, 0x22, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x64, 0x1e, 0x30];

    #[test]
    fn sps_gives_size_profile_level_and_rate() {
        let facts = parse_sps(&SPS_320X240_BASELINE_30).unwrap();
        assert_eq!((facts.width, facts.height, facts.profile_idc, facts.level_idc), (320, 240, 66, 13));
        let facts = parse_sps(&SPS_1280X720_HIGH_30).unwrap();
        assert_eq!((facts.width, facts.height, facts.profile_idc, facts.level_idc), (1280, 720, 100, 31));
        // 1080 is coded as 1088 lines and cropped.
        let facts = parse_sps(&SPS_1920X1080_MAIN_25).unwrap();
        assert_eq!((facts.width, facts.height, facts.profile_idc), (1920, 1080, 77));
        assert_eq!(facts.frame_rate, Some(25.0));
    }

    #[test]
    fn truncated_sps_is_an_error_not_a_panic() {
        for end in 0..SPS_320X240_BASELINE_30.len() - 8 {
            let _ = parse_sps(&SPS_320X240_BASELINE_30[..end]);
        }
        assert!(parse_sps(&SPS_320X240_BASELINE_30[..6]).is_err());
    }

    #[test]
    fn annexb_splits_on_three_and_four_byte_start_codes() {
        let stream = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 5];
        let units = annexb_nal_units(&stream);
        assert_eq!(units, [&[0x67, 1, 2][..], &[0x68, 3][..], &[0x65, 4, 5][..]]);
        assert_eq!(nal_types(&length_prefixed(&units), 4).unwrap(), [7, 8, 5]);
        assert_eq!(length_prefixed_units(&length_prefixed(&units)).collect::<Vec<_>>(), units);
        let mut truncated = length_prefixed(&units);
        truncated.pop();
        assert_eq!(length_prefixed_units(&truncated).count(), 2);
        let mut annexb = Vec::new();
        append_annexb(&mut annexb, units.iter().copied());
        assert_eq!(annexb_nal_units(&annexb), units);
        let avcc = build_avcc(&SPS_320X240_BASELINE_30, &[0x68, 0xcb]).unwrap();
        assert_eq!(avcc_parameter_sets(&avcc), [&SPS_320X240_BASELINE_30[..], &[0x68, 0xcb][..]]);
        assert_eq!(parse_avcc(avcc).unwrap().width, 320);
    }

    #[test]
    fn nal_lengths_must_tile_the_frame() {
        assert_eq!(nal_types(&[0, 0, 0, 2, 0x65, 0xaa, 0, 0, 0, 1, 0x41], 4).unwrap(), [5, 1]);
        assert!(nal_types(&[0, 0, 0, 9, 0x65], 4).is_err());
        assert!(nal_types(&[0, 0], 4).is_err());
    }
}
