//! Tracks MQTT packet boundaries in a client's byte stream (after its CONNECT) so
//! the front acceptor can refuse an oversized packet before the broker buffers it,
//! and a PUBLISH whose topic the connection may not use before any of it is
//! forwarded. Pure; holds at most one packet header and topic. It also notes each
//! QoS 1 PUBLISH it has seen whole (packet id and content key), so that the front
//! can hold its PUBACK until the reads are recorded (`mqtt_settle`).

use crate::mqtt_connect::MAX_TOPIC_LEN;
use crate::mqtt_settle::{KeyDigest, PublishKey};

/// Largest remaining-length MQTT can express (four 7-bit bytes).
const MAX_REMAINING_LENGTH: usize = 268_435_455;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("mqtt packet of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("mqtt remaining length is malformed")]
    Malformed,
    #[error("publish topic of {len} bytes exceeds the limit of {limit}")]
    TopicTooLong { len: usize, limit: usize },
    #[error("publish topic is not allowed on this connection")]
    TopicRefused,
    #[error("a second CONNECT on one connection")]
    SecondConnect,
    #[error("subscription to a topic filter this connection may not read")]
    SubscribeRefused,
}

impl FrameError {
    /// The reason label counted in `waymark_rejected_total`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "oversized",
            Self::Malformed | Self::SecondConnect => "malformed_packet",
            Self::TopicTooLong { .. } => "topic_too_long",
            Self::TopicRefused => "device_mismatch",
            Self::SubscribeRefused => "subscribe_refused",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Expecting the fixed header's first byte (packet type and flags).
    Type,
    /// Reading the remaining-length varint of a packet whose first byte was `kind`.
    Length { kind: u8, value: usize, shift: u32 },
    /// Holding a PUBLISH's header until its topic is complete and checked.
    Topic { remaining: usize, header: usize },
    /// Skipping over `remaining` body bytes.
    Body { remaining: usize },
    /// Holding a whole SUBSCRIBE until its topic filters can be checked.
    Subscribe { remaining: usize, header: usize },
}

/// Largest SUBSCRIBE held for checking; a device subscribes to a few topics.
pub const MAX_SUBSCRIBE_BYTES: usize = 4096;

/// A QoS 1 PUBLISH seen whole: what its PUBACK will name, and its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qos1Publish {
    pub packet_id: u16,
    pub key: PublishKey,
}

/// Where the scanner is in a QoS 1 PUBLISH's body: packet id, then (MQTT 5) the
/// properties, then the payload, which goes into the content key.
#[derive(Debug, Clone)]
struct PublishTrack {
    id_bytes_left: u8,
    packet_id: u16,
    properties: Properties,
    digest: KeyDigest,
}

#[derive(Debug, Clone, Copy)]
enum Properties {
    Length { value: usize, shift: u32 },
    Skip(usize),
    Done,
    Malformed,
}

impl PublishTrack {
    fn new(topic: &[u8], v5: bool) -> Self {
        Self {
            id_bytes_left: 2,
            packet_id: 0,
            properties: if v5 {
                Properties::Length { value: 0, shift: 0 }
            } else {
                Properties::Done
            },
            digest: KeyDigest::new(topic),
        }
    }

    fn feed(&mut self, mut b: &[u8]) {
        while self.id_bytes_left > 0 {
            let Some((&first, rest)) = b.split_first() else { return };
            self.packet_id = self.packet_id << 8 | u16::from(first);
            self.id_bytes_left -= 1;
            b = rest;
        }
        loop {
            match self.properties {
                Properties::Length { value, shift } => {
                    let Some((&byte, rest)) = b.split_first() else { return };
                    b = rest;
                    let value = value | (usize::from(byte & 0x7f) << shift);
                    self.properties = if byte & 0x80 == 0 {
                        Properties::Skip(value)
                    } else if shift >= 21 {
                        Properties::Malformed
                    } else {
                        Properties::Length {
                            value,
                            shift: shift + 7,
                        }
                    };
                }
                Properties::Skip(0) => self.properties = Properties::Done,
                Properties::Skip(n) => {
                    if b.is_empty() {
                        return;
                    }
                    let k = n.min(b.len());
                    b = &b[k..];
                    self.properties = Properties::Skip(n - k);
                }
                Properties::Done => {
                    self.digest.feed(b);
                    return;
                }
                Properties::Malformed => return,
            }
        }
    }

