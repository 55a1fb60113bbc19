//! What the preview player needs of a Low-Latency HLS media playlist: its
//! parts in order, each with the segment it belongs to, its index, whether
//! it starts with a keyframe, and the init segment it needs.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedPart {
    pub number: u64,
    pub index: u32,
    pub independent: bool,
    pub uri: String,
    pub init: String,
}

/// The parts a playlist lists, oldest first; empty for a playlist without parts.
pub fn parse_parts(text: &str) -> Vec<ListedPart> {
    let mut init = String::new();
    let mut parts = Vec::new();
    for line in text.lines() {
        if let Some(uri) = line.strip_prefix("#EXT-X-MAP:URI=\"").and_then(|rest| rest.strip_suffix('"')) {
            init = uri.to_string();
        } else if let Some(attributes) = line.strip_prefix("#EXT-X-PART:") {
            let Some(uri) = attribute(attributes, "URI") else { continue };
            let Some((number, index)) = part_name(&uri) else { continue };
            let independent = attribute(attributes, "INDEPENDENT").is_some_and(|v| v == "YES");
            parts.push(ListedPart { number, index, independent, uri, init: init.clone() });
        }
    }
    parts
}

/// The (segment, index) of `part-N.I.m4s`.
fn part_name(uri: &str) -> Option<(u64, u32)> {
    let (number, index) = uri.strip_prefix("part-")?.strip_suffix(".m4s")?.split_once('.')?;
    Some((number.parse().ok()?, index.parse().ok()?))
}

/// An attribute's value, unquoted, from an attribute list.
fn attribute(list: &str, name: &str) -> Option<String> {
    let mut rest = list;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let (value, tail) = quoted.split_once('"')?;
                (value, tail.strip_prefix(',').unwrap_or(tail))
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        if key.trim() == name {
            return Some(value.to_string());
        }
        rest = next;
    }
    None
}

/// The part to start from: the newest that starts with a keyframe.
pub fn live_edge(parts: &[ListedPart]) -> Option<&ListedPart> {
    parts.iter().rev().find(|part| part.independent)
}

/// The part after `(number, index)`: the next of its segment, or the first of the next.
pub fn after(parts: &[ListedPart], number: u64, index: u32) -> Option<&ListedPart> {
    parts.iter().find(|p| (p.number, p.index) == (number, index + 1)).or_else(|| parts.iter().find(|p| (p.number, p.index) == (number + 1, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAYLIST: &str = "#EXTM3U\n#EXT-X-PART-INF:PART-TARGET=0.334\n#EXT-X-MAP:URI=\"init-1.mp4\"\n\
        #EXT-X-PART:DURATION=0.33367,URI=\"part-7.0.m4s\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.33367,URI=\"part-7.1.m4s\"\n\
        #EXTINF:0.66733,\nseg-7.m4s\n#EXT-X-PART:DURATION=0.33367,URI=\"part-8.0.m4s\",INDEPENDENT=YES\n\
        #EXT-X-PART:DURATION=0.33367,URI=\"part-8.1.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-8.2.m4s\"\n";

    #[test]
    fn parts_are_listed_in_order_with_their_keyframes_and_init() {
        let parts = parse_parts(PLAYLIST);
        let names: Vec<(u64, u32, bool)> = parts.iter().map(|p| (p.number, p.index, p.independent)).collect();
        assert_eq!(names, [(7, 0, true), (7, 1, false), (8, 0, true), (8, 1, false)]);
        assert!(parts.iter().all(|p| p.init == "init-1.mp4"));
        assert_eq!(live_edge(&parts).map(|p| p.uri.as_str()), Some("part-8.0.m4s"));
        assert_eq!(after(&parts, 7, 1).map(|p| p.uri.as_str()), Some("part-8.0.m4s"), "a closed segment's last part is followed by the next one's first");
        assert_eq!(after(&parts, 8, 0).map(|p| p.uri.as_str()), Some("part-8.1.m4s"));
        assert_eq!(after(&parts, 8, 1), None, "the hinted part is not listed yet");
        assert!(parse_parts("#EXTM3U\n#EXTINF:2.0,\nseg-1.m4s\n").is_empty());
    }
}
