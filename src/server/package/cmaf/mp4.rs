//! Primitives for writing ISO BMFF boxes: sizes are back-patched when a box closes.

pub struct BoxWriter {
    buf: Vec<u8>,
    open: Vec<usize>,
}

impl BoxWriter {
    pub fn with_capacity(capacity: usize) -> BoxWriter {
        BoxWriter { buf: Vec::with_capacity(capacity), open: Vec::new() }
    }

    /// Opens a box; every `begin` is matched by an `end`.
    pub fn begin(&mut self, fourcc: &[u8; 4]) -> &mut Self {
        self.open.push(self.buf.len());
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(fourcc);
        self
    }

    /// Opens a full box (version and 24-bit flags).
    pub fn begin_full(&mut self, fourcc: &[u8; 4], version: u8, flags: u32) -> &mut Self {
        self.begin(fourcc);
        self.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff))
    }

    pub fn end(&mut self) -> &mut Self {
        let start = self.open.pop().expect("BoxWriter::end without begin");
        let size = u32::try_from(self.buf.len() - start).expect("box larger than 4 GiB");
        self.buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
        self
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    pub fn u24(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_be_bytes()[1..])
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    pub fn zeros(&mut self, count: usize) -> &mut Self {
        self.buf.resize(self.buf.len() + count, 0);
        self
    }
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    pub fn position(&self) -> usize {
        self.buf.len()
    }

    /// Overwrites four bytes already written (for offsets known only later).
    pub fn patch_u32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }

    pub fn finish(self) -> Vec<u8> {
        assert!(self.open.is_empty(), "BoxWriter finished with open boxes");
        self.buf
    }
}

/// The unity transformation matrix of mvhd and tkhd.
pub const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_sizes_are_patched() {
        let mut w = BoxWriter::with_capacity(64);
        w.begin(b"moov").begin_full(b"mvhd", 1, 3).u8(7).end().end();
        let out = w.finish();
        assert_eq!(out, [0, 0, 0, 21, b'm', b'o', b'o', b'v', 0, 0, 0, 13, b'm', b'v', b'h', b'd', 1, 0, 0, 3, 7]);
    }
}
