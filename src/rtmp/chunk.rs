//! RTMP's chunk layer, sans-IO: bytes in, whole messages out, and whole
//! messages in, chunks out.
//!
//! The reader parses straight from the bytes it is given and keeps only a
//! partial chunk between calls, so a message's payload is copied once, into
//! its own buffer, which the caller then holds without another copy.

use bytes::{Bytes, BytesMut};

/// What a peer may set its chunk size to (the protocol's own ceiling is 2^31 − 1).
const MAX_CHUNK_SIZE: usize = 16 * 1024 * 1024;
/// Chunk streams one connection may use at once.
const MAX_OPEN_STREAMS: usize = 64;
/// The longest chunk header: 3 basic, 11 message, 4 extended timestamp.
const MAX_HEADER: usize = 18;
const EXTENDED: u32 = 0xFF_FFFF;
const INITIAL_CAPACITY: usize = 256 * 1024;

pub const DEFAULT_CHUNK_SIZE: usize = 128;

/// Message type ids this crate acts on.
pub mod kind {
    pub const SET_CHUNK_SIZE: u8 = 1;
    pub const ABORT: u8 = 2;
    pub const ACKNOWLEDGEMENT: u8 = 3;
    pub const USER_CONTROL: u8 = 4;
    pub const WINDOW_ACK_SIZE: u8 = 5;
    pub const SET_PEER_BANDWIDTH: u8 = 6;
    pub const AUDIO: u8 = 8;
    pub const VIDEO: u8 = 9;
    pub const AMF3_DATA: u8 = 15;
    pub const AMF3_COMMAND: u8 = 17;
    pub const AMF0_DATA: u8 = 18;
    pub const AMF0_COMMAND: u8 = 20;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: u8,
    pub stream_id: u32,
    /// RTMP's 32-bit millisecond clock, as sent.
    pub timestamp: u32,
    pub payload: Bytes,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChunkError {
    #[error("chunk stream {csid} continues a message it never began")]
    NoHeader { csid: u32 },
    #[error("chunk stream {csid} starts a message of {length} bytes, over the limit of {limit}")]
    TooLarge { csid: u32, length: usize, limit: usize },
    #[error("peer set a chunk size of {0}, outside 1..={MAX_CHUNK_SIZE}")]
    BadChunkSize(u32),
    #[error("more than {MAX_OPEN_STREAMS} chunk streams hold a partial message")]
    TooManyStreams,
}

#[derive(Debug, Clone, Copy, Default)]
struct Header {
    timestamp: u32,
    delta: u32,
    length: usize,
    kind: u8,
    stream_id: u32,
    /// The last header carried an extended timestamp, so type 3 chunks do too.
    extended: bool,
}

#[derive(Debug)]
struct ChunkStream {
    csid: u32,
    header: Header,
    /// The message being reassembled, if one is under way.
    partial: Option<BytesMut>,
}

/// What one parse attempt over the front of the input found.
enum Step {
    /// A whole chunk of this many bytes was consumed.
    Consumed(usize),
    /// At least this many bytes are needed before anything can be done.
    Need(usize),
}

/// Reassembles messages from a peer's chunks.
#[derive(Debug)]
pub struct ChunkReader {
    chunk_size: usize,
    max_message: usize,
    streams: Vec<ChunkStream>,
    /// A chunk cut short by the end of the last input.
    pending: Vec<u8>,
    /// Bytes read in all, for acknowledgements.
    received: u64,
}

impl ChunkReader {
    pub fn new(max_message: usize) -> ChunkReader {
        ChunkReader { chunk_size: DEFAULT_CHUNK_SIZE, max_message, streams: Vec::new(), pending: Vec::new(), received: 0 }
    }

    /// Bytes consumed since the start, chunk headers included.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Parses `input`, appending every message it completes to `out`.
    /// Set Chunk Size and Abort take effect here and are passed on too.
    pub fn read(&mut self, mut input: &[u8], out: &mut Vec<Message>) -> Result<(), ChunkError> {
        self.received += input.len() as u64;
        // First complete the chunk the last input cut short, taking no more than it needs.
        while !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            let step = self.parse(&pending, out);
            self.pending = pending;
            match step? {
                Step::Consumed(_) => self.pending.clear(),
                Step::Need(total) => {
                    let wanted = total.saturating_sub(self.pending.len()).max(1);
                    let take = wanted.min(input.len());
                    if take == 0 {
                        return Ok(());
                    }
                    self.pending.extend_from_slice(&input[..take]);
                    input = &input[take..];
                }
            }
        }
        while !input.is_empty() {
            match self.parse(input, out)? {
                Step::Consumed(used) => input = &input[used..],
                Step::Need(_) => {
                    self.pending.extend_from_slice(input);
                    break;
                }
            }
        }
        Ok(())
    }

