use proptest::prelude::*;

use super::*;
use crate::read::IdentifierKind;

fn framer(terminator: Terminator) -> Framer {
    Framer::new(FramingConfig {
        terminator,
        ..FramingConfig::default()
    })
}

/// Each result as the first identifier's value or the error's reason.
fn summary(results: Vec<Result<ScannedCode, FrameError>>) -> Vec<String> {
    results
        .into_iter()
        .map(|r| match r {
            Ok(code) => code.identifiers().first().map(|i| i.value.clone()).unwrap_or_default(),
            Err(e) => format!("!{}", e.reason()),
        })
        .collect()
}

#[test]
fn line_endings_of_every_kind_and_empty_lines() {
    let mut f = framer(Terminator::Line);
    let out = summary(f.push(b"]C100106141412345678908\r\nSO-1\n\r\nSO-2\rSO-3"));
    assert_eq!(out, ["106141412345678908", "SO-1", "SO-2"]);
    assert_eq!(f.pending(), 4);
    assert_eq!(summary(f.push(b"\r\n")), ["SO-3"]);
    assert_eq!(
        f.stats(),
        FramerStats {
            frames: 4,
            empty: 1,
            rejected: 0
        }
    );
}

#[test]
fn strict_line_modes() {
    assert_eq!(summary(framer(Terminator::Cr).push(b"A\r\nB\r")), ["A", "B"]);
    assert_eq!(summary(framer(Terminator::Cr).push(b"A\nB\r")), ["!control_character"]);
    assert_eq!(summary(framer(Terminator::Lf).push(b"A\r\nB\n")), ["A", "B"]);
    assert_eq!(
        summary(framer(Terminator::CrLf).push(b"A\nB\r\n")),
        ["!control_character"]
    );
    assert_eq!(summary(framer(Terminator::CrLf).push(b"A\r\nB\r\n")), ["A", "B"]);
}

#[test]
fn stx_etx_framing() {
    let mut f = framer(Terminator::Etx { require_stx: true });
    let out = summary(f.push(b"\x02SO-1\x03\r\n\x02SO-2\x03junk\x03\x02SO-3\x02SO-4\x03"));
    assert_eq!(out, ["SO-1", "SO-2", "!missing_stx", "!unterminated_frame", "SO-4"]);
    let mut lenient = framer(Terminator::Etx { require_stx: false });
    assert_eq!(summary(lenient.push(b"SO-1\x03\r\n\x02SO-2\x03")), ["SO-1", "SO-2"]);
}

#[test]
fn overlong_frame_is_reported_once_and_framing_resyncs() {
    let mut f = Framer::new(FramingConfig {
        max_frame_len: 8,
        ..FramingConfig::default()
    });
    let out = summary(f.push(b"0123456789ABCDEF\r\nSO-1\r\n"));
    assert_eq!(out, ["!frame_too_long", "SO-1"]);
    assert_eq!(summary(f.push(b"12345678\r\n")), ["12345678"]);
    assert_eq!(f.stats().rejected, 1);
}

#[test]
fn prefix_suffix_fixed_length_and_bad_bytes() {
    let mut f = Framer::new(FramingConfig {
        prefix: b"S1:".to_vec(),
        suffix: b"#".to_vec(),
        ..FramingConfig::default()
    });
    assert_eq!(summary(f.push(b"S1:SO-1#\r\nSO-2\r\nS1:#\r\n")), ["SO-1", "SO-2"]);
    assert_eq!(f.stats().empty, 1);
    let n = NonZeroU16::new(4).expect("non-zero");
    assert_eq!(
        summary(framer(Terminator::FixedLength(n)).push(b"AB12CD34EF")),
        ["AB12", "CD34"]
    );
    assert_eq!(summary(framer(Terminator::Line).push(b"SO-\xff\r\n")), ["!not_utf8"]);
}

#[test]
fn scans_keep_their_symbology_and_content() {
    let mut f = framer(Terminator::Line);
    let out = f.push(b"]E04006381333931\r\n]Q1https://id.gs1.org/00/106141412345678908\r\n");
    let kinds: Vec<_> = out
        .iter()
        .map(|r| r.as_ref().map(|c| (c.symbology, c.identifiers()[0].kind)))
        .collect();
    assert_eq!(
        kinds,
        [
            Ok((scan::Symbology::EanUpc, IdentifierKind::Barcode)),
            Ok((scan::Symbology::QrCode, IdentifierKind::Sscc))
        ]
    );
}

fn configs() -> impl Strategy<Value = FramingConfig> {
    let terminators = prop_oneof![
        Just(Terminator::Line),
        Just(Terminator::Cr),
        Just(Terminator::Lf),
        Just(Terminator::CrLf),
        any::<bool>().prop_map(|require_stx| Terminator::Etx { require_stx }),
        (1u16..40).prop_map(|n| Terminator::FixedLength(NonZeroU16::new(n).unwrap_or(NonZeroU16::MIN))),
    ];
    (terminators, 1usize..64, proptest::option::of("[#:]{1,2}")).prop_map(|(terminator, max_frame_len, affix)| {
        FramingConfig {
            terminator,
            max_frame_len,
            prefix: affix.clone().map(String::into_bytes).unwrap_or_default(),
            suffix: affix.map(String::into_bytes).unwrap_or_default(),
            ..FramingConfig::default()
        }
    })
}

fn stream() -> impl Strategy<Value = Vec<u8>> {
    let bytes = prop_oneof![
        4 => proptest::sample::select(b"]C1E0Q3d2 0123456789ABZ#:^<>{}GS()/.-".to_vec()),
        2 => proptest::sample::select(vec![b'\r', b'\n', 0x02, 0x03, 0x1d, 0xff, 0xc3]),
        1 => any::<u8>(),
    ];
    proptest::collection::vec(bytes, 0..300)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn chunking_never_changes_the_result(config in configs(), bytes in stream(), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let mut whole = Framer::new(config.clone());
        let expected = whole.push(&bytes);
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut chunked = Framer::new(config);
        let mut got = Vec::new();
        let mut start = 0;
        for p in points.into_iter().chain([bytes.len()]) {
            got.extend(chunked.push(&bytes[start..p]));
            start = p;
        }
        prop_assert_eq!(got, expected.clone());
        prop_assert_eq!(chunked.stats(), whole.stats());
        let errors = expected.iter().filter(|r| r.is_err()).count() as u64;
        prop_assert_eq!(whole.stats().rejected, errors);
        prop_assert!(whole.pending() <= whole.config.max_frame_len.max(usize::from(u16::MAX)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for terminator in [Terminator::Line, Terminator::Etx { require_stx: true }] {
            let results = framer(terminator).push(&bytes);
            for code in results.into_iter().flatten() {
                prop_assert!(code.identifiers().iter().all(|i| i.value.len() <= MAX_IDENTIFIER_LEN));
            }
        }
    }
}
