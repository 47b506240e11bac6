//! Minimal MPEG audio Layer III writer: an ID3v2.4 tag (text in `TXXX:indox-text`) followed by
//! constant-bitrate mono frames (never padded). MPEG-1 64 kbit/s for 32/44.1/48 kHz, MPEG-2
//! 32 kbit/s for 16/22.05 kHz, MPEG-2.5 16 kbit/s for 8 kHz. [`encode`] carries the same tone
//! track as the WAV output (coded by [`super::layer3`]); [`encode_silent`] writes frames whose
//! side information encodes digital silence (`part2_3_length = 0`), and is also the per-frame
//! fallback should the encoder fail.

use super::layer3::{quantize, Analyzer, BitWriter, EncodeError};
use super::signal;

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
pub fn encode_silent(sample_rate: u32, frames: u64, text: &str) -> Option<Vec<u8>> {
    let lay = layout(sample_rate)?;
    let frame = lay.silent_frame(sample_rate);
    let tag = id3_tag(text);
    let mut out = Vec::with_capacity(tag.len() + frame.len() * frames as usize);
    out.extend_from_slice(&tag);
    for _ in 0..frames {
        out.extend_from_slice(&frame);
    }
    Some(out)
}

/// Encodes the text's tone track ([`signal::render`]) as `frames` CBR frames at `sample_rate`,
/// preceded by the text tag. The frame count, sizes and headers are identical to
/// [`encode_silent`]; a frame the encoder cannot produce is written silent instead.
/// Returns `None` for an unsupported sample rate.
pub fn encode(sample_rate: u32, frames: u64, text: &str) -> Option<Vec<u8>> {
    let lay = layout(sample_rate)?;
    let frame_len = lay.frame_len(sample_rate);
    let silent = lay.silent_frame(sample_rate);
    let pcm = signal::render(text, sample_rate);
    let spf = lay.samples_per_frame as usize;
    let tag = id3_tag(text);
    let mut out = Vec::with_capacity(tag.len() + frame_len * frames as usize);
    out.extend_from_slice(&tag);
    let mut analyzer = Analyzer::new();
    // The input is advanced by the codec delay so decoded tones line up with the WAV timeline
    // (the lead-in silence absorbs the shift).
    let lead = usize::try_from(signal::ms_to_samples(signal::LEAD_MS, sample_rate)).unwrap_or(0);
    let start = CODEC_DELAY.min(lead).min(pcm.len());
    let pcm = &pcm[start..];
    for index in 0..frames {
        let from = usize::try_from(index)
            .unwrap_or(usize::MAX)
            .saturating_mul(spf);
        let input = pcm.get(from..).unwrap_or(&[]);
        match lay.audible_frame(&mut analyzer, input, frame_len) {
            Ok(frame) if frame.len() == frame_len => out.extend_from_slice(&frame),
            _ => out.extend_from_slice(&silent),
        }
    }
    Some(out)
}

/// End-to-end delay, in samples, of this encoder's analysis plus a standard decoder's hybrid
/// synthesis (measured against symphonia's decoder at every supported rate).
const CODEC_DELAY: usize = 1057;

impl FrameLayout {
    fn is_mpeg1(&self) -> bool {
        self.version_bits == 0b11
    }

    fn granules(&self) -> usize {
        if self.is_mpeg1() {
            2
        } else {
            1
        }
    }

    /// A frame of digital silence: header, then all-zero side info and main data.
    fn silent_frame(&self, sample_rate: u32) -> Vec<u8> {
        let mut frame = vec![0u8; self.frame_len(sample_rate)];
        if let Some(head) = frame.get_mut(..4) {
            head.copy_from_slice(&self.header());
        }
        frame
    }

