//! CMAF fragments (moof + mdat) for one track.

use bytes::Bytes;

use super::mp4::BoxWriter;

/// One sample's entry in the track run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleInfo {
    pub duration: u32,
    pub size: u32,
    pub keyframe: bool,
    pub composition_offset: i32,
}

impl SampleInfo {
    /// ISO/IEC 14496-12 sample_flags: sync samples depend on nothing,
    /// others depend on earlier samples and are not sync samples.
    pub fn flags(&self) -> u32 {
        if self.keyframe { 0x0200_0000 } else { 0x0101_0000 }
    }
}

const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
const TRUN_DATA_OFFSET: u32 = 0x01;
const TRUN_DURATION: u32 = 0x100;
const TRUN_SIZE: u32 = 0x200;
const TRUN_FLAGS: u32 = 0x400;
const TRUN_COMPOSITION: u32 = 0x800;

/// Writes `moof` + `mdat`. `payload` holds the samples' bytes in order, in
/// any number of pieces: they are copied once, straight into the fragment.
pub fn write_fragment(sequence: u32, track_id: u32, base_decode_time: u64, samples: &[SampleInfo], payload: &[&[u8]]) -> Bytes {
    let payload_len: usize = payload.iter().map(|piece| piece.len()).sum();
    let mut w = BoxWriter::with_capacity(payload_len + 128 + samples.len() * 16);
    w.begin(b"moof");
    w.begin_full(b"mfhd", 0, 0).u32(sequence).end();
    w.begin(b"traf");
    w.begin_full(b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF).u32(track_id).end();
    w.begin_full(b"tfdt", 1, 0).u64(base_decode_time).end();
    let has_composition = samples.iter().any(|s| s.composition_offset != 0);
    let mut trun_flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS;
    if has_composition {
        trun_flags |= TRUN_COMPOSITION;
    }
    // Version 1: signed composition offsets, so B-frames need no edit list.
    w.begin_full(b"trun", 1, trun_flags).u32(samples.len() as u32);
    let data_offset_at = w.position();
    w.u32(0);
    for sample in samples {
        w.u32(sample.duration).u32(sample.size).u32(sample.flags());
        if has_composition {
            w.i32(sample.composition_offset);
        }
    }
    w.end(); // trun
    w.end(); // traf
    w.end(); // moof
    let moof_size = w.position();
    w.patch_u32(data_offset_at, (moof_size + 8) as u32);
    w.begin(b"mdat");
    for piece in payload {
        w.bytes(piece);
    }
    w.end();
    Bytes::from(w.finish())
}