    /// One chunk from the front of `bytes`; nothing changes unless it is whole.
    fn parse(&mut self, bytes: &[u8], out: &mut Vec<Message>) -> Result<Step, ChunkError> {
        let Some(&first) = bytes.first() else { return Ok(Step::Need(1)) };
        let format = first >> 6;
        let (csid, mut at) = match first & 0x3f {
            0 if bytes.len() < 2 => return Ok(Step::Need(2)),
            0 => (64 + u32::from(bytes[1]), 2),
            1 if bytes.len() < 3 => return Ok(Step::Need(3)),
            1 => (64 + u32::from(bytes[1]) + 256 * u32::from(bytes[2]), 3),
            id => (u32::from(id), 1),
        };
        let message_header = [11, 7, 3, 0][usize::from(format)];
        if bytes.len() < at + message_header {
            return Ok(Step::Need(at + message_header));
        }
        let index = self.streams.iter().position(|s| s.csid == csid);
        let previous = index.map(|i| self.streams[i].header);
        // Types 0 to 2 always begin a message (a half-sent one on the stream is dropped).
        let starts = format < 3 || index.is_none_or(|i| self.streams[i].partial.is_none());
        let field = |at: usize| u32::from_be_bytes([0, bytes[at], bytes[at + 1], bytes[at + 2]]);
        let mut header = match (format, previous) {
            // After a full header the "delta" a type 3 message start adds is the
            // timestamp itself: what ffmpeg's writer assumes when it compresses.
            (0, _) => Header {
                timestamp: field(at),
                delta: field(at),
                length: field(at + 3) as usize,
                kind: bytes[at + 6],
                stream_id: u32::from_le_bytes([bytes[at + 7], bytes[at + 8], bytes[at + 9], bytes[at + 10]]),
                extended: field(at) == EXTENDED,
            },
            (_, None) => return Err(ChunkError::NoHeader { csid }),
            (1, Some(previous)) => {
                Header { delta: field(at), length: field(at + 3) as usize, kind: bytes[at + 6], extended: field(at) == EXTENDED, ..previous }
            }
            (2, Some(previous)) => Header { delta: field(at), extended: field(at) == EXTENDED, ..previous },
            (_, Some(previous)) => previous,
        };
        at += message_header;
        if header.extended {
            if bytes.len() < at + 4 {
                return Ok(Step::Need(at + 4));
            }
            let extended = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
            at += 4;
            match format {
                0 => (header.timestamp, header.delta) = (extended, extended),
                // A type 3 chunk that continues a message repeats the field; only a start uses it.
                _ if format < 3 || starts => header.delta = extended,
                _ => {}
            }
        }
        if starts && header.length > self.max_message {
            return Err(ChunkError::TooLarge { csid, length: header.length, limit: self.max_message });
        }
        let received = if starts { 0 } else { index.and_then(|i| self.streams[i].partial.as_ref().map(BytesMut::len)).unwrap_or(0) };
        let body = (header.length - received.min(header.length)).min(self.chunk_size);
        if bytes.len() < at + body {
            return Ok(Step::Need(at + body));
        }
        // The chunk is whole: from here on, state changes.
        if starts && format != 0 {
            header.timestamp = header.timestamp.wrapping_add(header.delta);
        }
        let index = match index {
            Some(i) => i,
            None => {
                if self.streams.len() >= MAX_OPEN_STREAMS {
                    let idle = self.streams.iter().position(|s| s.partial.is_none()).ok_or(ChunkError::TooManyStreams)?;
                    self.streams.swap_remove(idle);
                }
                self.streams.push(ChunkStream { csid, header, partial: None });
                self.streams.len() - 1
            }
        };
        let stream = &mut self.streams[index];
        stream.header = header;
        if starts {
            stream.partial = None;
        }
        // Capacity grows with what arrives, not with what a header claims.
        let partial = stream.partial.get_or_insert_with(|| BytesMut::with_capacity(header.length.min(INITIAL_CAPACITY)));
        partial.extend_from_slice(&bytes[at..at + body]);
        if partial.len() >= header.length {
            let payload = stream.partial.take().unwrap_or_default().freeze();
            let message = Message { kind: header.kind, stream_id: header.stream_id, timestamp: header.timestamp, payload };
            self.apply(&message)?;
            out.push(message);
        }
        Ok(Step::Consumed(at + body))
    }

