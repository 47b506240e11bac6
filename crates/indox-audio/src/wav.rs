//! WAV (RIFF/WAVE) parsing: an incremental chunk walker shared by [`crate::measure`] and
//! [`WavStreamMeter`], so measuring a whole file and metering it chunk by chunk always agree.

use crate::{AudioError, AudioFormat, AudioInfo};

/// Size of the RIFF preamble: `RIFF`, u32 size, `WAVE`.
const RIFF_HEADER_LEN: usize = 12;
/// Size of a chunk header: 4-byte id plus u32 little-endian size.
const CHUNK_HEADER_LEN: usize = 8;
/// Largest `fmt ` chunk we are willing to buffer (real ones are 16, 18 or 40 bytes).
const MAX_FMT_LEN: u32 = 4096;
/// A declared data size of this value means "unknown / streaming".
const STREAMING_SIZE: u32 = 0xFFFF_FFFF;

/// Sample encodings the meter understands (from the `fmt ` chunk's format tag).
const WAVE_FORMAT_PCM: u16 = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT: u16 = 0x0003;
const WAVE_FORMAT_ALAW: u16 = 0x0006;
const WAVE_FORMAT_MULAW: u16 = 0x0007;
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// The decoded essentials of a `fmt ` chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FmtChunk {
    sample_rate: u32,
    channels: u16,
    block_align: u16,
}

/// Where the walker currently is in the RIFF structure.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Waiting for the 12-byte `RIFF....WAVE` preamble.
    Preamble,
    /// Waiting for an 8-byte chunk header.
    ChunkHeader,
    /// Buffering the body of the `fmt ` chunk (`remaining` bytes plus `pad`).
    Fmt { remaining: u32, pad: bool },
    /// Skipping the body of an uninteresting chunk (`cue `, `LIST`, `fact`, ...).
    Skip { remaining: u64 },
    /// Counting PCM bytes of the `data` chunk; `remaining` is `None` when the size is unknown.
    Data { remaining: Option<u64> },
    /// The declared `data` chunk is complete; anything after it is ignored.
    Done,
}

/// Incremental meter for a streamed WAV (chunked HTTP).
///
/// Feed chunks as they arrive with [`WavStreamMeter::feed`]. The RIFF header is parsed as it
/// becomes available, including optional chunks such as `cue `, `LIST` or `fact` before `data`.
/// A declared data size of `0xFFFFFFFF` or `0` means "unknown/streaming": every byte after the
/// `data` header is counted. Otherwise counting stops at the declared size.
#[derive(Debug, Clone)]
pub struct WavStreamMeter {
    state: State,
    /// Bytes of an incomplete header or `fmt ` body carried over between chunks.
    pending: Vec<u8>,
    fmt: Option<FmtChunk>,
    data_bytes: u64,
    bytes_seen: u64,
    /// Set after an error; further input is rejected with the same kind of error.
    failed: Option<AudioError>,
}

impl Default for WavStreamMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl WavStreamMeter {
    /// A meter that has seen no bytes yet.
    pub fn new() -> Self {
        Self {
            state: State::Preamble,
            pending: Vec::new(),
            fmt: None,
            data_bytes: 0,
            bytes_seen: 0,
            failed: None,
        }
    }

