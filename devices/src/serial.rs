//! Barcode scanner line framing: an incremental framer that turns the bytes of an RS-232
//! or USB-serial scanner into scans, whatever the chunking of the reads.
//!
//! Scanners end each scan with a configurable suffix (CR, LF, CR LF, or ETX with an
//! optional STX start) or send fixed-length records, and may add a prefix and suffix of
//! their own. An overlong frame is reported once and dropped up to the next terminator,
//! so one bad scan does not take the next ones with it. Empty frames are counted, not
//! reported.

use std::num::NonZeroU16;

use crate::digital_link::DigitalLinkError;
use crate::element_string::Gs1Error;
use crate::read::MAX_IDENTIFIER_LEN;
use crate::scan::{self, ScannedCode};

const STX: u8 = 0x02;
const ETX: u8 = 0x03;
const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// Default and hard limit of one frame's length.
pub const DEFAULT_MAX_FRAME_LEN: usize = 4096;
pub const MAX_FRAME_LEN_LIMIT: usize = 65_536;

/// What ends a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terminator {
    /// CR, LF or CR LF: the usual keyboard-like suffixes.
    Line,
    /// CR only; an LF right after it is dropped, a lone LF is data.
    Cr,
    /// LF only; a CR right before it is dropped.
    Lf,
    /// CR LF only; a lone CR or LF is data.
    CrLf,
    /// ETX (0x03). With `require_stx`, a frame must open with STX (0x02); bytes between
    /// frames (often CR LF) are ignored.
    Etx { require_stx: bool },
    /// Every `n` bytes are one frame.
    FixedLength(NonZeroU16),
}

/// How a scanner frames its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingConfig {
    pub terminator: Terminator,
    /// Removed from the start of a frame when present.
    pub prefix: Vec<u8>,
    /// Removed from the end of a frame when present.
    pub suffix: Vec<u8>,
    /// Longest frame accepted, at most [`MAX_FRAME_LEN_LIMIT`] (with CR LF framing the
    /// CR counts).
    pub max_frame_len: usize,
    /// What a keyboard-wedge scanner sends instead of GS in GS1 data (Ctrl-] shows as `^]`).
    pub gs_substitutes: Vec<String>,
}

impl Default for FramingConfig {
    fn default() -> Self {
        Self {
            terminator: Terminator::Line,
            prefix: Vec::new(),
            suffix: Vec::new(),
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            gs_substitutes: vec!["^]".into(), "<GS>".into(), "{GS}".into()],
        }
    }
}

/// Why a frame was rejected. `reason()` is the stable metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame is longer than {limit} bytes; dropped up to the next terminator")]
    TooLong { limit: usize },
    #[error("a frame started (STX) before the previous one ended (ETX)")]
    Unterminated,
    #[error("a frame ended (ETX) without a start (STX)")]
    MissingStx,
    #[error("frame is not UTF-8")]
    NotUtf8,
    #[error("frame contains control character 0x{0:02X}")]
    ControlCharacter(u8),
    #[error("barcode text is {len} bytes, longer than {MAX_IDENTIFIER_LEN}")]
    TextTooLong { len: usize },
    #[error("GS1 data: {0}")]
    InvalidGs1(Gs1Error),
    #[error("GS1 Digital Link: {0}")]
    InvalidDigitalLink(DigitalLinkError),
    #[error("`{0}` is not a valid EAN/UPC")]
    InvalidGtin(String),
    #[error("`{0}` names no SSCC, GTIN, order number or barcode value")]
    NoIdentifier(String),
}

impl FrameError {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLong { .. } => "frame_too_long",
            Self::Unterminated => "unterminated_frame",
            Self::MissingStx => "missing_stx",
            Self::NotUtf8 => "not_utf8",
            Self::ControlCharacter(_) => "control_character",
            Self::TextTooLong { .. } => "text_too_long",
            Self::InvalidGs1(_) => "invalid_gs1",
            Self::InvalidDigitalLink(_) => "invalid_digital_link",
            Self::InvalidGtin(_) => "invalid_gtin",
            Self::NoIdentifier(_) => "no_identifier",
        }
    }
}

/// Counters since the framer was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FramerStats {
    /// Non-empty frames, accepted or not.
    pub frames: u64,
    /// Empty frames (e.g. a bare terminator), ignored.
    pub empty: u64,
    /// Errors returned, including overlong and misframed input.
    pub rejected: u64,
}