    /// Encodes one frame from `input` (its first samples-per-frame samples; missing samples
    /// are silence).
    fn audible_frame(
        &self,
        analyzer: &mut Analyzer,
        input: &[f64],
        frame_len: usize,
    ) -> Result<Vec<u8>, EncodeError> {
        let granules = self.granules();
        let main_bits = frame_len
            .checked_sub(4 + self.side_info_len)
            .ok_or(EncodeError::OverBudget)?
            * 8;
        let budget = main_bits / granules;
        let mut coded = Vec::with_capacity(granules);
        for gr in 0..granules {
            let chunk = input.get(gr * 576..).unwrap_or(&[]);
            let lines = analyzer.granule(chunk);
            coded.push(quantize(&lines, budget)?);
        }
        let mut w = BitWriter::default();
        for byte in self.header() {
            w.put(u32::from(byte), 8);
        }
        if self.is_mpeg1() {
            w.put(0, 9); // main_data_begin: no bit reservoir
            w.put(0, 5); // private bits
            w.put(0, 4); // scfsi
        } else {
            w.put(0, 8); // main_data_begin
            w.put(0, 1); // private bit
        }
        for g in &coded {
            let bits = u32::try_from(g.bits()).map_err(|_| EncodeError::OverBudget)?;
            if bits >= 1 << 12 || g.big_values > 288 {
                return Err(EncodeError::OverBudget);
            }
            // A silent granule keeps the all-zero side info of [`encode_silent`].
            let coded = u32::from(g.big_values > 0);
            w.put(bits, 12); // part2_3_length (no scalefactor bits)
            w.put(g.big_values, 9);
            w.put(g.global_gain, 8);
            w.put(0, if self.is_mpeg1() { 4 } else { 9 }); // scalefac_compress: slen all 0
            w.put(0, 1); // window_switching_flag: long blocks
            for _ in 0..3 {
                w.put(coded, 5); // table_select: Huffman table 1 in every region
            }
            w.put(7 * coded, 4); // region0_count
            w.put(7 * coded, 3); // region1_count
            if self.is_mpeg1() {
                w.put(0, 1); // preflag
            }
            w.put(0, 1); // scalefac_scale
            w.put(0, 1); // count1table_select (unused: no count1 region)
        }
        if w.len() != (4 + self.side_info_len) * 8 {
            return Err(EncodeError::OverBudget);
        }
        for g in &coded {
            g.write(&mut w);
        }
        if w.len() > frame_len * 8 {
            return Err(EncodeError::OverBudget);
        }
        let mut frame = w.into_bytes();
        frame.resize(frame_len, 0);
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::test_decoder;

    const RATES: [u32; 6] = [8_000, 16_000, 22_050, 32_000, 44_100, 48_000];

    fn frames_for(text: &str, rate: u32) -> u64 {
        layout(rate)
            .unwrap()
            .frames_for(signal::total_samples(text, rate))
    }

    /// Amplitude of the `freq` component of `x` (single-bin DFT).
    fn tone_level(x: &[f64], freq: f64, rate: u32) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
        let (re, im) = x.iter().enumerate().fold((0.0, 0.0), |(re, im), (n, v)| {
            (re + v * (w * n as f64).cos(), im + v * (w * n as f64).sin())
        });
        2.0 * (re * re + im * im).sqrt() / x.len() as f64
    }

    fn rms(x: &[f64]) -> f64 {
        (x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64).sqrt()
    }

    #[test]
    fn frame_sizes() {
        assert_eq!(layout(48_000).map(|l| l.frame_len(48_000)), Some(192));
        assert_eq!(layout(44_100).map(|l| l.frame_len(44_100)), Some(208));
        assert_eq!(layout(32_000).map(|l| l.frame_len(32_000)), Some(288));
        assert_eq!(layout(22_050).map(|l| l.frame_len(22_050)), Some(104));
        assert_eq!(layout(16_000).map(|l| l.frame_len(16_000)), Some(144));
        assert_eq!(layout(8_000).map(|l| l.frame_len(8_000)), Some(144));
        assert!(layout(24_000).is_none());
        assert!(encode_silent(11_025, 1, "x").is_none());
        assert!(encode(11_025, 1, "x").is_none());
    }

    #[test]
    fn headers_have_sync_and_mono() {
        let bytes = encode_silent(8_000, 3, "").unwrap();
        let tag_len = id3_tag("").len();
        assert_eq!(bytes.len(), tag_len + 3 * 144);
        assert_eq!(&bytes[tag_len..tag_len + 4], &[0xFF, 0xE3, 0x28, 0xC4]);
        assert_eq!(layout(8_000).unwrap().frames_for(577), 2);
    }

