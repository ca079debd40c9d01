//! `waymark-gateway decode`: shows site IT what a device actually sends, as the
//! gateway understands it. Reads payloads (or scanner bytes) from a file or stdin,
//! prints one JSON line per normalized read on stdout and every error on stderr.

use std::io::Write;

use serde_json::json;
use waymark_devices::impinj::ImpinjItem;
use waymark_devices::serial::{Framer, FramingConfig};
use waymark_devices::{DecodeError, Read, generic, impinj, zebra};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Zebra,
    Impinj,
    Generic,
    Scanner,
}

/// What a run found: lines printed and problems reported.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub reads: usize,
    pub errors: usize,
}

/// Decodes `input` and writes the results; JSON formats are tried as one payload
/// first and, when that is not valid JSON, as one payload per line (the way
/// `mosquitto_sub` prints messages).
pub fn run(format: Format, input: &[u8], out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<Summary> {
    let mut summary = Summary::default();
    if format == Format::Scanner {
        let mut framer = Framer::new(FramingConfig::default());
        let mut frames = framer.push(input);
        if framer.pending() > 0 {
            frames.extend(framer.push(b"\n"));
        }
        for (i, frame) in frames.into_iter().enumerate() {
            match frame {
                Ok(code) => {
                    summary.reads += 1;
                    let ids: Vec<_> = code.identifiers();
                    let line = json!({
                        "symbology": format!("{:?}", code.symbology),
                        "aim": code.aim,
                        "text": code.text,
                        "identifiers": ids,
                    });
                    writeln!(out, "{line}")?;
                }
                Err(e) => {
                    summary.errors += 1;
                    writeln!(err, "frame {}: {} ({})", i + 1, e, e.reason())?;
                }
            }
        }
        return Ok(summary);
    }
    let whole = decode(format, input);
    let payloads: Vec<(usize, Result<Vec<Output>, DecodeError>)> = match whole {
        Err(DecodeError::MalformedJson(_)) if input.contains(&b'\n') => input
            .split(|b| *b == b'\n')
            .enumerate()
            .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
            .map(|(i, l)| (i + 1, decode(format, l)))
            .collect(),
        other => vec![(0, other)],
    };
    for (line, result) in payloads {
        match result {
            Ok(items) => {
                for item in items {
                    match item {
                        Output::Read(r) => {
                            summary.reads += 1;
                            writeln!(out, "{}", serde_json::to_string(&r).unwrap_or_default())?;
                        }
                        Output::Alarm(a) => writeln!(out, "{}", json!({ "alarm": a }))?,
                    }
                }
            }
            Err(e) => {
                summary.errors += 1;
                let at = if line > 0 {
                    format!("line {line}: ")
                } else {
                    String::new()
                };
                writeln!(err, "{at}{e} ({})", e.reason())?;
            }
        }
    }
    Ok(summary)
}

enum Output {
    Read(Read),
    Alarm(String),
}

fn decode(format: Format, payload: &[u8]) -> Result<Vec<Output>, DecodeError> {
    let reads = |r: Vec<Read>| r.into_iter().map(Output::Read).collect();
    Ok(match format {
        Format::Zebra => reads(zebra::decode(payload)?),
        Format::Generic => reads(generic::decode(payload)?),
        Format::Impinj => impinj::decode(payload)?
            .into_iter()
            .filter_map(|item| match item {
                ImpinjItem::Tag(t) => Some(Output::Read(t.read)),
                ImpinjItem::Alarm(a) => Some(Output::Alarm(format!("{:?}", a.kind))),
                ImpinjItem::Other { .. } => None,
            })
            .collect(),
        Format::Scanner => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_str(format: Format, input: &[u8]) -> (Summary, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let s = run(format, input, &mut out, &mut err).expect("writes to memory");
        (
            s,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    #[test]
    fn zebra_lines_as_mosquitto_sub_prints_them() {
        let input = b"{\"type\":\"SIMPLE\",\"timestamp\":\"2023-02-24T10:14:42.851+0000\",\"data\":{\"idHex\":\"3074257BF7194E4000001A85\",\"antenna\":2,\"peakRssi\":-55,\"reads\":3,\"format\":\"epc\"}}\n{not json}\n";
        let (s, out, err) = run_str(Format::Zebra, input);
        assert_eq!(s, Summary { reads: 1, errors: 1 });
        assert!(out.contains("urn:epc:id:sgtin:0614141.812345.6789"), "{out}");
        assert!(err.starts_with("line 2: ") && err.contains("malformed_json"), "{err}");
    }

    #[test]
    fn scanner_bytes_show_symbology_and_identifiers() {
        let (s, out, err) = run_str(Format::Scanner, b"]C100106141412345678908\r\n\xff\r\n]E04006381333931");
        assert_eq!(s, Summary { reads: 2, errors: 1 }, "{out}{err}");
        assert!(out.contains("106141412345678908") && out.contains("\"]E0\""), "{out}");
        assert!(err.contains("not_utf8"), "{err}");
    }
}