    /// The chunk layer's own messages act on the reader itself.
    fn apply(&mut self, message: &Message) -> Result<(), ChunkError> {
        let Some(value) = message.payload.get(..4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])) else { return Ok(()) };
        match message.kind {
            kind::SET_CHUNK_SIZE => {
                let size = value & 0x7fff_ffff;
                if size == 0 || size as usize > MAX_CHUNK_SIZE {
                    return Err(ChunkError::BadChunkSize(size));
                }
                self.chunk_size = size as usize;
            }
            kind::ABORT => {
                if let Some(stream) = self.streams.iter_mut().find(|s| s.csid == value) {
                    stream.partial = None;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Cuts messages into chunks: a full header on each message's first chunk
/// (so no state is shared with any other writer on the connection) and
/// type 3 headers on the rest.
#[derive(Debug)]
pub struct ChunkWriter {
    chunk_size: usize,
}

impl Default for ChunkWriter {
    fn default() -> ChunkWriter {
        ChunkWriter { chunk_size: DEFAULT_CHUNK_SIZE }
    }
}

impl ChunkWriter {
    /// Sends Set Chunk Size and uses the new size from the next message on.
    pub fn set_chunk_size(&mut self, size: usize, out: &mut Vec<u8>) {
        let size = size.clamp(1, MAX_CHUNK_SIZE);
        self.write(2, kind::SET_CHUNK_SIZE, 0, 0, &(size as u32).to_be_bytes(), out);
        self.chunk_size = size;
    }

    pub fn write(&mut self, csid: u32, kind: u8, stream_id: u32, timestamp: u32, payload: &[u8], out: &mut Vec<u8>) {
        self.write_parts(csid, kind, stream_id, timestamp, &[payload], out);
    }

    /// One message whose payload is `parts` end to end (an FLV tag header
    /// and the frame), chunked without joining them first.
    pub fn write_parts(&mut self, csid: u32, kind: u8, stream_id: u32, timestamp: u32, parts: &[&[u8]], out: &mut Vec<u8>) {
        let length: usize = parts.iter().map(|part| part.len()).sum();
        let extended = timestamp >= EXTENDED;
        out.reserve(length + MAX_HEADER + length.div_ceil(self.chunk_size) * 8);
        basic_header(0, csid, out);
        out.extend_from_slice(&timestamp.min(EXTENDED).to_be_bytes()[1..]);
        out.extend_from_slice(&(length as u32).to_be_bytes()[1..]);
        out.push(kind);
        out.extend_from_slice(&stream_id.to_le_bytes());
        if extended {
            out.extend_from_slice(&timestamp.to_be_bytes());
        }
        let mut room = self.chunk_size;
        for mut part in parts.iter().copied() {
            while !part.is_empty() {
                if room == 0 {
                    basic_header(3, csid, out);
                    if extended {
                        out.extend_from_slice(&timestamp.to_be_bytes());
                    }
                    room = self.chunk_size;
                }
                let (now, rest) = part.split_at(part.len().min(room));
                out.extend_from_slice(now);
                room -= now.len();
                part = rest;
            }
        }
    }
}

fn basic_header(format: u8, csid: u32, out: &mut Vec<u8>) {
    match csid {
        2..=63 => out.push(format << 6 | csid as u8),
        64..=319 => out.extend_from_slice(&[format << 6, (csid - 64) as u8]),
        _ => {
            let id = csid.clamp(320, 65_599) - 64;
            out.extend_from_slice(&[format << 6 | 1, (id & 0xff) as u8, (id >> 8) as u8]);
        }
    }
}

#[cfg(test)]
mod tests {
    use rml_rtmp::chunk_io::{ChunkDeserializer, ChunkSerializer};
    use rml_rtmp::messages::MessagePayload;
    use rml_rtmp::time::RtmpTimestamp;

    use super::*;

    fn payload(kind: u8, stream_id: u32, timestamp: u32, len: usize) -> MessagePayload {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + usize::from(kind)) as u8).collect();
        MessagePayload { timestamp: RtmpTimestamp::new(timestamp), type_id: kind, message_stream_id: stream_id, data: Bytes::from(data) }
    }

    /// rml_rtmp's serializer compresses headers (types 1, 2 and 3 after the
    /// first): an independent writer whose output this reader must follow.
    #[test]
    fn reads_another_implementations_compressed_chunks_fed_in_every_split() {
        let mut serializer = ChunkSerializer::new();
        let mut wire = serializer.set_max_chunk_size(300, RtmpTimestamp::new(0)).unwrap().bytes;
        let sent: Vec<MessagePayload> = (0..40u32)
            .map(|i| match i % 3 {
                // Times that cross into the extended timestamp field half way.
                0 => payload(kind::VIDEO, 1, 0xFF_FC00 + i * 33, 1000 + i as usize * 13),
                1 => payload(kind::AUDIO, 1, 0xFF_FC00 + i * 21, 200),
                _ => payload(kind::AMF0_DATA, 1, 0xFF_FC00 + i * 33, 20),
            })
            .collect();
        for message in &sent {
            wire.extend(serializer.serialize(message, false, false).unwrap().bytes);
        }
        for split in [1, 7, 300, 4096, wire.len()] {
            let mut reader = ChunkReader::new(1 << 20);
            let mut got = Vec::new();
            for piece in wire.chunks(split) {
                reader.read(piece, &mut got).unwrap();
            }
            let media: Vec<_> = got.iter().filter(|m| m.kind != kind::SET_CHUNK_SIZE).collect();
            assert_eq!(media.len(), sent.len(), "split {split}");
            for (got, sent) in media.iter().zip(&sent) {
                assert_eq!((got.kind, got.stream_id, got.timestamp, &got.payload), (sent.type_id, sent.message_stream_id, sent.timestamp.value, &sent.data));
            }
            assert_eq!(reader.received(), wire.len() as u64);
        }
    }

    /// What this writer sends, another implementation reads back as sent,
    /// extended timestamps and a changed chunk size included.
    #[test]
    fn another_implementation_reads_what_this_writer_sends() {
        let mut writer = ChunkWriter::default();
        let mut wire = Vec::new();
        writer.set_chunk_size(4096, &mut wire);
        let times = [0u32, 40, 0xFF_FFFE, 0xFF_FFFF, 0x1234_5678, u32::MAX];
        for (i, &time) in times.iter().enumerate() {
            // A tag header and a frame, written as two parts of one message.
            writer.write_parts(6, kind::VIDEO, 1, time, &[&[i as u8; 5], &vec![i as u8; 8995]], &mut wire);
            writer.write(400, kind::AUDIO, 1, time, &[i as u8; 10], &mut wire);
        }
        let mut deserializer = ChunkDeserializer::new();
        let mut got = Vec::new();
        let mut input: &[u8] = &wire;
        while let Some(message) = deserializer.get_next_message(input).unwrap() {
            input = &[];
            // That deserializer leaves Set Chunk Size to its caller.
            if message.type_id == kind::SET_CHUNK_SIZE {
                deserializer.set_max_chunk_size(4096).unwrap();
            }
            got.push(message);
        }
        let got: Vec<_> = got.iter().filter(|m| m.type_id != kind::SET_CHUNK_SIZE).map(|m| (m.type_id, m.timestamp.value, m.data.to_vec())).collect();
        let expected: Vec<_> =
            times.iter().enumerate().flat_map(|(i, &t)| [(kind::VIDEO, t, vec![i as u8; 9000]), (kind::AUDIO, t, vec![i as u8; 10])]).collect();
        assert_eq!(got, expected);
        // And this reader agrees.
        let mut reader = ChunkReader::new(1 << 20);
        let mut ours = Vec::new();
        reader.read(&wire, &mut ours).unwrap();
        let ours: Vec<_> = ours.iter().filter(|m| m.kind != kind::SET_CHUNK_SIZE).map(|m| (m.kind, m.timestamp, m.payload.to_vec())).collect();
        assert_eq!(ours, expected);
    }

    #[test]
    fn hostile_headers_are_errors_that_name_the_chunk_stream() {
        let mut reader = ChunkReader::new(1000);
        assert_eq!(reader.read(&[0xC5, 1, 2, 3], &mut Vec::new()), Err(ChunkError::NoHeader { csid: 5 }));
        let mut reader = ChunkReader::new(1000);
        let mut big = vec![0x04, 0, 0, 0, 0, 0x10, 0, kind::VIDEO, 1, 0, 0, 0];
        big.extend([0; 16]);
        assert_eq!(reader.read(&big, &mut Vec::new()), Err(ChunkError::TooLarge { csid: 4, length: 4096, limit: 1000 }));
        let mut reader = ChunkReader::new(1000);
        let zero_size = [0x02, 0, 0, 0, 0, 0, 4, kind::SET_CHUNK_SIZE, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(reader.read(&zero_size, &mut Vec::new()), Err(ChunkError::BadChunkSize(0)));
    }

    #[test]
    fn an_abort_drops_the_partial_message() {
        let mut writer = ChunkWriter::default();
        let mut wire = Vec::new();
        writer.write(6, kind::VIDEO, 1, 0, &[9; 200], &mut wire);
        let cut = 12 + DEFAULT_CHUNK_SIZE;
        let mut stream = wire[..cut].to_vec();
        writer.write(2, kind::ABORT, 0, 0, &6u32.to_be_bytes(), &mut stream);
        writer.write(6, kind::AUDIO, 1, 5, &[1; 3], &mut stream);
        let mut reader = ChunkReader::new(1 << 20);
        let mut got = Vec::new();
        reader.read(&stream, &mut got).unwrap();
        assert_eq!(got.iter().map(|m| m.kind).collect::<Vec<_>>(), vec![kind::ABORT, kind::AUDIO]);
        assert_eq!(got[1].payload.as_ref(), &[1, 1, 1]);
    }
}