    /// Feeds the next chunk of the stream. Errors on anything that is not a WAV file we can
    /// measure; once an error was returned, every later call returns it again.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), AudioError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        self.bytes_seen = self.bytes_seen.saturating_add(chunk.len() as u64);
        match self.consume(chunk) {
            Ok(()) => Ok(()),
            Err(err) => {
                self.failed = Some(err.clone());
                Err(err)
            }
        }
    }

    /// What has been measured so far, once the `fmt ` chunk and the `data` header were seen.
    /// `frames` counts whole frames of sample data received so far.
    pub fn info(&self) -> Option<AudioInfo> {
        if self.failed.is_some() {
            return None;
        }
        match self.state {
            State::Data { .. } | State::Done => {}
            _ => return None,
        }
        let fmt = self.fmt?;
        Some(AudioInfo {
            format: AudioFormat::Wav,
            sample_rate: fmt.sample_rate,
            channels: fmt.channels,
            frames: self.data_bytes / u64::from(fmt.block_align),
        })
    }

    /// Total number of bytes fed so far (header included).
    pub fn bytes_seen(&self) -> u64 {
        self.bytes_seen
    }

    /// Number of sample-data bytes (inside the `data` chunk) seen so far.
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    fn consume(&mut self, mut input: &[u8]) -> Result<(), AudioError> {
        while !input.is_empty() {
            match self.state.clone() {
                State::Preamble => {
                    let Some(head) = self.take_exact(&mut input, RIFF_HEADER_LEN) else {
                        return Ok(());
                    };
                    if &head[0..4] != b"RIFF" {
                        return Err(AudioError::NotWav("missing RIFF signature"));
                    }
                    if &head[8..12] != b"WAVE" {
                        return Err(AudioError::NotWav("RIFF form type is not WAVE"));
                    }
                    self.state = State::ChunkHeader;
                }
                State::ChunkHeader => {
                    let Some(head) = self.take_exact(&mut input, CHUNK_HEADER_LEN) else {
                        return Ok(());
                    };
                    let id = [head[0], head[1], head[2], head[3]];
                    let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
                    self.state = self.on_chunk_header(id, size)?;
                }
                State::Fmt { remaining, pad } => {
                    let want = remaining as usize + usize::from(pad);
                    let Some(body) = self.take_exact(&mut input, want) else {
                        return Ok(());
                    };
                    self.fmt = Some(parse_fmt(&body[..remaining as usize])?);
                    self.state = State::ChunkHeader;
                }
                State::Skip { remaining } => {
                    let n = (input.len() as u64).min(remaining);
                    input = &input[n as usize..];
                    let left = remaining - n;
                    self.state = if left == 0 {
                        State::ChunkHeader
                    } else {
                        State::Skip { remaining: left }
                    };
                }
                State::Data { remaining: None } => {
                    self.data_bytes = self.data_bytes.saturating_add(input.len() as u64);
                    input = &[];
                }
                State::Data {
                    remaining: Some(remaining),
                } => {
                    let n = (input.len() as u64).min(remaining);
                    self.data_bytes = self.data_bytes.saturating_add(n);
                    input = &input[n as usize..];
                    let left = remaining - n;
                    self.state = if left == 0 {
                        State::Done
                    } else {
                        State::Data {
                            remaining: Some(left),
                        }
                    };
                }
                State::Done => input = &[],
            }
        }
        Ok(())
    }

    /// Takes exactly `n` bytes (combining carried-over bytes with `input`), or stashes what is
    /// available and returns `None` when there are not yet enough.
    fn take_exact(&mut self, input: &mut &[u8], n: usize) -> Option<Vec<u8>> {
        let need = n.saturating_sub(self.pending.len());
        if input.len() < need {
            self.pending.extend_from_slice(input);
            *input = &[];
            return None;
        }
        let mut out = std::mem::take(&mut self.pending);
        out.extend_from_slice(&input[..need]);
        *input = &input[need..];
        Some(out)
    }

    fn on_chunk_header(&mut self, id: [u8; 4], size: u32) -> Result<State, AudioError> {
        let pad = size % 2 == 1;
        match &id {
            b"fmt " => {
                if !(16..=MAX_FMT_LEN).contains(&size) {
                    return Err(AudioError::InvalidWav("fmt chunk has an impossible size"));
                }
                Ok(State::Fmt {
                    remaining: size,
                    pad,
                })
            }
            b"data" => {
                if self.fmt.is_none() {
                    return Err(AudioError::InvalidWav("data chunk before fmt chunk"));
                }
                let remaining = if size == STREAMING_SIZE || size == 0 {
                    None
                } else {
                    Some(u64::from(size))
                };
                Ok(State::Data { remaining })
            }
            _ => {
                if !id.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
                    return Err(AudioError::InvalidWav("chunk id is not printable ASCII"));
                }
                if size == STREAMING_SIZE {
                    return Err(AudioError::InvalidWav("non-data chunk of unknown size"));
                }
                let remaining = u64::from(size) + u64::from(pad);
                Ok(if remaining == 0 {
                    State::ChunkHeader
                } else {
                    State::Skip { remaining }
                })
            }
        }
    }
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Validates a `fmt ` chunk body (at least 16 bytes, checked by the caller).
fn parse_fmt(body: &[u8]) -> Result<FmtChunk, AudioError> {
    let mut tag = le_u16(body, 0);
    let channels = le_u16(body, 2);
    let sample_rate = le_u32(body, 4);
    let block_align = le_u16(body, 12);
    let bits = le_u16(body, 14);
    if tag == WAVE_FORMAT_EXTENSIBLE {
        // cbSize(2) validBits(2) channelMask(4) subFormat GUID(16): the GUID starts with the tag.
        if body.len() < 40 {
            return Err(AudioError::InvalidWav(
                "WAVE_FORMAT_EXTENSIBLE fmt is too short",
            ));
        }
        tag = le_u16(body, 24);
    }
    if channels == 0 {
        return Err(AudioError::InvalidWav("zero channels"));
    }
    if sample_rate == 0 {
        return Err(AudioError::InvalidWav("zero sample rate"));
    }
    let valid_bits = match tag {
        WAVE_FORMAT_PCM => matches!(bits, 8 | 16 | 24 | 32),
        WAVE_FORMAT_IEEE_FLOAT => matches!(bits, 32 | 64),
        WAVE_FORMAT_ALAW | WAVE_FORMAT_MULAW => bits == 8,
        other => return Err(AudioError::UnsupportedEncoding(other)),
    };
    if !valid_bits {
        return Err(AudioError::InvalidWav(
            "bits per sample do not fit the encoding",
        ));
    }
    let expected_align = u32::from(channels) * u32::from(bits).div_ceil(8);
    if u32::from(block_align) != expected_align {
        return Err(AudioError::InvalidWav(
            "block align does not match channels and bits",
        ));
    }
    Ok(FmtChunk {
        sample_rate,
        channels,
        block_align,
    })
}

