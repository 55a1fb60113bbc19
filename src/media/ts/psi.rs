//! Program tables: PAT and PMT sections, with the MPEG-2 CRC.

/// CRC-32/MPEG-2 (polynomial 0x04C11DB7, no reflection, no final xor).
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ 0x04c1_1db7 } else { crc << 1 };
        }
    }
    crc
}

/// One program's elementary streams: (stream type, PID).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramMap {
    pub pcr_pid: u16,
    pub streams: Vec<(u8, u16)>,
}

/// The PMT PID of the first program in a PAT section (after the pointer field).
pub fn parse_pat(section: &[u8]) -> Option<u16> {
    let body = checked_section(section, 0x00)?;
    // 5 bytes of header after section_length, then 4-byte program entries.
    body.get(5..)?.chunks_exact(4).find(|entry| u16::from_be_bytes([entry[0], entry[1]]) != 0).map(|entry| u16::from_be_bytes([entry[2] & 0x1f, entry[3]]))
}

pub fn parse_pmt(section: &[u8]) -> Option<ProgramMap> {
    let body = checked_section(section, 0x02)?;
    let pcr_pid = u16::from_be_bytes([*body.get(5)? & 0x1f, *body.get(6)?]);
    let info_length = usize::from(u16::from_be_bytes([*body.get(7)? & 0x0f, *body.get(8)?]));
    let mut rest = body.get(9 + info_length..)?;
    let mut streams = Vec::new();
    while rest.len() >= 5 {
        let stream_type = rest[0];
        let pid = u16::from_be_bytes([rest[1] & 0x1f, rest[2]]);
        let es_info = usize::from(u16::from_be_bytes([rest[3] & 0x0f, rest[4]]));
        streams.push((stream_type, pid));
        rest = rest.get(5 + es_info..)?;
    }
    Some(ProgramMap { pcr_pid, streams })
}

/// The section's bytes between section_length and the CRC, once the table id and CRC check out.
fn checked_section(section: &[u8], table_id: u8) -> Option<&[u8]> {
    if *section.first()? != table_id {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([*section.get(1)? & 0x0f, *section.get(2)?]));
    let whole = section.get(..3 + length)?;
    if length < 9 || crc32_mpeg2(whole) != 0 {
        return None;
    }
    // Skip table_id_extension(2), version(1), section numbers(2) are kept in the slice.
    whole.get(3..whole.len() - 4)
}

/// A PAT section naming one program at `pmt_pid`.
pub fn write_pat(pmt_pid: u16) -> Vec<u8> {
    let mut section = vec![0x00, 0xb0, 0, 0x00, 0x01, 0xc1, 0x00, 0x00];
    section.extend_from_slice(&[0x00, 0x01, 0xe0 | (pmt_pid >> 8) as u8, pmt_pid as u8]);
    finish_section(section)
}

/// A PMT section for `map`.
pub fn write_pmt(map: &ProgramMap) -> Vec<u8> {
    let mut section = vec![0x02, 0xb0, 0, 0x00, 0x01, 0xc1, 0x00, 0x00];
    section.extend_from_slice(&[0xe0 | (map.pcr_pid >> 8) as u8, map.pcr_pid as u8, 0xf0, 0x00]);
    for &(stream_type, pid) in &map.streams {
        section.extend_from_slice(&[stream_type, 0xe0 | (pid >> 8) as u8, pid as u8, 0xf0, 0x00]);
    }
    finish_section(section)
}

fn finish_section(mut section: Vec<u8>) -> Vec<u8> {
    let length = section.len() - 3 + 4;
    section[1] = 0xb0 | ((length >> 8) as u8 & 0x0f);
    section[2] = length as u8;
    let crc = crc32_mpeg2(&section);
    section.extend_from_slice(&crc.to_be_bytes());
    section
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_round_trip_with_a_valid_crc() {
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_e6e7);
        assert_eq!(parse_pat(&write_pat(0x1000)), Some(0x1000));
        let map = ProgramMap { pcr_pid: 0x100, streams: vec![(0x1b, 0x100), (0x0f, 0x101)] };
        assert_eq!(parse_pmt(&write_pmt(&map)), Some(map));
        let mut broken = write_pat(0x1000);
        broken[9] ^= 1;
        assert_eq!(parse_pat(&broken), None);
    }
}
