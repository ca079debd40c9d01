//! The first packet of a device connection: a pure parser for MQTT 3.1.1 and 5
//! CONNECT packets, the CONNACK refusals the front acceptor answers with, and the
//! rewrite that forwards an accepted CONNECT to the embedded broker (client id
//! moved into the device's namespace, credentials removed). Every length is checked
//! against the packet before it is used; nothing here panics on input.

use std::ops::Range;

/// Largest CONNECT accepted (remaining length). Devices send a few hundred bytes;
/// a will message is the only large part and readers do not need a big one.
pub const MAX_CONNECT_BYTES: usize = 16 * 1024;
/// Longest client id the front accepts (MQTT guarantees 23; readers use longer ones).
/// The parser only bounds it by the packet, so the refusal can be a CONNACK.
pub const MAX_CLIENT_ID_LEN: usize = 128;
/// Longest username accepted; device ids are at most 64 bytes.
pub const MAX_USERNAME_LEN: usize = 128;
/// Longest password accepted.
pub const MAX_PASSWORD_LEN: usize = 256;
/// Longest topic (publish or will) accepted from a device.
pub const MAX_TOPIC_LEN: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V311,
    V5,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    #[error("the first packet is not CONNECT (type {0})")]
    NotConnect(u8),
    #[error("CONNECT is malformed: {0}")]
    Malformed(&'static str),
    #[error("CONNECT field `{field}` is {len} bytes, longer than {limit}")]
    TooLong {
        field: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("protocol level {0} is not MQTT 3.1.1 (4) or 5")]
    UnsupportedProtocol(u8),
}

/// Why a connection is refused, mapped to each version's CONNACK code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    UnsupportedProtocol,
    ClientIdRejected,
    BadCredentials,
    NotAuthorized,
}

impl Refusal {
    fn code(self, v: Version) -> u8 {
        match (self, v) {
            (Self::UnsupportedProtocol, Version::V311) => 0x01,
            (Self::ClientIdRejected, Version::V311) => 0x02,
            (Self::BadCredentials, Version::V311) => 0x04,
            (Self::NotAuthorized, Version::V311) => 0x05,
            (Self::UnsupportedProtocol, Version::V5) => 0x84,
            (Self::ClientIdRejected, Version::V5) => 0x85,
            (Self::BadCredentials, Version::V5) => 0x86,
            (Self::NotAuthorized, Version::V5) => 0x87,
        }
    }
}

/// The CONNACK refusing a connection (session present 0, no properties).
pub fn connack_refusal(version: Version, refusal: Refusal) -> Vec<u8> {
    match version {
        Version::V311 => vec![0x20, 2, 0, refusal.code(version)],
        Version::V5 => vec![0x20, 3, 0, refusal.code(version), 0],
    }
}

/// A parsed CONNECT, borrowing from the packet it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect<'a> {
    pub version: Version,
    pub clean_start: bool,
    pub client_id: &'a str,
    pub will_topic: Option<&'a str>,
    pub username: Option<&'a str>,
    pub password: Option<&'a [u8]>,
    /// Where the connect flags byte and the client id field (with its length) are in the packet.
    flags_at: usize,
    client_id_at: Range<usize>,
    /// Where the username (or else the password) starts: everything after is credentials.
    credentials_at: usize,
}

/// The fixed header at the start of `buf`: `(header length, remaining length)`, or
/// `None` while more bytes are needed.
pub fn fixed_header(buf: &[u8]) -> Result<Option<(usize, usize)>, ConnectError> {
    let mut value = 0usize;
    for i in 0..4 {
        let Some(&b) = buf.get(1 + i) else { return Ok(None) };
        value |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((2 + i, value)));
        }
    }
    Err(ConnectError::Malformed("remaining length longer than four bytes"))
}

