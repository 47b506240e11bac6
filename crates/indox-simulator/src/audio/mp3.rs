//! Minimal MPEG audio Layer III writer: an ID3v2.4 tag (text in `TXXX:indox-text`) followed by
//! constant-bitrate mono frames whose side information encodes digital silence
//! (`part2_3_length = 0`). MPEG-1 for 32/44.1/48 kHz, MPEG-2 for 16/22.05 kHz, MPEG-2.5 for
//! 8 kHz. Every decoder plays each frame as samples-per-frame samples of silence.

/// Description of the ID3 `TXXX` frame that carries the spoken text.
pub const TEXT_DESCRIPTION: &str = "indox-text";

/// Frame layout for one sample rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    /// Version bits of the header: 0b11 MPEG-1, 0b10 MPEG-2, 0b00 MPEG-2.5.
    version_bits: u8,
    /// Index into the sample-rate table of that version.
    rate_index: u8,
    /// Index into the Layer III bitrate table of that version.
    bitrate_index: u8,
    /// Bitrate in bits per second.
    bitrate: u32,
    /// Decoded samples per frame (1152 for MPEG-1, 576 otherwise).
    pub samples_per_frame: u32,
    /// Bytes of mono side information (17 for MPEG-1, 9 otherwise).
    side_info_len: usize,
}

/// The layout used for a supported sample rate, or `None`.
pub fn layout(sample_rate: u32) -> Option<FrameLayout> {
    let mpeg1 = |rate_index| FrameLayout {
        version_bits: 0b11,
        rate_index,
        bitrate_index: 5,
        bitrate: 64_000,
        samples_per_frame: 1152,
        side_info_len: 17,
    };
    let lsf = |version_bits, rate_index, bitrate_index, bitrate| FrameLayout {
        version_bits,
        rate_index,
        bitrate_index,
        bitrate,
        samples_per_frame: 576,
        side_info_len: 9,
    };
    match sample_rate {
        44_100 => Some(mpeg1(0)),
        48_000 => Some(mpeg1(1)),
        32_000 => Some(mpeg1(2)),
        22_050 => Some(lsf(0b10, 0, 4, 32_000)),
        16_000 => Some(lsf(0b10, 2, 4, 32_000)),
        8_000 => Some(lsf(0b00, 2, 2, 16_000)),
        _ => None,
    }
}

impl FrameLayout {
    /// Frame length in bytes (no padding slot is ever used).
    pub fn frame_len(&self, sample_rate: u32) -> usize {
        let coeff = u64::from(self.samples_per_frame) / 8;
        (coeff * u64::from(self.bitrate) / u64::from(sample_rate)) as usize
    }

    /// Number of frames needed to cover `samples` samples (rounded up to whole frames).
    pub fn frames_for(&self, samples: u64) -> u64 {
        samples.div_ceil(u64::from(self.samples_per_frame))
    }

    fn header(&self) -> [u8; 4] {
        [
            0xFF,
            0xE0 | (self.version_bits << 3) | (0b01 << 1) | 1, // Layer III, no CRC
            (self.bitrate_index << 4) | (self.rate_index << 2), // no padding, private 0
            0b1100_0100, // mono, no mode ext, not copyrighted, original, no emphasis
        ]
    }
}

fn syncsafe(n: usize) -> [u8; 4] {
    [
        ((n >> 21) & 0x7F) as u8,
        ((n >> 14) & 0x7F) as u8,
        ((n >> 7) & 0x7F) as u8,
        (n & 0x7F) as u8,
    ]
}

/// An ID3v2.4 tag with one `TXXX` frame (UTF-8) holding the text.
pub fn id3_tag(text: &str) -> Vec<u8> {
    let mut body = vec![3u8]; // UTF-8
    body.extend_from_slice(TEXT_DESCRIPTION.as_bytes());
    body.push(0);
    body.extend_from_slice(text.as_bytes());
    let mut frames = b"TXXX".to_vec();
    frames.extend_from_slice(&syncsafe(body.len()));
    frames.extend_from_slice(&[0, 0]);
    frames.extend_from_slice(&body);
    let mut out = b"ID3\x04\x00\x00".to_vec();
    out.extend_from_slice(&syncsafe(frames.len()));
    out.extend_from_slice(&frames);
    out
}

/// Encodes `frames` silent frames at `sample_rate` preceded by the text tag.
/// Returns `None` for an unsupported sample rate.
pub fn encode_silence(sample_rate: u32, frames: u64, text: &str) -> Option<Vec<u8>> {
    let lay = layout(sample_rate)?;
    let frame_len = lay.frame_len(sample_rate);
    let mut frame = vec![0u8; frame_len];
    frame[..4].copy_from_slice(&lay.header());
    // Side info and main data stay all-zero: main_data_begin 0, part2_3_length 0, big_values 0.
    debug_assert!(frame_len > 4 + lay.side_info_len);
    let tag = id3_tag(text);
    let mut out = Vec::with_capacity(tag.len() + frame_len * frames as usize);
    out.extend_from_slice(&tag);
    for _ in 0..frames {
        out.extend_from_slice(&frame);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes() {
        assert_eq!(layout(48_000).map(|l| l.frame_len(48_000)), Some(192));
        assert_eq!(layout(44_100).map(|l| l.frame_len(44_100)), Some(208));
        assert_eq!(layout(32_000).map(|l| l.frame_len(32_000)), Some(288));
        assert_eq!(layout(22_050).map(|l| l.frame_len(22_050)), Some(104));
        assert_eq!(layout(16_000).map(|l| l.frame_len(16_000)), Some(144));
        assert_eq!(layout(8_000).map(|l| l.frame_len(8_000)), Some(144));
        assert!(layout(24_000).is_none());
        assert!(encode_silence(11_025, 1, "x").is_none());
    }

    #[test]
    fn headers_have_sync_and_mono() {
        let bytes = encode_silence(8_000, 3, "").unwrap();
        let tag_len = id3_tag("").len();
        assert_eq!(bytes.len(), tag_len + 3 * 144);
        assert_eq!(&bytes[tag_len..tag_len + 4], &[0xFF, 0xE3, 0x28, 0xC4]);
        assert_eq!(layout(8_000).unwrap().frames_for(577), 2);
    }
}
