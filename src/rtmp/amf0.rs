//! AMF0, the value encoding of RTMP's commands and metadata: the subset
//! publishers send, decoded with a nesting limit so a hostile message is an
//! error, not a stack overflow.

#[derive(Debug, Clone, PartialEq)]
pub enum Amf0 {
    Number(f64),
    Boolean(bool),
    String(String),
    /// An object or an ECMA array: named values in the order sent.
    Object(Vec<(String, Amf0)>),
    Array(Vec<Amf0>),
    Date(f64),
    Null,
    Undefined,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Amf0Error {
    #[error("AMF0 value cut short at byte {0}")]
    Truncated(usize),
    #[error("AMF0 marker {marker:#04x} at byte {at} is not one this server reads")]
    UnknownMarker { marker: u8, at: usize },
    #[error("AMF0 values nested deeper than {MAX_DEPTH} at byte {0}")]
    TooDeep(usize),
    #[error("AMF0 string at byte {0} is not UTF-8")]
    NotUtf8(usize),
}

const MAX_DEPTH: usize = 16;

mod marker {
    pub const NUMBER: u8 = 0x00;
    pub const BOOLEAN: u8 = 0x01;
    pub const STRING: u8 = 0x02;
    pub const OBJECT: u8 = 0x03;
    pub const NULL: u8 = 0x05;
    pub const UNDEFINED: u8 = 0x06;
    pub const ECMA_ARRAY: u8 = 0x08;
    pub const OBJECT_END: u8 = 0x09;
    pub const STRICT_ARRAY: u8 = 0x0A;
    pub const DATE: u8 = 0x0B;
    pub const LONG_STRING: u8 = 0x0C;
}

impl Amf0 {
    pub fn as_str(&self) -> Option<&str> {
        if let Amf0::String(text) = self { Some(text) } else { None }
    }

    pub fn as_number(&self) -> Option<f64> {
        if let Amf0::Number(number) = self { Some(*number) } else { None }
    }

    /// A named value of an object.
    pub fn get(&self, name: &str) -> Option<&Amf0> {
        if let Amf0::Object(fields) = self { fields.iter().find(|(key, _)| key == name).map(|(_, value)| value) } else { None }
    }

    pub fn object<'a>(fields: impl IntoIterator<Item = (&'a str, Amf0)>) -> Amf0 {
        Amf0::Object(fields.into_iter().map(|(key, value)| (key.to_string(), value)).collect())
    }

    pub fn string(text: &str) -> Amf0 {
        Amf0::String(text.to_string())
    }
}

/// Every value in `bytes`, in order.
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Amf0>, Amf0Error> {
    let mut reader = Reader { bytes, at: 0 };
    let mut values = Vec::new();
    while reader.at < bytes.len() {
        values.push(reader.value(0)?);
    }
    Ok(values)
}

pub fn encode<'a>(values: impl IntoIterator<Item = &'a Amf0>, out: &mut Vec<u8>) {
    for value in values {
        encode_value(value, out);
    }
}

