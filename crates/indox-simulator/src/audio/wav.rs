//! WAV writer: mono PCM 16/24/32-bit integer or G.711 mu-law, with the spoken text in a
//! `LIST`/`INFO`/`ICMT` chunk placed before `data`; plus the streaming header used by `/stream`.

/// Sample encodings `/synthesize` offers for WAV (`precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    /// G.711 mu-law, 8 bits (WAVE format tag 7).
    Mulaw,
    /// 16-bit signed integer PCM.
    Pcm16,
    /// 24-bit signed integer PCM.
    Pcm24,
    /// 32-bit signed integer PCM (the API default).
    Pcm32,
}

impl Precision {
    /// Parses the API value (`MULAW`, `PCM_16`, `PCM_24`, `PCM_32`; case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "MULAW" => Some(Self::Mulaw),
            "PCM_16" => Some(Self::Pcm16),
            "PCM_24" => Some(Self::Pcm24),
            "PCM_32" => Some(Self::Pcm32),
            _ => None,
        }
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mulaw => "MULAW",
            Self::Pcm16 => "PCM_16",
            Self::Pcm24 => "PCM_24",
            Self::Pcm32 => "PCM_32",
        }
    }

    fn bits(self) -> u16 {
        match self {
            Self::Mulaw => 8,
            Self::Pcm16 => 16,
            Self::Pcm24 => 24,
            Self::Pcm32 => 32,
        }
    }
}

/// G.711 mu-law encoding of one 16-bit sample.
pub fn mulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32_635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while s & mask == 0 && exponent > 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !((sign | (exponent << 4) | mantissa) as u8)
}

fn push_chunk(out: &mut Vec<u8>, id: &[u8; 4], body: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    if body.len() % 2 == 1 {
        out.push(0);
    }
}

/// A `LIST` chunk of type `INFO` holding the text as `ICMT` (NUL-terminated UTF-8).
fn info_list(text: &str) -> Vec<u8> {
    let mut comment = text.as_bytes().to_vec();
    comment.push(0);
    let mut list = b"INFO".to_vec();
    push_chunk(&mut list, b"ICMT", &comment);
    let mut out = Vec::new();
    push_chunk(&mut out, b"LIST", &list);
    out
}

fn fmt_chunk(tag: u16, sample_rate: u32, bits: u16) -> Vec<u8> {
    let block = bits.div_ceil(8);
    let mut fmt = Vec::with_capacity(18);
    fmt.extend_from_slice(&tag.to_le_bytes());
    fmt.extend_from_slice(&1u16.to_le_bytes());
    fmt.extend_from_slice(&sample_rate.to_le_bytes());
    fmt.extend_from_slice(&(sample_rate * u32::from(block)).to_le_bytes());
    fmt.extend_from_slice(&block.to_le_bytes());
    fmt.extend_from_slice(&bits.to_le_bytes());
    if tag != 1 {
        // Non-PCM formats carry cbSize.
        fmt.extend_from_slice(&0u16.to_le_bytes());
    }
    let mut out = Vec::new();
    push_chunk(&mut out, b"fmt ", &fmt);
    out
}

fn to_i16(v: f64) -> i16 {
    (v.clamp(-1.0, 1.0) * 32_767.0).round() as i16
}

/// Encodes mono samples in `[-1, 1]` as a complete WAV file.
pub fn encode(samples: &[f64], sample_rate: u32, precision: Precision, text: &str) -> Vec<u8> {
    let tag = if precision == Precision::Mulaw { 7 } else { 1 };
    let mut data = Vec::with_capacity(samples.len() * usize::from(precision.bits() / 8));
    for &v in samples {
        match precision {
            Precision::Mulaw => data.push(mulaw_encode(to_i16(v))),
            Precision::Pcm16 => data.extend_from_slice(&to_i16(v).to_le_bytes()),
            Precision::Pcm24 => {
                let s = (v.clamp(-1.0, 1.0) * 8_388_607.0).round() as i32;
                data.extend_from_slice(&s.to_le_bytes()[..3]);
            }
            Precision::Pcm32 => {
                let s = (v.clamp(-1.0, 1.0) * 2_147_483_647.0).round() as i32;
                data.extend_from_slice(&s.to_le_bytes());
            }
        }
    }
    let mut body = b"WAVE".to_vec();
    body.extend_from_slice(&fmt_chunk(tag, sample_rate, precision.bits()));
    if tag != 1 {
        push_chunk(&mut body, b"fact", &(samples.len() as u32).to_le_bytes());
    }
    body.extend_from_slice(&info_list(text));
    push_chunk(&mut body, b"data", &data);
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Header of a streamed PCM16 mono WAV: RIFF and data sizes are `0xFFFFFFFF` (unknown),
/// with the text in a `LIST`/`INFO` chunk before `data`. PCM16 samples follow directly.
pub fn stream_header(sample_rate: u32, text: &str) -> Vec<u8> {
    let mut out = b"RIFF\xFF\xFF\xFF\xFFWAVE".to_vec();
    out.extend_from_slice(&fmt_chunk(1, sample_rate, 16));
    out.extend_from_slice(&info_list(text));
    out.extend_from_slice(b"data\xFF\xFF\xFF\xFF");
    out
}

/// PCM16 little-endian bytes of the samples.
pub fn pcm16(samples: &[f64]) -> Vec<u8> {
    samples
        .iter()
        .flat_map(|&v| to_i16(v).to_le_bytes())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulaw_reference_points() {
        assert_eq!(mulaw_encode(0), 0xFF);
        assert_eq!(mulaw_encode(-1), 0x7F);
        assert_eq!(mulaw_encode(32_767), 0x80);
        assert_eq!(mulaw_encode(-32_768), 0x00);
        // Monotonic in magnitude for positive input (codes decrease as level rises).
        let codes: Vec<u8> = (0..32).map(|i| mulaw_encode(i * 1000)).collect();
        assert!(codes.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn precision_names_round_trip() {
        for p in [
            Precision::Mulaw,
            Precision::Pcm16,
            Precision::Pcm24,
            Precision::Pcm32,
        ] {
            assert_eq!(Precision::parse(p.as_str()), Some(p));
        }
        assert_eq!(Precision::parse("pcm_16"), Some(Precision::Pcm16));
        assert_eq!(Precision::parse("PCM_8"), None);
    }

    #[test]
    fn wav_layout_has_text_before_data() {
        let bytes = encode(&[0.0, 0.5, -0.5], 8_000, Precision::Pcm24, "héllo");
        let list = bytes.windows(4).position(|w| w == b"LIST").unwrap();
        let data = bytes.windows(4).position(|w| w == b"data").unwrap();
        assert!(list < data);
        let size = u32::from_le_bytes([
            bytes[data + 4],
            bytes[data + 5],
            bytes[data + 6],
            bytes[data + 7],
        ]);
        assert_eq!(size, 9);
        assert_eq!(bytes.len() - data - 8, 10, "odd data chunk is padded");
        let riff = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        assert_eq!(riff + 8, bytes.len());
    }
}
