//! MP3 measurement: walks the MPEG audio frame headers (no decoding, so it is cheap on the
//! request path) and counts the samples a player outputs: frames x samples-per-frame, with no
//! gapless trimming; an initial Xing/Info/VBRI metadata frame carries no audio and is not
//! counted. Also ID3v2 text lookup. Tests check the count against a real decoder (symphonia).

use crate::{AudioError, AudioFormat, AudioInfo};

/// One parsed Layer III frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    /// 1 for MPEG-1, 2 for MPEG-2, 25 for MPEG-2.5.
    version: u8,
    sample_rate: u32,
    channels: u16,
    frame_len: usize,
    samples: u64,
    /// Bytes of side information after the 4-byte header (and CRC).
    side_info_end: usize,
}

const BITRATES_V1_L3: [u32; 15] = [
    0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
const BITRATES_V2_L3: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

fn parse_header(b: &[u8]) -> Option<Header> {
    let h = b.get(0..4)?;
    if h[0] != 0xFF || h[1] & 0xE0 != 0xE0 {
        return None;
    }
    let version = match (h[1] >> 3) & 0b11 {
        0b00 => 25,
        0b10 => 2,
        0b11 => 1,
        _ => return None,
    };
    // Layer III only ("01").
    if (h[1] >> 1) & 0b11 != 0b01 {
        return None;
    }
    let protected = h[1] & 1 == 0;
    let bitrate_index = usize::from(h[2] >> 4);
    let sr_index = (h[2] >> 2) & 0b11;
    let padding = usize::from((h[2] >> 1) & 1);
    let mode = h[3] >> 6;
    // Free format (0) and the forbidden index (15) are refused.
    if bitrate_index == 0 || bitrate_index == 15 || sr_index == 3 {
        return None;
    }
    let base_rate = [44_100u32, 48_000, 32_000][usize::from(sr_index)];
    let (sample_rate, kbps, samples, coeff) = match version {
        1 => (base_rate, BITRATES_V1_L3[bitrate_index], 1152u64, 144u32),
        2 => (base_rate / 2, BITRATES_V2_L3[bitrate_index], 576, 72),
        _ => (base_rate / 4, BITRATES_V2_L3[bitrate_index], 576, 72),
    };
    let frame_len = (coeff * kbps * 1000 / sample_rate) as usize + padding;
    let channels: u16 = if mode == 0b11 { 1 } else { 2 };
    let side_info = match (version, channels) {
        (1, 1) => 17,
        (1, _) => 32,
        (_, 1) => 9,
        _ => 17,
    };
    let side_info_end = 4 + if protected { 2 } else { 0 } + side_info;
    if frame_len < side_info_end {
        return None;
    }
    Some(Header {
        version,
        sample_rate,
        channels,
        frame_len,
        samples,
        side_info_end,
    })
}

/// Whether a frame is a Xing/Info/VBRI metadata frame (no audio).
fn is_metadata_frame(frame: &[u8], h: &Header) -> bool {
    let tag_at = |off: usize| frame.get(off..off + 4);
    matches!(tag_at(h.side_info_end), Some(b"Xing") | Some(b"Info")) || tag_at(36) == Some(b"VBRI")
}

/// Where the audio starts: after any ID3v2 tags (with their optional footer).
fn skip_id3v2(bytes: &[u8]) -> usize {
    let mut pos = 0;
    while bytes.len() >= pos + 10 && &bytes[pos..pos + 3] == b"ID3" {
        let footer = if bytes[pos + 5] & 0x10 != 0 { 10 } else { 0 };
        pos += 10 + syncsafe(&bytes[pos + 6..pos + 10]) + footer;
    }
    pos
}

/// Measures an MP3 file by walking its frame headers.
///
/// Frames must chain one after another with the same version, sample rate and channel count.
/// After the last whole frame only an ID3v1 tag (`TAG` + 125 bytes), an APE tag, or a cut-off
/// partial frame may follow; any other break in the chain is refused, because we would not
/// know what a player plays.
pub(crate) fn measure_mp3(bytes: &[u8]) -> Result<AudioInfo, AudioError> {
    if bytes.is_empty() {
        return Err(AudioError::Empty);
    }
    let mut pos = skip_id3v2(bytes);
    let mut first: Option<Header> = None;
    let mut frames: u64 = 0;
    let mut audio_frames_seen = 0u64;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let Some(h) = parse_header(rest) else {
            if first.is_some() && is_trailer(rest) {
                break;
            }
            return Err(AudioError::InvalidMp3(format!(
                "no MPEG Layer III frame header at byte {pos}"
            )));
        };
        if let Some(f) = first {
            if (f.version, f.sample_rate, f.channels) != (h.version, h.sample_rate, h.channels) {
                return Err(AudioError::InvalidMp3(
                    "sample rate or channels change mid-stream".into(),
                ));
            }
        }
        if rest.len() < h.frame_len {
            // A final frame cut short: players drop it.
            if first.is_some() {
                break;
            }
            return Err(AudioError::InvalidMp3(
                "the only frame is incomplete".into(),
            ));
        }
        let frame = &rest[..h.frame_len];
        if !(audio_frames_seen == 0 && first.is_none() && is_metadata_frame(frame, &h)) {
            frames += h.samples;
            audio_frames_seen += 1;
        }
        first.get_or_insert(h);
        pos += h.frame_len;
    }
    let Some(h) = first else {
        return Err(AudioError::InvalidMp3("no MPEG audio frames".into()));
    };
    if frames == 0 {
        return Err(AudioError::InvalidMp3("no audio frames".into()));
    }
    Ok(AudioInfo {
        format: AudioFormat::Mp3,
        sample_rate: h.sample_rate,
        channels: h.channels,
        frames,
    })
}

