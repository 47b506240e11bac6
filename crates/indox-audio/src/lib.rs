#![doc = include_str!("../README.md")]

pub mod media;
mod mp3;
#[cfg(any(test, feature = "reference-decoder"))]
pub mod reference;
mod wav;

pub use wav::WavStreamMeter;

/// Why audio bytes could not be measured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudioError {
    /// No bytes at all.
    #[error("audio is empty")]
    Empty,
    /// The bytes are not a RIFF/WAVE file.
    #[error("not a WAV file: {0}")]
    NotWav(&'static str),
    /// A RIFF/WAVE file whose structure is broken or inconsistent.
    #[error("invalid WAV file: {0}")]
    InvalidWav(&'static str),
    /// A WAV `fmt ` chunk with a sample encoding this crate does not measure.
    #[error("unsupported WAV encoding tag 0x{0:04x}")]
    UnsupportedEncoding(u16),
    /// The bytes are not a decodable MP3 stream.
    #[error("invalid MP3: {0}")]
    InvalidMp3(String),
}

/// Container formats the gateway returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AudioFormat {
    /// RIFF/WAVE.
    Wav,
    /// MPEG audio layer III.
    Mp3,
}

impl AudioFormat {
    /// Parses a file extension or Resemble `output_format` value (`wav`, `wave`, `mp3`;
    /// case-insensitive, a leading dot is allowed).
    pub fn from_extension(ext: &str) -> Option<Self> {
        let ext = ext.strip_prefix('.').unwrap_or(ext);
        if ext.eq_ignore_ascii_case("wav") || ext.eq_ignore_ascii_case("wave") {
            Some(Self::Wav)
        } else if ext.eq_ignore_ascii_case("mp3") {
            Some(Self::Mp3)
        } else {
            None
        }
    }

    /// Parses a MIME type such as `audio/wav` or `audio/mpeg` (parameters are ignored).
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let mime = content_type.split(';').next().unwrap_or_default().trim();
        match mime.to_ascii_lowercase().as_str() {
            "audio/wav" | "audio/wave" | "audio/x-wav" | "audio/vnd.wave" => Some(Self::Wav),
            "audio/mpeg" | "audio/mp3" => Some(Self::Mp3),
            _ => None,
        }
    }

    /// The canonical extension / `output_format` value: `"wav"` or `"mp3"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wav => "wav",
            Self::Mp3 => "mp3",
        }
    }

    /// The MIME type to serve: `"audio/wav"` or `"audio/mpeg"`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Wav => "audio/wav",
            Self::Mp3 => "audio/mpeg",
        }
    }
}

impl std::fmt::Display for AudioFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The measured shape and length of some audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioInfo {
    /// Container format.
    pub format: AudioFormat,
    /// Sample frames per second (never 0 for measured audio).
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: u16,
    /// Number of whole sample frames (one sample per channel) the audio plays.
    pub frames: u64,
}

impl AudioInfo {
    /// Duration in seconds, `frames / sample_rate` (0.0 if the rate is 0).
    pub fn duration_seconds_f64(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.frames as f64 / f64::from(self.sample_rate)
    }

    /// Duration in whole milliseconds, rounded UP (ceil), as the billing rule needs.
    /// Computed in integers, so it is exact (0 if the rate is 0).
    pub fn duration_millis_ceil(&self) -> u64 {
        if self.sample_rate == 0 {
            return 0;
        }
        let num = u128::from(self.frames) * 1000;
        let millis = num.div_ceil(u128::from(self.sample_rate));
        u64::try_from(millis).unwrap_or(u64::MAX)
    }
}

/// Measures complete audio bytes of the given format.
///
/// WAV: the RIFF chunks are parsed directly (PCM 8/16/24/32-bit, IEEE float, A-law, mu-law and
/// `WAVE_FORMAT_EXTENSIBLE`); a `data` size of `0xFFFFFFFF`/`0` or one larger than the bytes
/// present counts the bytes actually present. MP3: the frame headers are walked (no decoding)
/// and frames × samples-per-frame are counted, as a player outputs them.
pub fn measure(bytes: &[u8], format: AudioFormat) -> Result<AudioInfo, AudioError> {
    if bytes.is_empty() {
        return Err(AudioError::Empty);
    }
    match format {
        AudioFormat::Wav => wav::measure_wav(bytes),
        AudioFormat::Mp3 => mp3::measure_mp3(bytes),
    }
}

/// Returns the text embedded as metadata before the audio, if any: the WAV `LIST`/`INFO`
/// `ICMT` entry, or the MP3 ID3v2 `TXXX`/`COMM` frame value.
pub fn embedded_text(bytes: &[u8], format: AudioFormat) -> Option<String> {
    match format {
        AudioFormat::Wav => wav::wav_comment(bytes),
        AudioFormat::Mp3 => mp3::id3_text(bytes),
    }
}

#[cfg(test)]
mod tests;
