//! An MSB-first bit reader over an RBSP with Exp-Golomb codes, bounded by its input.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bitstream ended at bit {0}")]
pub struct OutOfBits(pub usize);

pub struct BitReader<'a> {
    data: &'a [u8],
    position: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> BitReader<'a> {
        BitReader { data, position: 0 }
    }

    pub fn bit(&mut self) -> Result<bool, OutOfBits> {
        let byte = self.data.get(self.position / 8).ok_or(OutOfBits(self.position))?;
        let bit = (byte >> (7 - self.position % 8)) & 1;
        self.position += 1;
        Ok(bit == 1)
    }

    pub fn bits(&mut self, count: u32) -> Result<u32, OutOfBits> {
        debug_assert!(count <= 32);
        let mut value = 0u32;
        for _ in 0..count {
            value = (value << 1) | u32::from(self.bit()?);
        }
        Ok(value)
    }

    /// Unsigned Exp-Golomb, ue(v). Codes longer than 32 bits are malformed.
    pub fn ue(&mut self) -> Result<u32, OutOfBits> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return Err(OutOfBits(self.position));
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }

    /// Signed Exp-Golomb, se(v).
    pub fn se(&mut self) -> Result<i32, OutOfBits> {
        let code = i64::from(self.ue()?);
        let magnitude = (code + 1) / 2;
        Ok(if code % 2 == 1 { magnitude as i32 } else { -(magnitude as i32) })
    }
}

/// Removes emulation-prevention bytes (00 00 03 -> 00 00).
pub fn nal_to_rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &byte in nal {
        if zeros >= 2 && byte == 3 {
            zeros = 0;
            continue;
        }
        zeros = if byte == 0 { zeros + 1 } else { 0 };
        out.push(byte);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_values() {
        // 1 | 010 | 011 | 00100 | 00101 -> 0, 1, 2, 3, 4
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut reader = BitReader::new(&data);
        let values: Vec<u32> = (0..5).map(|_| reader.ue().unwrap()).collect();
        assert_eq!(values, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn signed_exp_golomb() {
        // ue 1 -> +1, ue 2 -> -1
        let data = [0b0100_1100];
        let mut reader = BitReader::new(&data);
        assert_eq!(reader.se().unwrap(), 1);
        assert_eq!(reader.se().unwrap(), -1);
    }

    #[test]
    fn reading_past_the_end_is_an_error() {
        let mut reader = BitReader::new(&[0]);
        assert!(reader.ue().is_err());
    }

    #[test]
    fn emulation_prevention_is_removed() {
        assert_eq!(nal_to_rbsp(&[0, 0, 3, 1, 0, 0, 3]), [0, 0, 1, 0, 0]);
    }
}