/// Reads the packet front to back; each read checks its bounds.
struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ConnectError> {
        let end = self.at.checked_add(n).ok_or(ConnectError::Malformed(what))?;
        let s = self.buf.get(self.at..end).ok_or(ConnectError::Malformed(what))?;
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, ConnectError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, ConnectError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn binary(&mut self, what: &'static str, limit: usize) -> Result<&'a [u8], ConnectError> {
        let len = usize::from(self.u16(what)?);
        if len > limit {
            return Err(ConnectError::TooLong {
                field: what,
                len,
                limit,
            });
        }
        self.take(len, what)
    }

    fn string(&mut self, what: &'static str, limit: usize) -> Result<&'a str, ConnectError> {
        let b = self.binary(what, limit)?;
        let s = std::str::from_utf8(b).map_err(|_| ConnectError::Malformed("a string is not UTF-8"))?;
        if s.contains('\0') {
            return Err(ConnectError::Malformed("a string contains U+0000"));
        }
        Ok(s)
    }

    /// An MQTT 5 property block: its varint length, then skipped.
    fn properties(&mut self, what: &'static str) -> Result<(), ConnectError> {
        let mut len = 0usize;
        for i in 0..4 {
            let b = self.u8(what)?;
            len |= usize::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.take(len, what)?;
                return Ok(());
            }
        }
        Err(ConnectError::Malformed(what))
    }
}

/// Parses a whole CONNECT packet (fixed header included).
pub fn parse_connect(packet: &[u8]) -> Result<Connect<'_>, ConnectError> {
    let first = *packet.first().ok_or(ConnectError::Malformed("empty packet"))?;
    if first >> 4 != 1 {
        return Err(ConnectError::NotConnect(first >> 4));
    }
    if first != 0x10 {
        return Err(ConnectError::Malformed("reserved fixed header flags are set"));
    }
    let (header, remaining) = fixed_header(packet)?.ok_or(ConnectError::Malformed("truncated fixed header"))?;
    if header + remaining != packet.len() {
        return Err(ConnectError::Malformed("remaining length does not match the packet"));
    }
    let mut c = Cursor {
        buf: packet,
        at: header,
    };
    let name = c.binary("protocol name", 6)?;
    let level = c.u8("protocol level")?;
    let version = match (name, level) {
        (b"MQTT", 4) => Version::V311,
        (b"MQTT", 5) => Version::V5,
        (b"MQTT" | b"MQIsdp", other) => return Err(ConnectError::UnsupportedProtocol(other)),
        _ => return Err(ConnectError::Malformed("protocol name is not MQTT")),
    };
    let flags_at = c.at;
    let flags = c.u8("connect flags")?;
    if flags & 0x01 != 0 {
        return Err(ConnectError::Malformed("reserved connect flag is set"));
    }
    let (has_user, has_pass, will) = (flags & 0x80 != 0, flags & 0x40 != 0, flags & 0x04 != 0);
    let will_qos = (flags >> 3) & 0b11;
    if will_qos == 3 || (!will && (will_qos != 0 || flags & 0x20 != 0)) {
        return Err(ConnectError::Malformed("will flags are inconsistent"));
    }
    if version == Version::V311 && has_pass && !has_user {
        return Err(ConnectError::Malformed("password without username"));
    }
    c.u16("keep alive")?;
    if version == Version::V5 {
        c.properties("connect properties")?;
    }
    let id_start = c.at;
    let client_id = c.string("client id", MAX_CONNECT_BYTES)?;
    let client_id_at = id_start..c.at;
    let will_topic = if will {
        if version == Version::V5 {
            c.properties("will properties")?;
        }
        let topic = c.string("will topic", MAX_TOPIC_LEN)?;
        c.binary("will payload", MAX_CONNECT_BYTES)?;
        Some(topic)
    } else {
        None
    };
    let credentials_at = c.at;
    let username = if has_user {
        Some(c.string("username", MAX_USERNAME_LEN)?)
    } else {
        None
    };
    let password = if has_pass {
        Some(c.binary("password", MAX_PASSWORD_LEN)?)
    } else {
        None
    };
    if c.at != packet.len() {
        return Err(ConnectError::Malformed("bytes after the last field"));
    }
    Ok(Connect {
        version,
        clean_start: flags & 0x02 != 0,
        client_id,
        will_topic,
        username,
        password,
        flags_at,
        client_id_at,
        credentials_at,
    })
}