    /// The audible stream has the silent stream's exact layout, and symphonia (through
    /// `indox_audio::measure`, which drops any frame that fails to decode) plays every frame.
    #[test]
    fn audible_stream_keeps_layout_and_decodes_with_symphonia() {
        for rate in RATES {
            for text in ["hello world", "aaaa", "", "Zürich ~/0"] {
                let frames = frames_for(text, rate);
                let audible = encode(rate, frames, text).unwrap();
                let silent = encode_silent(rate, frames, text).unwrap();
                assert_eq!(audible.len(), silent.len(), "{rate} {text:?}");
                assert_eq!(encode(rate, frames, text).unwrap(), audible);
                let tag_len = id3_tag(text).len();
                assert_eq!(audible[..tag_len], silent[..tag_len]);
                let frame_len = layout(rate).unwrap().frame_len(rate);
                for (a, s) in audible[tag_len..]
                    .chunks(frame_len)
                    .zip(silent[tag_len..].chunks(frame_len))
                {
                    assert_eq!(a[..4], s[..4], "{rate}: every frame keeps the header");
                }
                let info = indox_audio::measure(&audible, indox_audio::AudioFormat::Mp3)
                    .unwrap_or_else(|e| panic!("{rate} {text:?}: {e}"));
                let spf = u64::from(layout(rate).unwrap().samples_per_frame);
                assert_eq!(info.frames, frames * spf, "{rate} {text:?}: frames lost");
                assert_eq!((info.sample_rate, info.channels), (rate, 1));
                assert_eq!(
                    indox_audio::embedded_text(&audible, indox_audio::AudioFormat::Mp3).as_deref(),
                    Some(text)
                );
                assert_eq!(
                    symphonia_decode(&audible),
                    frames * spf,
                    "{rate} {text:?}: a real decoder decodes every frame without error"
                );
            }
        }
    }

    /// Decodes with symphonia, failing on any decode error; returns the sample frames.
    fn symphonia_decode(bytes: &[u8]) -> u64 {
        indox_audio::reference::mp3_decoded_frames(bytes).unwrap()
    }

    #[test]
    fn blank_text_is_exactly_silent() {
        for rate in RATES {
            let frames = frames_for("  \n ", rate);
            assert_eq!(
                encode(rate, frames, "  \n "),
                encode_silent(rate, frames, "  \n ")
            );
        }
    }

    /// Decoded tones are loud and sit at the frequency `signal` gives each character.
    #[test]
    fn decoded_tones_are_audible_at_the_right_pitch() {
        for rate in RATES {
            for ch in ['a', 'z', '/', 'M'] {
                let text: String = std::iter::repeat_n(ch, 8).collect();
                let frames = frames_for(&text, rate);
                let bytes = encode(rate, frames, &text).unwrap();
                let pcm = test_decoder::decode(&bytes, rate, &text)
                    .unwrap_or_else(|e| panic!("{rate} {ch}: {e}"));
                let spf = layout(rate).unwrap().samples_per_frame as usize;
                assert_eq!(pcm.len() as u64, frames * spf as u64);
                let reference = signal::render(&text, rate);
                let freq = signal::frequency(ch).unwrap();
                // Residual delay: the lead-in absorbs up to CODEC_DELAY samples.
                let lead = signal::ms_to_samples(signal::LEAD_MS, rate) as usize;
                let shift = CODEC_DELAY - CODEC_DELAY.min(lead);
                let char_len = signal::ms_to_samples(signal::CHAR_MS, rate) as usize;
                for i in 1..7 {
                    let start = lead + i * char_len + shift;
                    let got = &pcm[start..start + char_len];
                    let want = &reference[start - shift..start - shift + char_len];
                    assert!(
                        rms(got) > 0.35 * rms(want) && rms(got) < 2.0 * rms(want),
                        "{rate} {ch} char {i}: rms {} vs {}",
                        rms(got),
                        rms(want)
                    );
                    let on = tone_level(got, freq, rate);
                    for other in [
                        freq - 90.0,
                        freq - 45.0,
                        freq + 45.0,
                        freq + 90.0,
                        2.0 * freq,
                    ] {
                        let off = tone_level(got, other, rate);
                        assert!(
                            on > 2.0 * off,
                            "{rate} {ch}: {on} at {freq} vs {off} at {other}"
                        );
                    }
                }
                // Lead-in before the first tone stays (nearly) silent.
                assert!(rms(&pcm[..lead / 2]) < 0.01, "{rate} {ch}: noisy lead-in");
            }
        }
    }
}
