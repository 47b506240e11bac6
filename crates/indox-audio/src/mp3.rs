//! MP3 measurement: decodes the stream with symphonia and counts the PCM frames a real player
//! would output (frames x samples-per-frame; no gapless trimming), plus ID3v2 text lookup.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_MP3};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::{AudioError, AudioFormat, AudioInfo};

/// Measures an MP3 file by decoding every frame. Panics inside the decoder (on hostile input)
/// are caught and reported as [`AudioError::InvalidMp3`].
pub(crate) fn measure_mp3(bytes: &[u8]) -> Result<AudioInfo, AudioError> {
    if bytes.is_empty() {
        return Err(AudioError::Empty);
    }
    let owned = bytes.to_vec();
    catch_unwind(AssertUnwindSafe(move || decode_count(owned))).unwrap_or(Err(
        AudioError::InvalidMp3("decoder failed on malformed input".into()),
    ))
}

fn decode_count(owned: Vec<u8>) -> Result<AudioInfo, AudioError> {
    let mss = MediaSourceStream::new(
        Box::new(Cursor::new(owned)),
        MediaSourceStreamOptions::default(),
    );
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let fmt_opts = FormatOptions {
        enable_gapless: false,
        ..FormatOptions::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, mss, &fmt_opts, &MetadataOptions::default())
        .map_err(|e| AudioError::InvalidMp3(format!("not an MP3 stream: {e}")))?;
    let mut reader = probed.format;
    let track = reader
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec == CODEC_TYPE_MP3)
        .ok_or_else(|| AudioError::InvalidMp3("no MP3 track".into()))?;
    let track_id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| AudioError::InvalidMp3(format!("no decoder: {e}")))?;

    let mut frames: u64 = 0;
    let mut sample_rate: u32 = 0;
    let mut channels: u16 = 0;
    loop {
        let packet = match reader.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => return Err(AudioError::InvalidMp3(format!("demux error: {e}"))),
        };
        if packet.track_id() != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                let spec = buf.spec();
                if sample_rate == 0 {
                    sample_rate = spec.rate;
                    channels = u16::try_from(spec.channels.count()).unwrap_or(u16::MAX);
                } else if spec.rate != sample_rate {
                    return Err(AudioError::InvalidMp3(
                        "sample rate changes mid-stream".into(),
                    ));
                }
                frames += buf.frames() as u64;
            }
            // A corrupt frame is skipped by players, so it does not count as played audio.
            Err(SymError::DecodeError(_)) => continue,
            Err(e) => return Err(AudioError::InvalidMp3(format!("decode error: {e}"))),
        }
    }
    if frames == 0 || sample_rate == 0 {
        return Err(AudioError::InvalidMp3("no decodable MP3 frames".into()));
    }
    Ok(AudioInfo {
        format: AudioFormat::Mp3,
        sample_rate,
        channels,
        frames,
    })
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