impl Connect<'_> {
    /// The CONNECT to forward to the broker: the same packet with `client_id` in
    /// place of the device's, and the front's own login (`username`, `password`)
    /// in place of the device's credentials.
    pub fn rewrite(&self, packet: &[u8], client_id: &str, login: (&str, &str)) -> Vec<u8> {
        let (header, _) = fixed_header(packet).ok().flatten().unwrap_or((packet.len(), 0));
        let id_len = client_id.len().min(usize::from(u16::MAX));
        let mut body = Vec::with_capacity(packet.len() + id_len);
        body.extend_from_slice(packet.get(header..self.client_id_at.start).unwrap_or_default());
        if let Some(flags) = self.flags_at.checked_sub(header).and_then(|i| body.get_mut(i)) {
            *flags |= 0xc0;
        }
        body.extend_from_slice(&(id_len as u16).to_be_bytes());
        body.extend_from_slice(&client_id.as_bytes()[..id_len]);
        body.extend_from_slice(
            packet
                .get(self.client_id_at.end..self.credentials_at)
                .unwrap_or_default(),
        );
        for field in [login.0.as_bytes(), login.1.as_bytes()] {
            let len = field.len().min(usize::from(u16::MAX));
            body.extend_from_slice(&(len as u16).to_be_bytes());
            body.extend_from_slice(&field[..len]);
        }
        let mut out = Vec::with_capacity(body.len() + 5);
        out.push(0x10);
        crate::mqtt_frame::encode_remaining_length(body.len(), &mut out);
        out.extend_from_slice(&body);
        out
    }
}

/// Builds CONNECT packets for tests (here and in the proptests).
#[cfg(test)]
pub(crate) mod build {
    #[derive(Debug, Clone, Default)]
    pub struct Spec {
        pub v5: bool,
        pub clean: bool,
        pub client_id: String,
        pub will: Option<(String, Vec<u8>)>,
        pub username: Option<String>,
        pub password: Option<Vec<u8>>,
    }