    fn finish(self) -> Option<Qos1Publish> {
        let whole = self.id_bytes_left == 0 && matches!(self.properties, Properties::Done);
        whole.then(|| Qos1Publish {
            packet_id: self.packet_id,
            key: self.digest.finish(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct FrameScanner {
    state: State,
    limit: usize,
    /// MQTT 5 SUBSCRIBE packets carry properties before their filters.
    v5: bool,
    /// Bytes not yet released: a fixed header and, for a PUBLISH, its topic so far.
    held: Vec<u8>,
    /// The QoS 1 PUBLISH whose body is passing through.
    track: Option<PublishTrack>,
    /// QoS 1 PUBLISH packets completed since the last `take_qos1`.
    qos1: Vec<Qos1Publish>,
}

impl FrameScanner {
    /// `limit` bounds a packet's remaining length (variable header plus payload).
    pub fn new(limit: usize) -> Self {
        Self {
            state: State::Type,
            limit,
            v5: false,
            held: Vec::with_capacity(16),
            track: None,
            qos1: Vec::new(),
        }
    }

    /// The QoS 1 PUBLISH packets completed by the bytes fed so far, in stream order.
    /// Topics starting with `$` are left out: ingest's `#` subscription never sees
    /// them, so nothing would settle them.
    pub fn take_qos1(&mut self) -> Vec<Qos1Publish> {
        std::mem::take(&mut self.qos1)
    }

    /// For an MQTT 5 connection.
    pub fn mqtt5(mut self, v5: bool) -> Self {
        self.v5 = v5;
        self
    }

    /// `feed_checked` allowing every SUBSCRIBE.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<u8>,
        topic_allowed: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<u64, FrameError> {
        self.feed_checked(bytes, out, topic_allowed, &mut |_| true)
    }

    /// Consumes the next bytes of the stream, appends to `out` what may be forwarded
    /// so far, and returns the topic-plus-payload bytes of the PUBLISH packets whose
    /// header it completed (what ingest will later take off the broker's link). Each
    /// PUBLISH topic goes to `topic_allowed` before any byte of that packet is
    /// released; each SUBSCRIBE topic filter goes to `filter_allowed` before any
    /// byte of that SUBSCRIBE is. After an error the stream must be closed.
    pub fn feed_checked(
        &mut self,
        mut bytes: &[u8],
        out: &mut Vec<u8>,
        topic_allowed: &mut dyn FnMut(&[u8]) -> bool,
        filter_allowed: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<u64, FrameError> {
        let mut published = 0u64;
        while !bytes.is_empty() {
            match self.state {
                State::Type => {
                    let kind = bytes[0];
                    bytes = &bytes[1..];
                    if kind >> 4 == 1 {
                        return Err(FrameError::SecondConnect);
                    }
                    self.held.clear();
                    self.held.push(kind);
                    self.track = None;
                    self.state = State::Length {
                        kind,
                        value: 0,
                        shift: 0,
                    };
                }
                State::Length { kind, value, shift } => {
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    self.held.push(b);
                    let value = value | (usize::from(b & 0x7f) << shift);
                    if b & 0x80 == 0 {
                        if value > self.limit {
                            return Err(FrameError::TooLarge {
                                size: value,
                                limit: self.limit,
                            });
                        }
                        published += publish_bytes(kind, value);
                        if kind >> 4 == 3 {
                            if value < 2 {
                                return Err(FrameError::Malformed);
                            }
                            self.state = State::Topic {
                                remaining: value,
                                header: self.held.len(),
                            };
                            continue;
                        }
                        if kind >> 4 == 8 {
                            if value < 3 {
                                return Err(FrameError::Malformed);
                            }
                            if value > MAX_SUBSCRIBE_BYTES {
                                return Err(FrameError::TooLarge {
                                    size: value,
                                    limit: MAX_SUBSCRIBE_BYTES,
                                });
                            }
                            self.state = State::Subscribe {
                                remaining: value,
                                header: self.held.len(),
                            };
                            continue;
                        }
                        out.append(&mut self.held);
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
                State::Topic { remaining, header } => {
                    let topic_len = |held: &[u8]| {
                        held.get(header..header + 2)
                            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
                    };
                    let got = self.held.len() - header;
                    let want = 2 + topic_len(&self.held).unwrap_or(0);
                    let n = (want - got).min(bytes.len());
                    self.held.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    let Some(len) = topic_len(&self.held) else { continue };
                    if len > MAX_TOPIC_LEN {
                        return Err(FrameError::TopicTooLong {
                            len,
                            limit: MAX_TOPIC_LEN,
                        });
                    }
                    if 2 + len > remaining {
                        return Err(FrameError::Malformed);
                    }
                    let got = self.held.len() - header;
                    if got < 2 + len {
                        continue;
                    }
                    let topic = &self.held[header + 2..];
                    if !topic_allowed(topic) {
                        return Err(FrameError::TopicRefused);
                    }
                    let qos = (self.held[0] >> 1) & 0b11;
                    self.track = (qos == 1 && remaining > got && !topic.starts_with(b"$"))
                        .then(|| PublishTrack::new(topic, self.v5));
                    out.append(&mut self.held);
                    self.state = if remaining == got {
                        State::Type
                    } else {
                        State::Body {
                            remaining: remaining - got,
                        }
                    };
                }
                State::Subscribe { remaining, header } => {
                    let got = self.held.len() - header;
                    let n = (remaining - got).min(bytes.len());
                    self.held.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    if self.held.len() - header < remaining {
                        continue;
                    }
                    let filters = subscribe_filters(&self.held[header..], self.v5).ok_or(FrameError::Malformed)?;
                    if !filters.iter().all(|f| filter_allowed(f)) {
                        return Err(FrameError::SubscribeRefused);
                    }
                    out.append(&mut self.held);
                    self.state = State::Type;
                }
                State::Body { remaining } => {
                    let n = remaining.min(bytes.len());
                    out.extend_from_slice(&bytes[..n]);
                    if let Some(track) = &mut self.track {
                        track.feed(&bytes[..n]);
                    }
                    bytes = &bytes[n..];
                    self.state = if n == remaining {
                        if let Some(p) = self.track.take().and_then(PublishTrack::finish) {
                            self.qos1.push(p);
                        }
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

/// The topic filters of a SUBSCRIBE body (packet id, MQTT 5 properties, then
/// filter and options pairs); `None` if it is malformed or names none.
fn subscribe_filters(body: &[u8], v5: bool) -> Option<Vec<&[u8]>> {
    let mut at = 2;
    if v5 {
        let (mut len, mut shift) = (0usize, 0u32);
        loop {
            let b = *body.get(at)?;
            at += 1;
            len |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 21 {
                return None;
            }
        }
        at = at.checked_add(len)?;
    }
    let mut filters = Vec::new();
    while at < body.len() {
        let len = usize::from(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]));
        let filter = body.get(at + 2..at + 2 + len)?;
        body.get(at + 2 + len)?;
        filters.push(filter);
        at += 3 + len;
    }
    (!filters.is_empty() && at == body.len()).then_some(filters)
}

/// Appends MQTT's variable-length "remaining length" encoding of `n`.
pub fn encode_remaining_length(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `bytes` allowing every topic; returns the publish bytes and what was forwarded.
    fn feed(s: &mut FrameScanner, bytes: &[u8]) -> Result<(u64, Vec<u8>), FrameError> {
        let mut out = Vec::new();
        s.feed(bytes, &mut out, &mut |_| true).map(|n| (n, out))
    }

    fn publish(topic: &str, qos1: bool, payload: &[u8]) -> Vec<u8> {
        let mut body = (topic.len() as u16).to_be_bytes().to_vec();
        body.extend_from_slice(topic.as_bytes());
        if qos1 {
            body.extend_from_slice(&[0, 7]);
        }
        body.extend_from_slice(payload);
        let mut p = vec![if qos1 { 0x32 } else { 0x30 }];
        encode_remaining_length(body.len(), &mut p);
        p.extend(body);
        p
    }

    /// A PUBLISH-typed packet whose body is `body_len` bytes with a zero-length topic.
    fn packet(body_len: usize) -> Vec<u8> {
        let mut p = vec![0x30];
        encode_remaining_length(body_len, &mut p);
        p.extend(std::iter::repeat_n(0xab, body_len));
        if body_len >= 2 {
            let at = p.len() - body_len;
            p[at] = 0;
            p[at + 1] = 0;
        }
        p
    }

    #[test]
    fn passes_packets_within_the_limit_in_any_chunking() {
        let stream: Vec<u8> = [2, 5, 127, 128, 16_383, 16_384, 100_000]
            .iter()
            .flat_map(|&n| packet(n))
            .collect();
        for chunk in [1, 2, 3, 7, 1000, stream.len()] {
            let mut s = FrameScanner::new(100_000);
            let mut forwarded = Vec::new();
            for c in stream.chunks(chunk) {
                forwarded.extend(feed(&mut s, c).expect("within limit").1);
            }
            assert!(matches!(s.state, State::Type), "chunk {chunk}");
            assert_eq!(forwarded, stream, "chunk {chunk}");
        }
    }

    #[test]
    fn refuses_an_oversized_packet_at_its_header() {
        let mut s = FrameScanner::new(1000);
        feed(&mut s, &packet(10)).expect("small");
        let big = packet(1001);
        assert_eq!(
            feed(&mut s, &big[..4]),
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
        assert_eq!(feed(&mut s, &qos1).map(|r| r.0), Ok(8));
        assert_eq!(feed(&mut s, &pingreq).map(|r| r.0), Ok(0));
        assert_eq!(
            feed(&mut s, &qos0[..2]),
            Ok((3, Vec::new())),
            "counted when the header is complete, held until the topic is"
        );
        assert_eq!(feed(&mut s, &qos0[2..]).map(|r| r.1), Ok(qos0.to_vec()));
    }

    #[test]
    fn refuses_a_five_byte_length() {
        let mut s = FrameScanner::new(usize::MAX);
        assert_eq!(
            feed(&mut s, &[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]),
            Err(FrameError::Malformed)
        );
    }

    #[test]
    fn a_refused_topic_releases_nothing_of_its_packet() {
        let ok = publish("waymark/dc-1/door-3/reads", true, b"{}");
        let bad = publish("waymark/dc-1/door-4/reads", true, b"{}");
        let stream = [ok.clone(), bad.clone(), ok.clone()].concat();
        let mut s = FrameScanner::new(1 << 20);
        let mut out = Vec::new();
        let mut seen = Vec::new();
        let r = s.feed(&stream, &mut out, &mut |t| {
            seen.push(t.to_vec());
            t.ends_with(b"door-3/reads")
        });
        assert_eq!(r, Err(FrameError::TopicRefused));
        assert_eq!(out, ok, "only the allowed packet before it");
        assert_eq!(seen.len(), 2);
    }

    #[test]
    fn refuses_long_topics_a_second_connect_and_truncated_publishes() {
        let mut s = FrameScanner::new(1 << 20);
        let long = publish(&"t".repeat(MAX_TOPIC_LEN + 1), false, b"");
        assert!(matches!(feed(&mut s, &long), Err(FrameError::TopicTooLong { .. })));
        let mut s = FrameScanner::new(1 << 20);
        assert_eq!(feed(&mut s, &[0x10, 0]), Err(FrameError::SecondConnect));
        let mut s = FrameScanner::new(1 << 20);
        assert_eq!(feed(&mut s, &[0x30, 3, 0, 9, b'a']), Err(FrameError::Malformed));
        let mut s = FrameScanner::new(1 << 20);
        assert_eq!(feed(&mut s, &[0x30, 1, 0]), Err(FrameError::Malformed));
    }

    fn subscribe(v5: bool, filters: &[&str]) -> Vec<u8> {
        let mut body = vec![0, 9];
        if v5 {
            body.extend_from_slice(&[2, 0x0b, 7]); // properties: subscription identifier 7
        }
        for f in filters {
            body.extend_from_slice(&(f.len() as u16).to_be_bytes());
            body.extend_from_slice(f.as_bytes());
            body.push(1);
        }
        let mut p = vec![0x82];
        encode_remaining_length(body.len(), &mut p);
        p.extend(body);
        p
    }

    #[test]
    fn subscribe_filters_are_checked_before_the_packet_is_released() {
        for v5 in [false, true] {
            let packet = subscribe(v5, &["waymark/s/door-3/cmd", "waymark/s/door-3/#"]);
            for chunk in [1, 3, packet.len()] {
                let mut s = FrameScanner::new(1 << 20).mqtt5(v5);
                let (mut out, mut seen) = (Vec::new(), Vec::new());
                for c in packet.chunks(chunk) {
                    s.feed_checked(c, &mut out, &mut |_| true, &mut |f| {
                        seen.push(String::from_utf8_lossy(f).into_owned());
                        true
                    })
                    .expect("allowed");
                }
                assert_eq!(out, packet, "v5 {v5}, chunk {chunk}");
                assert_eq!(seen, ["waymark/s/door-3/cmd", "waymark/s/door-3/#"]);
            }
            let mut s = FrameScanner::new(1 << 20).mqtt5(v5);
            let mut out = Vec::new();
            let refused = s.feed_checked(
                &subscribe(v5, &["waymark/s/door-3/cmd", "#"]),
                &mut out,
                &mut |_| true,
                &mut |f| f != b"#",
            );
            assert_eq!(refused, Err(FrameError::SubscribeRefused));
            assert!(out.is_empty(), "nothing of a refused SUBSCRIBE is forwarded");
        }
        let mut s = FrameScanner::new(1 << 20);
        let mut out = Vec::new();
        let empty = [0x82, 2, 0, 9];
        assert_eq!(
            s.feed_checked(&empty, &mut out, &mut |_| true, &mut |_| true),
            Err(FrameError::Malformed)
        );
        let huge = subscribe(false, &[&"a".repeat(MAX_SUBSCRIBE_BYTES)]);
        let mut s = FrameScanner::new(1 << 20);
        assert!(matches!(
            s.feed_checked(&huge, &mut out, &mut |_| true, &mut |_| true),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn notes_qos1_publishes_with_their_id_and_content_past_mqtt5_properties() {
        // MQTT 5: topic, packet id 0x0102, 4 bytes of properties (content type "a":
        // 0x03, length 0x0001, 'a'), then the payload.
        let topic = b"waymark/dc/door-3/reads";
        let mut body = (topic.len() as u16).to_be_bytes().to_vec();
        body.extend_from_slice(topic);
        body.extend_from_slice(&[1, 2, 4, 0x03, 0x00, 0x01, b'a']);
        body.extend_from_slice(b"payload");
        let mut packet = vec![0x32];
        encode_remaining_length(body.len(), &mut packet);
        packet.extend(body);
        for chunk in 1..packet.len() {
            let mut s = FrameScanner::new(1 << 20).mqtt5(true);
            let mut out = Vec::new();
            for c in packet.chunks(chunk) {
                s.feed(c, &mut out, &mut |_| true).expect("valid");
            }
            let expected = Qos1Publish {
                packet_id: 0x0102,
                key: PublishKey::of(topic, b"payload"),
            };
            assert_eq!(s.take_qos1(), [expected], "chunks of {chunk}");
            assert!(s.take_qos1().is_empty(), "reported once");
        }
    }

    #[test]
    fn qos0_and_dollar_topics_are_not_held() {
        let mut s = FrameScanner::new(1 << 20);
        let mut out = Vec::new();
        let stream = [publish("a/b", false, b"x"), publish("$SYS/x", true, b"y")].concat();
        s.feed(&stream, &mut out, &mut |_| true).expect("valid");
        assert!(s.take_qos1().is_empty());
    }

    proptest! {
        #[test]
        fn forwards_exactly_the_allowed_stream_in_any_chunking(
            packets in proptest::collection::vec(("[a-z/]{0,40}", any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 1..8),
            chunk in 1usize..64,
        ) {
            let stream: Vec<u8> = packets.iter().flat_map(|(t, q, p)| publish(t, *q, p)).collect();
            let mut s = FrameScanner::new(1 << 20);
            let (mut out, mut topics) = (Vec::new(), Vec::new());
            for c in stream.chunks(chunk) {
                s.feed(c, &mut out, &mut |t| { topics.push(String::from_utf8_lossy(t).into_owned()); true }).expect("valid");
            }
            prop_assert_eq!(out, stream);
            prop_assert_eq!(topics, packets.iter().map(|(t, _, _)| t.clone()).collect::<Vec<_>>());
            let qos1: Vec<Qos1Publish> = packets
                .iter()
                .filter(|(_, q, _)| *q)
                .map(|(t, _, p)| Qos1Publish { packet_id: 7, key: PublishKey::of(t.as_bytes(), p) })
                .collect();
            prop_assert_eq!(s.take_qos1(), qos1);
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600), chunk in 1usize..64) {
            let mut s = FrameScanner::new(4096);
            let mut out = Vec::new();
            for c in bytes.chunks(chunk) {
                if s.feed_checked(c, &mut out, &mut |t| t.len() % 2 == 0, &mut |f| f.len() % 3 == 0).is_err() {
                    break;
                }
            }
            let mut s = FrameScanner::new(4096).mqtt5(true);
            for c in bytes.chunks(chunk) {
                if s.feed_checked(c, &mut out, &mut |_| true, &mut |_| true).is_err() {
                    break;
                }
            }
        }
    }
}