fn encode_value(value: &Amf0, out: &mut Vec<u8>) {
    match value {
        Amf0::Number(number) => {
            out.push(marker::NUMBER);
            out.extend_from_slice(&number.to_be_bytes());
        }
        Amf0::Boolean(flag) => out.extend_from_slice(&[marker::BOOLEAN, u8::from(*flag)]),
        Amf0::String(text) if text.len() <= usize::from(u16::MAX) => {
            out.push(marker::STRING);
            encode_name(text, out);
        }
        Amf0::String(text) => {
            out.push(marker::LONG_STRING);
            out.extend_from_slice(&(text.len() as u32).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        Amf0::Object(fields) => {
            out.push(marker::OBJECT);
            for (name, value) in fields {
                encode_name(name, out);
                encode_value(value, out);
            }
            out.extend_from_slice(&[0, 0, marker::OBJECT_END]);
        }
        Amf0::Array(values) => {
            out.push(marker::STRICT_ARRAY);
            out.extend_from_slice(&(values.len() as u32).to_be_bytes());
            for value in values {
                encode_value(value, out);
            }
        }
        Amf0::Date(millis) => {
            out.push(marker::DATE);
            out.extend_from_slice(&millis.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        }
        Amf0::Null => out.push(marker::NULL),
        Amf0::Undefined => out.push(marker::UNDEFINED),
    }
}

/// A name or short string: 16-bit length, then UTF-8 (cut to fit).
fn encode_name(text: &str, out: &mut Vec<u8>) {
    let mut end = text.len().min(usize::from(u16::MAX));
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_be_bytes());
    out.extend_from_slice(&text.as_bytes()[..end]);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Amf0Error> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or(Amf0Error::Truncated(self.at))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn u16(&mut self) -> Result<usize, Amf0Error> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn u32(&mut self) -> Result<usize, Amf0Error> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn f64(&mut self) -> Result<f64, Amf0Error> {
        let b = self.take(8)?;
        Ok(f64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
    }

    fn text(&mut self, len: usize) -> Result<String, Amf0Error> {
        let at = self.at;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Amf0Error::NotUtf8(at))
    }

    fn value(&mut self, depth: usize) -> Result<Amf0, Amf0Error> {
        if depth > MAX_DEPTH {
            return Err(Amf0Error::TooDeep(self.at));
        }
        let at = self.at;
        let marker = self.take(1)?[0];
        Ok(match marker {
            marker::NUMBER => Amf0::Number(self.f64()?),
            marker::BOOLEAN => Amf0::Boolean(self.take(1)?[0] != 0),
            marker::STRING => {
                let len = self.u16()?;
                Amf0::String(self.text(len)?)
            }
            marker::LONG_STRING => {
                let len = self.u32()?;
                Amf0::String(self.text(len)?)
            }
            marker::OBJECT => Amf0::Object(self.fields(depth)?),
            marker::ECMA_ARRAY => {
                // The count is advisory: writers end the array like an object.
                self.u32()?;
                Amf0::Object(self.fields(depth)?)
            }
            marker::STRICT_ARRAY => {
                let count = self.u32()?;
                let mut values = Vec::with_capacity(count.min(64));
                for _ in 0..count {
                    values.push(self.value(depth + 1)?);
                }
                Amf0::Array(values)
            }
            marker::DATE => {
                let millis = self.f64()?;
                self.take(2)?;
                Amf0::Date(millis)
            }
            marker::NULL => Amf0::Null,
            marker::UNDEFINED => Amf0::Undefined,
            marker => return Err(Amf0Error::UnknownMarker { marker, at }),
        })
    }

    fn fields(&mut self, depth: usize) -> Result<Vec<(String, Amf0)>, Amf0Error> {
        let mut fields = Vec::new();
        loop {
            let len = self.u16()?;
            if len == 0 && self.bytes.get(self.at) == Some(&marker::OBJECT_END) {
                self.at += 1;
                return Ok(fields);
            }
            let name = self.text(len)?;
            fields.push((name, self.value(depth + 1)?));
        }
    }
}

#[cfg(test)]
mod tests {
    use rml_rtmp::rml_amf0::{self, Amf0Value};

    use super::*;

    /// rml_amf0 is an independent codec: what it writes this reads, and back.
    #[test]
    fn agrees_with_another_implementation_both_ways() {
        let theirs = vec![
            Amf0Value::Utf8String("connect".into()),
            Amf0Value::Number(1.0),
            Amf0Value::Object(
                [
                    ("app".to_string(), Amf0Value::Utf8String("live".into())),
                    ("fpad".to_string(), Amf0Value::Boolean(false)),
                    ("audioCodecs".to_string(), Amf0Value::Number(3575.0)),
                    ("nested".to_string(), Amf0Value::StrictArray(vec![Amf0Value::Null, Amf0Value::Undefined])),
                ]
                .into_iter()
                .collect(),
            ),
        ];
        let bytes = rml_amf0::serialize(&theirs).unwrap();
        let ours = decode_all(&bytes).unwrap();
        assert_eq!(ours[0].as_str(), Some("connect"));
        assert_eq!(ours[2].get("app").and_then(Amf0::as_str), Some("live"));
        assert_eq!(ours[2].get("audioCodecs").and_then(Amf0::as_number), Some(3575.0));
        assert_eq!(ours[2].get("nested"), Some(&Amf0::Array(vec![Amf0::Null, Amf0::Undefined])));
        let mut again = Vec::new();
        encode(&ours, &mut again);
        let back = rml_amf0::deserialize(&mut std::io::Cursor::new(again)).unwrap();
        assert_eq!(back, theirs);
    }

    #[test]
    fn hostile_values_are_errors_with_their_place() {
        let deep: Vec<u8> = std::iter::repeat_n([marker::STRICT_ARRAY, 0, 0, 0, 1], 10_000).flatten().collect();
        assert!(matches!(decode_all(&deep), Err(Amf0Error::TooDeep(_))));
        assert_eq!(decode_all(&[marker::STRING, 0, 9, b'a']), Err(Amf0Error::Truncated(3)));
        assert_eq!(decode_all(&[marker::NULL, 0x42]), Err(Amf0Error::UnknownMarker { marker: 0x42, at: 1 }));
        assert_eq!(decode_all(&[marker::STRING, 0, 1, 0xff]), Err(Amf0Error::NotUtf8(3)));
        // A strict array's count promises more than the bytes hold: no huge allocation, an error.
        assert!(matches!(decode_all(&[marker::STRICT_ARRAY, 0xff, 0xff, 0xff, 0xff]), Err(Amf0Error::Truncated(_))));
    }
}
