//! Tracks MQTT packet boundaries in a client's byte stream so the front acceptor
//! can refuse an oversized packet before the broker buffers it. Pure.

/// Largest remaining-length MQTT can express (four 7-bit bytes).
const MAX_REMAINING_LENGTH: usize = 268_435_455;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("mqtt packet of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("mqtt remaining length is malformed")]
    Malformed,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Expecting the fixed header's first byte (packet type and flags).
    Type,
    /// Reading the remaining-length varint of a packet whose first byte was `kind`.
    Length { kind: u8, value: usize, shift: u32 },
    /// Skipping over `remaining` body bytes.
    Body { remaining: usize },
}

#[derive(Debug, Clone)]
pub struct FrameScanner {
    state: State,
    limit: usize,
}

impl FrameScanner {
    /// `limit` bounds a packet's remaining length (variable header plus payload).
    pub fn new(limit: usize) -> Self {
        Self {
            state: State::Type,
            limit,
        }
    }

    /// Consumes the next bytes of the stream and returns the topic-plus-payload bytes
    /// of the PUBLISH packets whose header it completed (what ingest will later take
    /// off the broker's link). After an error the stream must be closed.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<u64, FrameError> {
        let mut published = 0u64;
        while !bytes.is_empty() {
            match self.state {
                State::Type => {
                    let kind = bytes[0];
                    bytes = &bytes[1..];
                    self.state = State::Length {
                        kind,
                        value: 0,
                        shift: 0,
                    };
                }
                State::Length { kind, value, shift } => {
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    let value = value | (usize::from(b & 0x7f) << shift);
                    if b & 0x80 == 0 {
                        if value > self.limit {
                            return Err(FrameError::TooLarge {
                                size: value,
                                limit: self.limit,
                            });
                        }
                        published += publish_bytes(kind, value);
                        self.state = if value == 0 {
                            State::Type
                        } else {
                            State::Body { remaining: value }
                        };
                    } else if shift >= 21 || value > MAX_REMAINING_LENGTH {
                        return Err(FrameError::Malformed);
                    } else {
                        self.state = State::Length {
                            kind,
                            value,
                            shift: shift + 7,
                        };
                    }
                }
                State::Body { remaining } => {
                    let n = remaining.min(bytes.len());
                    bytes = &bytes[n..];
                    self.state = if n == remaining {
                        State::Type
                    } else {
                        State::Body {
                            remaining: remaining - n,
                        }
                    };
                }
            }
        }
        Ok(published)
    }
}

/// MQTT 3.1.1 PUBLISH: remaining length = 2 (topic length) + topic + 2 (packet id,
/// QoS 1 and 2 only) + payload. Other packets carry no publish bytes.
fn publish_bytes(first_byte: u8, remaining: usize) -> u64 {
    if first_byte >> 4 != 3 {
        return 0;
    }
    let packet_id = if (first_byte >> 1) & 0b11 > 0 { 2 } else { 0 };
    remaining.saturating_sub(2 + packet_id) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(body_len: usize) -> Vec<u8> {
        let mut p = vec![0x30];
        let mut n = body_len;
        loop {
            let mut b = (n % 128) as u8;
            n /= 128;
            if n > 0 {
                b |= 0x80;
            }
            p.push(b);
            if n == 0 {
                break;
            }
        }
        p.extend(std::iter::repeat_n(0xab, body_len));
        p
    }

    #[test]
    fn passes_packets_within_the_limit_in_any_chunking() {
        let stream: Vec<u8> = [0, 5, 127, 128, 16_383, 16_384, 100_000]
            .iter()
            .flat_map(|&n| packet(n))
            .collect();
        for chunk in [1, 2, 3, 7, 1000, stream.len()] {
            let mut s = FrameScanner::new(100_000);
            for c in stream.chunks(chunk) {
                s.feed(c).expect("within limit");
            }
            assert!(matches!(s.state, State::Type), "chunk {chunk}");
        }
    }

    #[test]
    fn refuses_an_oversized_packet_at_its_header() {
        let mut s = FrameScanner::new(1000);
        s.feed(&packet(10)).expect("small");
        let big = packet(1001);
        assert_eq!(
            s.feed(&big[..4]),
            Err(FrameError::TooLarge {
                size: 1001,
                limit: 1000
            })
        );
    }

    #[test]
    fn counts_topic_and_payload_bytes_of_publishes_only() {
        let mut s = FrameScanner::new(1 << 20);
        // QoS 1 PUBLISH, topic "a/b" (3), packet id, payload of 5: remaining 2+3+2+5 = 12.
        let qos1 = [0x32, 12, 0, 3, b'a', b'/', b'b', 0, 1, 1, 2, 3, 4, 5];
        // QoS 0 PUBLISH, topic "t", payload "xy": remaining 2+1+2 = 5.
        let qos0 = [0x30, 5, 0, 1, b't', b'x', b'y'];
        let pingreq = [0xc0, 0];
        assert_eq!(s.feed(&qos1), Ok(8));
        assert_eq!(s.feed(&pingreq), Ok(0));
        assert_eq!(s.feed(&qos0[..2]), Ok(3), "counted when the header is complete");
        assert_eq!(s.feed(&qos0[2..]), Ok(0));
    }

    #[test]
    fn refuses_a_five_byte_length() {
        let mut s = FrameScanner::new(usize::MAX);
        assert_eq!(
            s.feed(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(FrameError::Malformed)
        );
    }
}
