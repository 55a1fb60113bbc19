//! A part's or a segment's bytes, kept as the CMAF chunks they were written
//! in. Closing a part or a segment then copies nothing (a 6 Mbit/s segment
//! is megabytes, and a fresh buffer of that size costs a page fault per
//! 4 KiB), and a part of a closed segment is a run of its pieces, shared.

use bytes::{Bytes, BytesMut};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pieces {
    pieces: Vec<Bytes>,
    len: usize,
}

impl Pieces {
    /// Writes them to `path` whole (through a temporary file renamed over
    /// it, making the directories it needs): readers see the old file or the new one.
    pub fn write_to(&self, path: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let temporary = path.with_extension("part");
        let mut file = std::fs::File::create(&temporary)?;
        for piece in &self.pieces {
            file.write_all(piece)?;
        }
        file.flush()?;
        drop(file);
        std::fs::rename(&temporary, path)
    }

    pub fn new(pieces: Vec<Bytes>) -> Pieces {
        let len = pieces.iter().map(Bytes::len).sum();
        Pieces { pieces, len }
    }

    /// The whole length, in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn piece(&self, index: usize) -> Option<&Bytes> {
        self.pieces.get(index)
    }

    /// How many pieces there are.
    pub fn count(&self) -> usize {
        self.pieces.len()
    }

    pub fn push(&mut self, piece: Bytes) {
        self.len += piece.len();
        self.pieces.push(piece);
    }

    /// Pieces `range`, or None when that runs past the last.
    pub fn run(&self, range: std::ops::Range<usize>) -> Option<Pieces> {
        self.pieces.get(range).map(|run| Pieces::new(run.to_vec()))
    }

    /// The bytes past `offset`, as pieces; None when `offset` is past the end.
    pub fn after(&self, offset: usize) -> Option<Vec<Bytes>> {
        if offset > self.len {
            return None;
        }
        let mut start = 0;
        let mut rest = Vec::new();
        for piece in &self.pieces {
            let end = start + piece.len();
            if end > offset {
                rest.push(piece.slice(offset.saturating_sub(start)..));
            }
            start = end;
        }
        Some(rest)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Bytes> {
        self.pieces.iter()
    }

    /// The bytes in one buffer: shared when there is a single piece, copied otherwise.
    pub fn to_bytes(&self) -> Bytes {
        match self.pieces.as_slice() {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => {
                let mut whole = BytesMut::with_capacity(self.len);
                for piece in many {
                    whole.extend_from_slice(piece);
                }
                whole.freeze()
            }
        }
    }
}

impl From<Bytes> for Pieces {
    fn from(bytes: Bytes) -> Pieces {
        Pieces::new(vec![bytes])
    }
}

impl FromIterator<Bytes> for Pieces {
    fn from_iter<I: IntoIterator<Item = Bytes>>(pieces: I) -> Pieces {
        Pieces::new(pieces.into_iter().collect())
    }
}

impl IntoIterator for Pieces {
    type Item = Bytes;
    type IntoIter = std::vec::IntoIter<Bytes>;

    fn into_iter(self) -> Self::IntoIter {
        self.pieces.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pieces_read_back_in_order_and_a_piece_is_a_part() {
        let pieces = Pieces::new(vec![Bytes::from_static(b"moof1"), Bytes::from_static(b""), Bytes::from_static(b"moof22")]);
        assert_eq!(pieces.len(), 11);
        assert_eq!(&pieces.to_bytes()[..], b"moof1moof22");
        assert_eq!(pieces.piece(2).map(|p| &p[..]), Some(&b"moof22"[..]));
        assert_eq!(pieces.piece(3), None);
        assert!(Pieces::default().is_empty());
    }

    #[test]
    fn what_lies_past_an_offset_is_cut_from_the_piece_it_falls_in() {
        let pieces: Pieces = [&b"abc"[..], b"de", b"fgh"].into_iter().map(Bytes::from_static).collect();
        let rest = |offset| pieces.after(offset).map(|rest| rest.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect::<Vec<_>>());
        assert_eq!(rest(0), Some(vec!["abc".into(), "de".into(), "fgh".into()]));
        assert_eq!(rest(4), Some(vec!["e".into(), "fgh".into()]));
        assert_eq!(rest(5), Some(vec!["fgh".into()]));
        assert_eq!(rest(8), Some(vec![]));
        assert_eq!(rest(9), None);
        assert_eq!(pieces.run(1..3).map(|run| run.to_bytes()), Some(Bytes::from_static(b"defgh")));
        assert_eq!(pieces.run(2..4), None);
    }
}