    fn field(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&(b.len() as u16).to_be_bytes());
        out.extend_from_slice(b);
    }

    pub fn connect(s: &Spec) -> Vec<u8> {
        let mut body = Vec::new();
        field(&mut body, b"MQTT");
        body.push(if s.v5 { 5 } else { 4 });
        let mut flags = 0u8;
        if s.clean {
            flags |= 0x02;
        }
        if s.will.is_some() {
            flags |= 0x04 | 0x08;
        }
        if s.username.is_some() {
            flags |= 0x80;
        }
        if s.password.is_some() {
            flags |= 0x40;
        }
        body.push(flags);
        body.extend_from_slice(&[0, 30]);
        if s.v5 {
            // Session expiry interval property (0x11, four bytes).
            body.extend_from_slice(&[5, 0x11, 0, 0, 0, 60]);
        }
        field(&mut body, s.client_id.as_bytes());
        if let Some((topic, payload)) = &s.will {
            if s.v5 {
                body.push(0);
            }
            field(&mut body, topic.as_bytes());
            field(&mut body, payload);
        }
        if let Some(u) = &s.username {
            field(&mut body, u.as_bytes());
        }
        if let Some(p) = &s.password {
            field(&mut body, p);
        }
        let mut out = vec![0x10];
        crate::mqtt_frame::encode_remaining_length(body.len(), &mut out);
        out.extend_from_slice(&body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::build::{Spec, connect};
    use super::*;
    use proptest::prelude::*;

    fn device(v5: bool) -> Spec {
        Spec {
            v5,
            clean: true,
            client_id: "reader-7".into(),
            will: Some(("waymark/dc-1/door-3/status".into(), b"gone".to_vec())),
            username: Some("door-3".into()),
            password: Some(b"s3cret".to_vec()),
        }
    }

    #[test]
    fn parses_both_versions() {
        for v5 in [false, true] {
            let p = connect(&device(v5));
            let c = parse_connect(&p).expect("valid");
            assert_eq!(c.version, if v5 { Version::V5 } else { Version::V311 });
            assert_eq!(c.client_id, "reader-7");
            assert_eq!(c.will_topic, Some("waymark/dc-1/door-3/status"));
            assert_eq!((c.username, c.password), (Some("door-3"), Some(&b"s3cret"[..])));
            assert!(c.clean_start);
        }
    }

    #[test]
    fn the_broker_gets_a_namespaced_client_id_and_the_fronts_login_not_the_devices() {
        for v5 in [false, true] {
            let original = connect(&device(v5));
            let c = parse_connect(&original).expect("valid");
            let forwarded = c.rewrite(&original, "door-3:reader-7", ("front", "f-secret"));
            let f = parse_connect(&forwarded).expect("still a valid CONNECT");
            assert_eq!(f.client_id, "door-3:reader-7");
            assert_eq!((f.username, f.password), (Some("front"), Some(&b"f-secret"[..])));
            assert_eq!(f.will_topic, c.will_topic);
            assert_eq!(f.version, c.version);
            assert!(!forwarded.windows(6).any(|w| w == b"s3cret"));
        }
    }

    #[test]
    fn refuses_what_is_not_a_sane_connect() {
        let good = connect(&device(false));
        assert_eq!(parse_connect(&[0x30, 0]), Err(ConnectError::NotConnect(3)));
        assert!(matches!(
            parse_connect(&good[..good.len() - 1]),
            Err(ConnectError::Malformed(_))
        ));
        let mut reserved = good.clone();
        reserved[9] |= 0x01;
        assert!(matches!(parse_connect(&reserved), Err(ConnectError::Malformed(_))));
        let mut level = good.clone();
        level[8] = 3;
        assert_eq!(parse_connect(&level), Err(ConnectError::UnsupportedProtocol(3)));
        let long_user = Spec {
            username: Some("x".repeat(MAX_USERNAME_LEN + 1)),
            ..device(false)
        };
        assert!(matches!(
            parse_connect(&connect(&long_user)),
            Err(ConnectError::TooLong { field: "username", .. })
        ));
        let pass_only = Spec {
            username: None,
            ..device(false)
        };
        assert!(parse_connect(&connect(&pass_only)).is_err(), "3.1.1 forbids it");
        assert!(
            parse_connect(&connect(&Spec { v5: true, ..pass_only })).is_ok(),
            "5 allows it"
        );
    }

    #[test]
    fn connack_codes_per_version() {
        assert_eq!(
            connack_refusal(Version::V311, Refusal::BadCredentials),
            [0x20, 2, 0, 0x04]
        );
        assert_eq!(
            connack_refusal(Version::V311, Refusal::NotAuthorized),
            [0x20, 2, 0, 0x05]
        );
        assert_eq!(
            connack_refusal(Version::V5, Refusal::BadCredentials),
            [0x20, 3, 0, 0x86, 0]
        );
        assert_eq!(
            connack_refusal(Version::V5, Refusal::NotAuthorized),
            [0x20, 3, 0, 0x87, 0]
        );
    }

    fn spec() -> impl Strategy<Value = Spec> {
        (
            any::<bool>(),
            any::<bool>(),
            "[a-z0-9:-]{0,40}",
            proptest::option::of(("[a-z/]{1,40}", proptest::collection::vec(any::<u8>(), 0..64))),
            proptest::option::of("[a-z0-9-]{1,64}"),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
        )
            .prop_map(|(v5, clean, client_id, will, username, password)| Spec {
                v5,
                clean,
                client_id,
                will,
                password: password.filter(|_| v5 || username.is_some()),
                username,
            })
    }

    proptest! {
        #[test]
        fn round_trips_and_rewrites(s in spec(), new_id in "[a-z0-9:-]{0,100}") {
            let p = connect(&s);
            let c = parse_connect(&p).expect("built valid");
            prop_assert_eq!(c.client_id, s.client_id.as_str());
            prop_assert_eq!(c.username, s.username.as_deref());
            prop_assert_eq!(c.password, s.password.as_deref());
            prop_assert_eq!(c.will_topic, s.will.as_ref().map(|(t, _)| t.as_str()));
            let f = c.rewrite(&p, &new_id, ("front", "pw"));
            let f = parse_connect(&f).expect("rewrite valid");
            prop_assert_eq!(f.client_id, new_id.as_str());
            prop_assert_eq!((f.username, f.password), (Some("front"), Some(&b"pw"[..])));
            prop_assert_eq!(f.will_topic, c.will_topic);
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            parse_connect(&bytes).ok();
            fixed_header(&bytes).ok();
        }

        #[test]
        fn never_panics_on_a_damaged_connect(s in spec(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
            let mut p = connect(&s);
            let i = at.index(p.len());
            p[i] = byte;
            let n = cut.index(p.len() + 1);
            if let Ok(c) = parse_connect(&p[..n]) {
                let f = c.rewrite(&p[..n], "x:y", ("front", "pw"));
                prop_assert!(parse_connect(&f).is_ok());
            }
        }
    }
}
