//! What both RTMP sides do with the chunk layer once the handshake is
//! over: read messages, acknowledge what arrived as the peer asked, and
//! answer its pings. The commands are each side's own.

use super::amf0::{self, Amf0};
use super::chunk::{ChunkError, ChunkReader, ChunkWriter, Message, kind};

/// Outgoing chunk stream of protocol control messages.
pub const CONTROL_CSID: u32 = 2;

pub struct ChunkSession {
    reader: ChunkReader,
    pub writer: ChunkWriter,
    /// What the peer asked to be acknowledged every so many bytes, and where the last ack was.
    peer_window: u32,
    acked: u64,
    /// The last read's message list, kept for its allocation.
    spare: Vec<Message>,
}

impl ChunkSession {
    pub fn new(max_incoming: usize) -> ChunkSession {
        ChunkSession { reader: ChunkReader::new(max_incoming), writer: ChunkWriter::default(), peer_window: 0, acked: 0, spare: Vec::new() }
    }

    /// The messages `bytes` complete; acknowledgements and pongs go to `out`.
    /// Hand the list back with [`ChunkSession::recycle`].
    pub fn read(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<Vec<Message>, ChunkError> {
        let mut messages = std::mem::take(&mut self.spare);
        self.reader.read(bytes, &mut messages)?;
        for message in &messages {
            let payload = &message.payload;
            let word = |at: usize| payload.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
            match message.kind {
                kind::WINDOW_ACK_SIZE => self.peer_window = word(0).unwrap_or(0),
                // A ping (event 6) is answered with a pong (7) carrying its time.
                kind::USER_CONTROL if payload.get(..2) == Some(&[0, 6]) => {
                    if let Some(time) = word(2) {
                        let mut pong = vec![0, 7];
                        pong.extend_from_slice(&time.to_be_bytes());
                        self.writer.write(CONTROL_CSID, kind::USER_CONTROL, 0, 0, &pong, out);
                    }
                }
                _ => {}
            }
        }
        let received = self.reader.received();
        if self.peer_window > 0 && received - self.acked >= u64::from(self.peer_window) {
            self.acked = received;
            self.writer.write(CONTROL_CSID, kind::ACKNOWLEDGEMENT, 0, 0, &(received as u32).to_be_bytes(), out);
        }
        Ok(messages)
    }

    /// An AMF0 command message of `values` (its name, its transaction, its arguments).
    pub fn write_command<'a>(&mut self, csid: u32, stream_id: u32, values: impl IntoIterator<Item = &'a Amf0>, out: &mut Vec<u8>) {
        let mut payload = Vec::new();
        amf0::encode(values, &mut payload);
        self.writer.write(csid, kind::AMF0_COMMAND, stream_id, 0, &payload, out);
    }

    pub fn recycle(&mut self, mut messages: Vec<Message>) {
        messages.clear();
        self.spare = messages;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledges_at_the_peers_window_and_answers_pings() {
        let mut peer = ChunkWriter::default();
        let mut wire = Vec::new();
        peer.write(2, kind::WINDOW_ACK_SIZE, 0, 0, &1000u32.to_be_bytes(), &mut wire);
        peer.write(2, kind::USER_CONTROL, 0, 0, &[0, 6, 0, 0, 0x12, 0x34], &mut wire);
        let mut session = ChunkSession::new(1 << 20);
        let mut out = Vec::new();
        let messages = session.read(&wire, &mut out).unwrap();
        session.recycle(messages);
        let mut answers = Vec::new();
        let mut reader = ChunkReader::new(1 << 20);
        reader.read(&out, &mut answers).unwrap();
        assert_eq!(answers.iter().map(|m| (m.kind, m.payload.to_vec())).collect::<Vec<_>>(), vec![(kind::USER_CONTROL, vec![0, 7, 0, 0, 0x12, 0x34])]);
        // 1000 bytes later (headers included), one acknowledgement with the count.
        let mut media = Vec::new();
        peer.write(6, kind::VIDEO, 1, 0, &[0; 1000], &mut media);
        out.clear();
        session.read(&media, &mut out).unwrap();
        answers.clear();
        reader.read(&out, &mut answers).unwrap();
        let total = (wire.len() + media.len()) as u32;
        assert_eq!(answers.iter().map(|m| (m.kind, m.payload.to_vec())).collect::<Vec<_>>(), vec![(kind::ACKNOWLEDGEMENT, total.to_be_bytes().to_vec())]);
    }
}
