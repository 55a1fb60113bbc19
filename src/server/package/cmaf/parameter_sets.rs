//! In-band parameter sets: keyframes carry their SPS and PPS as well as the
//! init segment does, so a decoder that crosses a resolution change without
//! re-reading the init segment (or joins mid-stream) has the right ones.

use bytes::Bytes;

use crate::media::codec::CodecConfig;
use crate::media::h264::{avcc_parameter_sets, nal_types};

/// `data` (a length-prefixed keyframe) with `config`'s SPS and PPS in front,
/// unless it already carries an SPS.
pub fn with_parameter_sets(config: &CodecConfig, data: Bytes) -> Bytes {
    let CodecConfig::H264(h264) = config else { return data };
    let size = usize::from(h264.nal_length_size);
    if nal_types(&data, h264.nal_length_size).is_ok_and(|types| types.contains(&7)) {
        return data;
    }
    let sets = avcc_parameter_sets(&h264.avcc);
    let mut out = Vec::with_capacity(data.len() + sets.iter().map(|s| s.len() + size).sum::<usize>());
    for set in sets {
        out.extend_from_slice(&(set.len() as u32).to_be_bytes()[4 - size..]);
        out.extend_from_slice(set);
    }
    out.extend_from_slice(&data);
    Bytes::from(out)
}
