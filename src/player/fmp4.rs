//! Just enough fMP4 reading for the preview: the avcC of an init segment and
//! the samples of a fragment. Bounded by its input; never panics on it.

#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Decode time in track timescale ticks.
    pub dts: u64,
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

/// The avcC record inside moov/trak/mdia/minf/stbl/stsd/avc1.
pub fn init_avcc(init: &[u8]) -> Option<Vec<u8>> {
    let moov = child(init, b"moov")?;
    let stbl = child(child(child(child(moov, b"trak")?, b"mdia")?, b"minf")?, b"stbl")?;
    let stsd = child(stbl, b"stsd")?;
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
        if flags & 0x800 != 0 {
            field()?;
        }
        let data = segment.get(position..position + size)?.to_vec();
        samples.push(Sample { dts, keyframe: sample_flags & 0x0001_0000 == 0, data });
        position += size;
        dts += u64::from(duration);
    }
    Some(())
}
