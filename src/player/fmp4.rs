//! Just enough fMP4 reading for the preview: the avcC of an init segment and
//! the samples of a fragment. Bounded by its input; never panics on it.

#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Decode time in track timescale ticks.
    pub dts: u64,
    /// Presentation time minus decode time, in the same ticks.
    pub composition_offset: i64,
    pub keyframe: bool,
    /// Length-prefixed NAL units.
    pub data: Vec<u8>,
}

/// Iterates the boxes in `data`: (type, body).
fn boxes(data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.len() < 8 {
            return None;
        }
        let size = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let kind = [rest[4], rest[5], rest[6], rest[7]];
        if size < 8 || size > rest.len() {
            return None;
        }
        let body = &rest[8..size];
        rest = &rest[size..];
        Some((kind, body))
    })
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).find(|(k, _)| k == kind).map(|(_, body)| body)
}

fn sample_descriptions(init: &[u8]) -> Option<&[u8]> {
    let moov = child(init, b"moov")?;
    let stbl = child(child(child(child(moov, b"trak")?, b"mdia")?, b"minf")?, b"stbl")?;
    child(stbl, b"stsd")
}

/// The track's timescale, from moov/trak/mdia/mdhd.
pub fn init_timescale(init: &[u8]) -> Option<u32> {
    let mdhd = child(child(child(child(init, b"moov")?, b"trak")?, b"mdia")?, b"mdhd")?;
    // version 1: 8-byte creation and modification times; version 0: 4-byte.
    let at = if *mdhd.first()? == 1 { 20 } else { 12 };
    Some(u32::from_be_bytes(mdhd.get(at..at + 4)?.try_into().ok()?))
}

/// The AAC AudioSpecificConfig inside stsd/mp4a/esds (its DecoderSpecificInfo).
pub fn init_asc(init: &[u8]) -> Option<Vec<u8>> {
    let stsd = sample_descriptions(init)?;
    // Audio sample entry fields take 28 bytes before its child boxes.
    let esds = child(child(stsd.get(8..)?, b"mp4a")?.get(28..)?, b"esds")?;
    // Descriptors after version/flags: find tag 5 (DecoderSpecificInfo) by walking 3 and 4.
    let mut at = 4;
    loop {
        let tag = *esds.get(at)?;
        at += 1;
        let mut length = 0usize;
        for _ in 0..4 {
            let byte = *esds.get(at)?;
            at += 1;
            length = (length << 7) | usize::from(byte & 0x7f);
            if byte & 0x80 == 0 {
                break;
            }
        }
        match tag {
            // ES_Descriptor: ES_ID (2) and flags (1), without the optional fields OnAir never writes.
            3 => at += 3,
            // DecoderConfigDescriptor: object type, stream type, buffer size, bitrates.
            4 => at += 13,
            5 => return esds.get(at..at + length).map(<[u8]>::to_vec),
            _ => at += length,
        }
    }
}

/// The avcC record inside moov/trak/mdia/minf/stbl/stsd/avc1.
pub fn init_avcc(init: &[u8]) -> Option<Vec<u8>> {
    let stsd = sample_descriptions(init)?;
    // stsd: version/flags(4) + entry count(4), then sample entries.
    let avc1 = child(stsd.get(8..)?, b"avc1")?;
    // Visual sample entry fields take 78 bytes before its child boxes.
    child(avc1.get(78..)?, b"avcC").map(<[u8]>::to_vec)
}

/// The samples of one moof+mdat fragment (or several back to back).
pub fn fragment_samples(segment: &[u8]) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut offset = 0;
    while let Some((kind, body)) = boxes(&segment[offset..]).next() {
        let box_start = offset;
        offset += body.len() + 8;
        if &kind != b"moof" {
            continue;
        }
        let Some(traf) = child(body, b"traf") else { continue };
        let base = child(traf, b"tfdt").and_then(|tfdt| match tfdt.first()? {
            1 => Some(u64::from_be_bytes(tfdt.get(4..12)?.try_into().ok()?)),
            _ => Some(u64::from(u32::from_be_bytes(tfdt.get(4..8)?.try_into().ok()?))),
        });
        let (Some(base), Some(trun)) = (base, child(traf, b"trun")) else { continue };
        let _ = read_run(segment, box_start, base, trun, &mut samples);
    }
    samples
}

fn read_run(segment: &[u8], moof_start: usize, base: u64, trun: &[u8], samples: &mut Vec<Sample>) -> Option<()> {
    let flags = u32::from_be_bytes(trun.get(..4)?.try_into().ok()?) & 0x00ff_ffff;
    let count = u32::from_be_bytes(trun.get(4..8)?.try_into().ok()?) as usize;
    let mut at = 8;
    let mut data_offset = 0i64;
    if flags & 0x1 != 0 {
        data_offset = i64::from(i32::from_be_bytes(trun.get(at..at + 4)?.try_into().ok()?));
        at += 4;
    }
    if flags & 0x4 != 0 {
        at += 4;
    }
    let mut position = usize::try_from(moof_start as i64 + data_offset).ok()?;
    let mut dts = base;
    for _ in 0..count.min(100_000) {
        let mut field = || -> Option<u32> {
            let value = u32::from_be_bytes(trun.get(at..at + 4)?.try_into().ok()?);
            at += 4;
            Some(value)
        };
        let duration = if flags & 0x100 != 0 { field()? } else { 0 };
        let size = if flags & 0x200 != 0 { field()? as usize } else { return None };
        let sample_flags = if flags & 0x400 != 0 { field()? } else { 0 };
        // Version 1 offsets are signed; version 0 ones are small enough to read the same way.
        let composition_offset = if flags & 0x800 != 0 { i64::from(field()? as i32) } else { 0 };
        let data = segment.get(position..position + size)?.to_vec();
        samples.push(Sample { dts, composition_offset, keyframe: sample_flags & 0x0001_0000 == 0, data });
        position += size;
        dts += u64::from(duration);
    }
    Some(())
}
