//! Input media for async jobs: the URL policy, fetching, sniffing by magic bytes, measuring
//! with `indox_audio`, the simulator's watermark marker, and a minimal multipart reader.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use indox_audio::{AudioFormat, AudioInfo};

use crate::error::SimError;
use crate::state::SimState;

/// Fetch timeout for media URLs (the upstream documents 30 s) and callback deliveries.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest media body accepted (the upstream's detect/enhance limit, 150 MB).
pub const MAX_MEDIA_BYTES: usize = 150 * 1024 * 1024;
/// The watermark marker: a WAV `LIST`/`INFO` `ISFT` value, or an MP3 ID3 `PRIV` owner id.
pub const WATERMARK_MARKER: &str = "indox-watermark";
/// Substring that makes any job fail deterministically when it appears in a request field.
pub const FAIL_TRIGGER: &str = "fail-job";

/// What kind of media some bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// WAV or MP3 audio.
    Audio(AudioFormat),
    /// An image: `"png"`, `"jpeg"`, `"gif"` or `"webp"`.
    Image(&'static str),
}

/// Fetched (or uploaded) media, analysed.
#[derive(Debug, Clone)]
pub struct Media {
    /// The raw bytes.
    pub bytes: Bytes,
    /// Sniffed kind.
    pub kind: MediaKind,
    /// Measured audio (audio only).
    pub info: Option<AudioInfo>,
    /// Text the simulator embedded when it synthesized this audio, if any.
    pub text: Option<String>,
    /// Whether the simulator's watermark marker is present.
    pub watermarked: bool,
}

impl Media {
    /// `"audio"` or `"image"`.
    pub fn media_type(&self) -> &'static str {
        match self.kind {
            MediaKind::Audio(_) => "audio",
            MediaKind::Image(_) => "image",
        }
    }

    /// Audio duration in seconds (0 for images).
    pub fn duration(&self) -> f64 {
        self.info.map(|i| i.duration_seconds_f64()).unwrap_or(0.0)
    }

    /// MIME type to serve the bytes with.
    pub fn content_type(&self) -> &'static str {
        match self.kind {
            MediaKind::Audio(f) => f.content_type(),
            MediaKind::Image("png") => "image/png",
            MediaKind::Image("jpeg") => "image/jpeg",
            MediaKind::Image("gif") => "image/gif",
            MediaKind::Image(_) => "image/webp",
        }
    }
}

/// Sniffs the media kind from magic bytes.
pub fn sniff(bytes: &[u8]) -> Option<MediaKind> {
    let at = |range: std::ops::Range<usize>| bytes.get(range);
    if at(0..4) == Some(b"RIFF") && at(8..12) == Some(b"WAVE") {
        Some(MediaKind::Audio(AudioFormat::Wav))
    } else if at(0..4) == Some(b"RIFF") && at(8..12) == Some(b"WEBP") {
        Some(MediaKind::Image("webp"))
    } else if at(0..8) == Some(b"\x89PNG\r\n\x1a\n") {
        Some(MediaKind::Image("png"))
    } else if at(0..3) == Some(b"\xFF\xD8\xFF") {
        Some(MediaKind::Image("jpeg"))
    } else if at(0..4) == Some(b"GIF8") {
        Some(MediaKind::Image("gif"))
    } else if at(0..3) == Some(b"ID3")
        || (bytes.len() >= 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0)
    {
        Some(MediaKind::Audio(AudioFormat::Mp3))
    } else {
        None
    }
}

/// Analyses media bytes; the error is the job's `error_message`.
pub fn analyze(bytes: Bytes) -> Result<Media, String> {
    let kind = sniff(&bytes).ok_or_else(|| "File must be valid media format".to_owned())?;
    match kind {
        MediaKind::Audio(format) => {
            let info = indox_audio::measure(&bytes, format)
                .map_err(|e| format!("File must be valid media format: {e}"))?;
            let text = indox_audio::embedded_text(&bytes, format);
            let watermarked = has_watermark(&bytes, format);
            Ok(Media {
                bytes,
                kind,
                info: Some(info),
                text,
                watermarked,
            })
        }
        MediaKind::Image(_) => Ok(Media {
            bytes,
            kind,
            info: None,
            text: None,
            watermarked: false,
        }),
    }
}

fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xFE00) == 0xFC00
                || (first & 0xFFC0) == 0xFE80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private_ip(IpAddr::V4(v4)))
        }
    }
}