/// The incremental framer. Feed it bytes as they arrive.
#[derive(Debug)]
pub struct Framer {
    config: FramingConfig,
    buf: Vec<u8>,
    /// Dropping an overlong frame until the next terminator.
    discarding: bool,
    prev: Option<u8>,
    in_stx: bool,
    stats: FramerStats,
}

impl Framer {
    /// A framer for `config`; `max_frame_len` is clamped to `1..=MAX_FRAME_LEN_LIMIT`.
    pub fn new(mut config: FramingConfig) -> Self {
        config.max_frame_len = config.max_frame_len.clamp(1, MAX_FRAME_LEN_LIMIT);
        Self {
            config,
            buf: Vec::new(),
            discarding: false,
            prev: None,
            in_stx: false,
            stats: FramerStats::default(),
        }
    }

    pub fn stats(&self) -> FramerStats {
        self.stats
    }

    /// Bytes of an unfinished frame held back.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Consumes `bytes` and returns every frame they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<ScannedCode, FrameError>> {
        let mut out = Vec::new();
        for &b in bytes {
            match self.config.terminator {
                Terminator::FixedLength(n) => {
                    self.buf.push(b);
                    if self.buf.len() >= usize::from(n.get()) {
                        self.finish(&mut out);
                    }
                }
                Terminator::Etx { require_stx } => self.etx_byte(b, require_stx, &mut out),
                line => self.line_byte(b, line, &mut out),
            }
            self.prev = Some(b);
        }
        out
    }

    fn line_byte(&mut self, b: u8, t: Terminator, out: &mut Vec<Result<ScannedCode, FrameError>>) {
        let after_cr = self.prev == Some(CR);
        match (t, b) {
            (Terminator::Line | Terminator::Cr, LF) if after_cr => {}
            (Terminator::Line | Terminator::Cr, CR) | (Terminator::Line, LF) => self.finish(out),
            (Terminator::Lf, LF) | (Terminator::CrLf, LF) if t == Terminator::Lf || after_cr => {
                if self.buf.last() == Some(&CR) {
                    self.buf.pop();
                }
                self.finish(out);
            }
            _ => self.accumulate(b, out),
        }
    }

    fn etx_byte(&mut self, b: u8, require_stx: bool, out: &mut Vec<Result<ScannedCode, FrameError>>) {
        match b {
            STX => {
                let stray = self.buf.iter().any(|c| !matches!(*c, CR | LF));
                if stray && !self.discarding {
                    self.reject(FrameError::Unterminated, out);
                }
                self.buf.clear();
                self.discarding = false;
                self.in_stx = true;
            }
            ETX if require_stx && !self.in_stx => {
                if !self.discarding {
                    self.reject(FrameError::MissingStx, out);
                }
                self.buf.clear();
                self.discarding = false;
            }
            ETX => {
                self.in_stx = false;
                self.finish(out);
            }
            _ => self.accumulate(b, out),
        }
    }

    fn accumulate(&mut self, b: u8, out: &mut Vec<Result<ScannedCode, FrameError>>) {
        if self.discarding {
            return;
        }
        if self.buf.len() >= self.config.max_frame_len {
            self.buf.clear();
            self.discarding = true;
            self.reject(
                FrameError::TooLong {
                    limit: self.config.max_frame_len,
                },
                out,
            );
            return;
        }
        self.buf.push(b);
    }

    fn reject(&mut self, e: FrameError, out: &mut Vec<Result<ScannedCode, FrameError>>) {
        self.stats.rejected += 1;
        out.push(Err(e));
    }

    fn finish(&mut self, out: &mut Vec<Result<ScannedCode, FrameError>>) {
        let frame = std::mem::take(&mut self.buf);
        if std::mem::replace(&mut self.discarding, false) {
            return;
        }
        let mut body = frame.as_slice();
        if matches!(self.config.terminator, Terminator::Etx { .. }) {
            while let [CR | LF, rest @ ..] = body {
                body = rest;
            }
            while let [rest @ .., CR | LF] = body {
                body = rest;
            }
        }
        body = body.strip_prefix(self.config.prefix.as_slice()).unwrap_or(body);
        body = body.strip_suffix(self.config.suffix.as_slice()).unwrap_or(body);
        if body.is_empty() {
            self.stats.empty += 1;
            return;
        }
        self.stats.frames += 1;
        let result = std::str::from_utf8(body)
            .map_err(|_| FrameError::NotUtf8)
            .and_then(|text| scan::interpret(text, &self.config.gs_substitutes));
        match result {
            Ok(code) => out.push(Ok(code)),
            Err(e) => self.reject(e, out),
        }
    }
}

#[cfg(test)]
mod tests;