/// Measures a complete (or truncated, streamed) WAV file held in memory.
pub(crate) fn measure_wav(bytes: &[u8]) -> Result<AudioInfo, AudioError> {
    let mut meter = WavStreamMeter::new();
    meter.feed(bytes)?;
    meter.info().ok_or(AudioError::InvalidWav(
        "no data chunk found (file is truncated or not audio)",
    ))
}

/// Finds the text stored in a `LIST`/`INFO` chunk's `ICMT` (comment) entry, if any.
pub(crate) fn wav_comment(bytes: &[u8]) -> Option<String> {
    if bytes.len() < RIFF_HEADER_LEN || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut pos = RIFF_HEADER_LEN;
    while pos + CHUNK_HEADER_LEN <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = le_u32(bytes, pos + 4) as usize;
        let body_start = pos + CHUNK_HEADER_LEN;
        if id == b"data" {
            return None;
        }
        let body_end = body_start.checked_add(size)?;
        let body = bytes.get(body_start..body_end)?;
        if id == b"LIST" && body.len() >= 4 && &body[0..4] == b"INFO" {
            let mut p = 4;
            while p + CHUNK_HEADER_LEN <= body.len() {
                let sub_id = &body[p..p + 4];
                let sub_size = le_u32(body, p + 4) as usize;
                let start = p + CHUNK_HEADER_LEN;
                let text = body.get(start..start.checked_add(sub_size)?)?;
                if sub_id == b"ICMT" {
                    let trimmed = text.split(|b| *b == 0).next().unwrap_or_default();
                    return String::from_utf8(trimmed.to_vec()).ok();
                }
                p = start + sub_size + sub_size % 2;
            }
        }
        pos = body_end + size % 2;
    }
    None
}