/// Validates a media or callback URL: `http(s)` with a host; when private URLs are not allowed
/// (as upstream), it must be `https` and not name a loopback/private/link-local host.
pub fn check_url(state: &SimState, field: &'static str, raw: &str) -> Result<(), SimError> {
    let url = reqwest::Url::parse(raw)
        .map_err(|_| SimError::field(field, format!("{field} must be a valid URL")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(SimError::field(
            field,
            format!("{field} must be an http(s) URL"),
        ));
    }
    if state.allow_private_urls {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let private = match bare.parse::<IpAddr>() {
        Ok(ip) => is_private_ip(ip),
        Err(_) => bare == "localhost" || bare.ends_with(".localhost"),
    };
    if url.scheme() != "https" || private {
        return Err(SimError::field(
            field,
            format!("{field} must be a public HTTPS URL (private, loopback and link-local hosts are rejected)"),
        ));
    }
    Ok(())
}

/// Downloads a media URL with a plain GET; the error is the job's `error_message`.
pub async fn fetch(state: &SimState, url: &str) -> Result<Bytes, String> {
    let resp = state
        .http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("Could not fetch media: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!(
            "Could not fetch media: HTTP {}",
            resp.status().as_u16()
        ));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("Could not fetch media: {e}"))?;
    if bytes.len() > MAX_MEDIA_BYTES {
        return Err("File is too large".to_owned());
    }
    Ok(bytes)
}

fn le_u32(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
}

/// Offset of the WAV `data` chunk header.
fn wav_data_offset(bytes: &[u8]) -> Option<usize> {
    let mut pos = 12;
    while pos + 8 <= bytes.len() {
        if &bytes[pos..pos + 4] == b"data" {
            return Some(pos);
        }
        let size = le_u32(bytes, pos + 4)?;
        pos = pos.checked_add(8 + size + size % 2)?;
    }
    None
}

fn syncsafe(b: &[u8]) -> usize {
    b.iter()
        .fold(0usize, |acc, x| (acc << 7) | usize::from(x & 0x7F))
}

fn to_syncsafe(n: usize) -> [u8; 4] {
    [
        ((n >> 21) & 0x7F) as u8,
        ((n >> 14) & 0x7F) as u8,
        ((n >> 7) & 0x7F) as u8,
        (n & 0x7F) as u8,
    ]
}