/// Tags that may follow the audio.
fn is_trailer(rest: &[u8]) -> bool {
    (rest.len() == 128 && rest.starts_with(b"TAG"))
        || rest.starts_with(b"APETAGEX")
        || rest.starts_with(b"LYRICSBEGIN")
}

/// Decodes an ID3v2 syncsafe 28-bit integer.
fn syncsafe(b: &[u8]) -> usize {
    b.iter()
        .take(4)
        .fold(0usize, |acc, x| (acc << 7) | usize::from(x & 0x7f))
}

/// Returns the value of the first ID3v2.3/2.4 `TXXX` frame (any description) or `COMM` frame
/// at the start of the file, decoded as UTF-8 / Latin-1.
pub(crate) fn id3_text(bytes: &[u8]) -> Option<String> {
    if bytes.len() < 10 || &bytes[0..3] != b"ID3" {
        return None;
    }
    let major = bytes[3];
    if major != 3 && major != 4 {
        return None;
    }
    let tag_len = syncsafe(&bytes[6..10]);
    let tag = bytes.get(10..10usize.checked_add(tag_len)?)?;
    let mut pos = 0;
    while pos + 10 <= tag.len() {
        let id = &tag[pos..pos + 4];
        if id[0] == 0 {
            break;
        }
        let size = if major == 4 {
            syncsafe(&tag[pos + 4..pos + 8])
        } else {
            u32::from_be_bytes([tag[pos + 4], tag[pos + 5], tag[pos + 6], tag[pos + 7]]) as usize
        };
        let body = tag.get(pos + 10..(pos + 10).checked_add(size)?)?;
        if (id == b"TXXX" || id == b"COMM") && !body.is_empty() {
            let encoding = body[0];
            // TXXX: enc, description\0, value. COMM: enc, lang[3], description\0, value.
            let rest = if id == b"COMM" {
                body.get(4..)?
            } else {
                &body[1..]
            };
            let mut parts = rest.splitn(2, |b| *b == 0);
            let _description = parts.next()?;
            let value = parts.next()?;
            let value = value.split(|b| *b == 0).next().unwrap_or_default();
            return match encoding {
                0 => Some(value.iter().map(|b| char::from(*b)).collect()),
                3 => String::from_utf8(value.to_vec()).ok(),
                _ => None,
            };
        }
        pos += 10 + size;
    }
    None
}