/// The ID3v2 tag region (header + body), if the bytes start with one.
fn id3_region(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.get(0..3)? != b"ID3" {
        return None;
    }
    let len = syncsafe(bytes.get(6..10)?);
    bytes.get(..(10 + len).min(bytes.len()))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Whether the simulator's watermark marker is in the metadata before the audio.
pub fn has_watermark(bytes: &[u8], format: AudioFormat) -> bool {
    let region = match format {
        AudioFormat::Wav => wav_data_offset(bytes).and_then(|end| bytes.get(..end)),
        AudioFormat::Mp3 => id3_region(bytes),
    };
    region.is_some_and(|r| contains(r, WATERMARK_MARKER.as_bytes()))
}

/// A copy of the audio with the watermark marker added (idempotent). WAV: a `LIST`/`INFO`
/// chunk with `ISFT` = `indox-watermark` right before `data`. MP3: an ID3 `PRIV` frame with
/// owner `indox-watermark` (a new ID3v2.4 tag if there was none).
pub fn apply_watermark(bytes: &[u8], format: AudioFormat) -> Result<Vec<u8>, String> {
    if has_watermark(bytes, format) {
        return Ok(bytes.to_vec());
    }
    match format {
        AudioFormat::Wav => {
            let at = wav_data_offset(bytes).ok_or("WAV has no data chunk")?;
            let mut value = WATERMARK_MARKER.as_bytes().to_vec();
            value.push(0);
            let mut list = b"LIST".to_vec();
            list.extend_from_slice(&((4 + 8 + value.len()) as u32).to_le_bytes());
            list.extend_from_slice(b"INFOISFT");
            list.extend_from_slice(&(value.len() as u32).to_le_bytes());
            list.extend_from_slice(&value);
            let mut out = Vec::with_capacity(bytes.len() + list.len());
            out.extend_from_slice(&bytes[..at]);
            out.extend_from_slice(&list);
            out.extend_from_slice(&bytes[at..]);
            let riff = le_u32(&out, 4).ok_or("WAV is truncated")?;
            if riff != 0xFFFF_FFFF {
                let new = (riff + list.len()).min(0xFFFF_FFFE) as u32;
                out[4..8].copy_from_slice(&new.to_le_bytes());
            }
            Ok(out)
        }
        AudioFormat::Mp3 => {
            let mut body = WATERMARK_MARKER.as_bytes().to_vec();
            body.push(0);
            body.extend_from_slice(b"perth_v2");
            let major = bytes.get(3).copied().unwrap_or(0);
            let flags = bytes.get(5).copied().unwrap_or(0);
            let simple_tag =
                bytes.get(0..3) == Some(b"ID3") && (major == 3 || major == 4) && flags & 0xD0 == 0;
            if simple_tag {
                let tag_len = syncsafe(bytes.get(6..10).ok_or("ID3 tag is truncated")?);
                let tag_end = (10 + tag_len).min(bytes.len());
                // Walk the frames to find where they end (padding may follow).
                let mut pos = 10;
                while pos + 10 <= tag_end && bytes[pos] != 0 {
                    let raw = &bytes[pos + 4..pos + 8];
                    let size = if major == 4 {
                        syncsafe(raw)
                    } else {
                        u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize
                    };
                    pos += 10 + size;
                }
                let pos = pos.min(tag_end);
                let size = if major == 4 {
                    to_syncsafe(body.len())
                } else {
                    (body.len() as u32).to_be_bytes()
                };
                let mut frame = b"PRIV".to_vec();
                frame.extend_from_slice(&size);
                frame.extend_from_slice(&[0, 0]);
                frame.extend_from_slice(&body);
                let mut out = Vec::with_capacity(bytes.len() + frame.len());
                out.extend_from_slice(&bytes[..pos]);
                out.extend_from_slice(&frame);
                out.extend_from_slice(&bytes[pos..]);
                out[6..10].copy_from_slice(&to_syncsafe(tag_len + frame.len()));
                Ok(out)
            } else {
                let mut frame = b"PRIV".to_vec();
                frame.extend_from_slice(&to_syncsafe(body.len()));
                frame.extend_from_slice(&[0, 0]);
                frame.extend_from_slice(&body);
                let mut out = b"ID3\x04\x00\x00".to_vec();
                out.extend_from_slice(&to_syncsafe(frame.len()));
                out.extend_from_slice(&frame);
                out.extend_from_slice(bytes);
                Ok(out)
            }
        }
    }
}

/// One part of a `multipart/form-data` body.
#[derive(Debug, Clone)]
pub struct Part {
    /// The `name` of the form field.
    pub name: String,
    /// Whether the part is a file upload (has a `filename` or a `Content-Type`).
    pub is_file: bool,
    /// The part's bytes.
    pub data: Bytes,
}

/// Reads a `multipart/form-data` body (enough for simple clients: no nested parts).
pub fn multipart(content_type: &str, body: &Bytes) -> Result<Vec<Part>, SimError> {
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"'))
        .filter(|b| !b.is_empty())
        .ok_or_else(|| SimError::bad_request("multipart body without a boundary"))?;
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let find = |from: usize| -> Option<usize> {
        body.get(from..)?
            .windows(d.len())
            .position(|w| w == d)
            .map(|p| p + from)
    };
    let mut parts = Vec::new();
    let mut pos = find(0).ok_or_else(|| SimError::bad_request("malformed multipart body"))?;
    loop {
        let start = pos + d.len();
        if body.get(start..start + 2) == Some(b"--") {
            break;
        }
        let Some(next) = find(start) else { break };
        let mut from = start;
        if body.get(from..from + 2) == Some(b"\r\n") {
            from += 2;
        }
        let mut to = next;
        if to >= from + 2 && body.get(to - 2..to) == Some(b"\r\n") {
            to -= 2;
        }
        let chunk = body.get(from..to).unwrap_or_default();
        if let Some(split) = chunk.windows(4).position(|w| w == b"\r\n\r\n") {
            let headers = String::from_utf8_lossy(&chunk[..split]);
            let name = headers
                .split("\r\n")
                .filter(|h| h.to_ascii_lowercase().starts_with("content-disposition:"))
                .flat_map(|h| h.split(';'))
                .filter_map(|p| p.trim().strip_prefix("name="))
                .map(|n| n.trim_matches('"').to_owned())
                .next()
                .unwrap_or_default();
            let lower = headers.to_ascii_lowercase();
            let is_file = lower.contains("filename=") || lower.contains("content-type:");
            parts.push(Part {
                name,
                is_file,
                data: body.slice(from + split + 4..to),
            });
        }
        pos = next;
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{mp3, signal, wav};

    #[test]
    fn wav_watermark_roundtrip_keeps_text_and_length() {
        let pcm = signal::render("hi there", 8000);
        let w = wav::encode(&pcm, 8000, wav::Precision::Pcm16, "hi there");
        assert!(!has_watermark(&w, AudioFormat::Wav));
        let marked = apply_watermark(&w, AudioFormat::Wav).unwrap();
        assert!(has_watermark(&marked, AudioFormat::Wav));
        let a = indox_audio::measure(&w, AudioFormat::Wav).unwrap();
        let b = indox_audio::measure(&marked, AudioFormat::Wav).unwrap();
        assert_eq!(a.frames, b.frames);
        assert_eq!(
            indox_audio::embedded_text(&marked, AudioFormat::Wav).as_deref(),
            Some("hi there")
        );
    }

    #[test]
    fn mp3_watermark_roundtrip_keeps_text_and_length() {
        let layout = mp3::layout(16_000).unwrap();
        let frames = layout.frames_for(signal::total_samples("abc", 16_000));
        let m = mp3::encode(16_000, frames, "abc").unwrap();
        assert!(!has_watermark(&m, AudioFormat::Mp3));
        let marked = apply_watermark(&m, AudioFormat::Mp3).unwrap();
        assert!(has_watermark(&marked, AudioFormat::Mp3));
        let a = indox_audio::measure(&m, AudioFormat::Mp3).unwrap();
        let b = indox_audio::measure(&marked, AudioFormat::Mp3).unwrap();
        assert_eq!(a.frames, b.frames);
        assert_eq!(
            indox_audio::embedded_text(&marked, AudioFormat::Mp3).as_deref(),
            Some("abc")
        );
        // Without any ID3 tag, a fresh one is prepended and carries no text.
        let bare = &m[10 + syncsafe(&m[6..10])..];
        let marked = apply_watermark(bare, AudioFormat::Mp3).unwrap();
        assert!(has_watermark(&marked, AudioFormat::Mp3));
        assert_eq!(indox_audio::embedded_text(&marked, AudioFormat::Mp3), None);
        assert_eq!(
            indox_audio::measure(&marked, AudioFormat::Mp3)
                .unwrap()
                .frames,
            a.frames
        );
    }

    #[test]
    fn sniffing() {
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n...."),
            Some(MediaKind::Image("png"))
        );
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0"), Some(MediaKind::Image("jpeg")));
        assert_eq!(sniff(b"ID3\x04"), Some(MediaKind::Audio(AudioFormat::Mp3)));
        assert_eq!(sniff(b"hello"), None);
        assert!(analyze(Bytes::from_static(b"RIFF\0\0\0\0WAVEjunk")).is_err());
    }

    #[test]
    fn multipart_parts() {
        let body = Bytes::from_static(
            b"--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n--XX\r\nContent-Disposition: form-data; name=\"audio_file\"; filename=\"x.wav\"\r\nContent-Type: audio/wav\r\n\r\n\x00\x01\r\n\x02\r\n--XX--\r\n",
        );
        let parts = multipart("multipart/form-data; boundary=XX", &body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "a");
        assert_eq!(&parts[0].data[..], b"hello");
        assert!(!parts[0].is_file && parts[1].is_file);
        assert_eq!(parts[1].name, "audio_file");
        assert_eq!(&parts[1].data[..], b"\x00\x01\r\n\x02");
    }

    #[test]
    fn private_hosts() {
        let cfg = crate::SimConfig {
            allow_private_urls: false,
            ..crate::SimConfig::default()
        };
        let state = SimState::new(&cfg);
        for bad in [
            "https://127.0.0.1/x",
            "https://localhost/x",
            "https://10.1.2.3/x",
            "https://[::1]/x",
            "https://169.254.1.1/x",
            "http://example.com/x",
            "ftp://example.com/x",
        ] {
            assert!(check_url(&state, "url", bad).is_err(), "{bad}");
        }
        assert!(check_url(&state, "url", "https://example.com/a.wav").is_ok());
        let open = SimState::new(&crate::SimConfig::default());
        assert!(check_url(&open, "url", "http://127.0.0.1:9/x").is_ok());
    }
}
