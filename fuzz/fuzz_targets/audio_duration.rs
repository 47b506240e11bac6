//! Fuzz target for the audio-duration decoders of `indox-audio`: `measure` (WAV and MP3),
//! the incremental `WavStreamMeter`, `media::mp4_duration_millis` and
//! `media::image_content_type`.
//!
//! Input layout: the first byte picks a mode (`b % 4`; the ASCII digits `'0'..'3'` map to
//! themselves):
//!
//! - `0` raw: `[k][k chunk-plan bytes][file bytes]` (`k = byte % 8`). The file is measured as
//!   WAV, MP3 and MP4 and typed as an image. Properties: `measure(Wav)` equals the
//!   `WavStreamMeter` fed the same bytes in chunks whose sizes come from the plan (also at
//!   intermediate prefixes), the meter's counters are monotonic and its errors sticky, every
//!   measured duration is consistent with its frame count and bounded by the input size.
//! - `1` synthetic WAV: a RIFF/WAVE file is built from the input (encoding, bits, channels,
//!   rate, extra chunks, declared data size, trailing bytes, a cut), and `measure` and the
//!   chunked meter must both report exactly the frames an independent computation expects.
//! - `2` synthetic MP3: a chain of Layer III frames (optional ID3v2 tag, Xing frame, ID3v1 /
//!   APE trailer, cut-off last frame) whose sample count is known.
//! - `3` synthetic MP4: `ftyp` + boxes + `moov/mvhd` (v0 or v1, 32/64-bit box sizes) with a
//!   known timescale and duration; also every truncation of it.

#![no_main]

use indox_audio::media::{image_content_type, mp4_duration_millis};
use indox_audio::{embedded_text, measure, AudioError, AudioFormat, AudioInfo, WavStreamMeter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        0 => raw(rest),
        1 => synth_wav(rest),
        2 => synth_mp3(rest),
        _ => synth_mp4(rest),
    }
});

/// Reads little pieces of the fuzz input; zeros once it is exhausted.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    fn flag(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    fn rest(&mut self) -> &[u8] {
        std::mem::take(&mut self.0)
    }
}

/// Splits `[k][k plan bytes][file]` into the chunk plan and the file.
fn split_plan(input: &[u8]) -> (&[u8], &[u8]) {
    let Some((&k, rest)) = input.split_first() else {
        return (&[], &[]);
    };
    let k = usize::from(k % 8).min(rest.len());
    rest.split_at(k)
}

/// The chunk sizes a plan describes, cycled until `len` bytes are covered. A plan byte `b`
/// is a chunk of `b` bytes (0: an empty feed), or of `(b - 0xEF) * 512` bytes from 0xF0 up.
fn chunks(plan: &[u8], len: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut covered = 0usize;
    if plan.is_empty() || plan.iter().all(|&b| b == 0) {
        sizes.extend(plan.iter().map(|_| 0));
        sizes.push(len);
        return sizes;
    }
    let mut i = 0usize;
    while covered < len {
        let b = plan[i % plan.len()];
        i += 1;
        let size = if b >= 0xF0 {
            usize::from(b - 0xEF) * 512
        } else {
            usize::from(b)
        };
        let size = size.min(len - covered);
        sizes.push(size);
        covered += size;
    }
    sizes
}

/// What `measure(bytes, Wav)` is specified to return, computed by feeding the meter in the
/// given chunks. Checks the meter's own invariants on the way. `prefix_checks` bounds how
/// many intermediate prefixes are compared against a one-shot `measure` (each costs a pass).
fn meter_in_chunks(
    bytes: &[u8],
    sizes: &[usize],
    mut prefix_checks: usize,
) -> Result<AudioInfo, AudioError> {
    let mut meter = WavStreamMeter::new();
    let mut fed = 0usize;
    let mut last_frames = 0u64;
    let mut last_data = 0u64;
    let mut failure: Option<AudioError> = None;
    // `bytes_seen` counts every byte up to and including the chunk that failed; a failed
    // meter refuses later chunks without counting them.
    let mut counted = 0usize;
    for &size in sizes {
        let chunk = &bytes[fed..fed + size];
        fed += size;
        match meter.feed(chunk) {
            Ok(()) => {
                assert!(failure.is_none(), "feed succeeded after an error");
                counted = fed;
            }
            Err(err) => {
                if let Some(first) = &failure {
                    assert_eq!(&err, first, "a later feed changed the sticky error");
                } else {
                    counted = fed;
                }
                failure = Some(err);
            }
        }
        assert_eq!(meter.bytes_seen(), counted as u64, "bytes_seen");
        assert!(
            meter.data_bytes() <= meter.bytes_seen(),
            "more data bytes than bytes"
        );
        if failure.is_some() {
            assert_eq!(meter.info(), None, "info() after an error");
            continue;
        }
        assert!(meter.data_bytes() >= last_data, "data_bytes went down");
        last_data = meter.data_bytes();
        if let Some(info) = meter.info() {
            assert!(info.frames >= last_frames, "frames went down");
            last_frames = info.frames;
        }
        if prefix_checks > 0 && fed < bytes.len() {
            prefix_checks -= 1;
            let whole = if fed == 0 {
                Err(AudioError::Empty)
            } else {
                measure(&bytes[..fed], AudioFormat::Wav)
            };
            if fed > 0 {
                assert_eq!(
                    meter.info(),
                    whole.ok(),
                    "meter and measure disagree on a {fed}-byte prefix"
                );
            }
        }
    }
    assert_eq!(fed, bytes.len());
    if let Some(err) = failure {
        return Err(err);
    }
    meter.info().ok_or(AudioError::InvalidWav(
        "no data chunk found (file is truncated or not audio)",
    ))
}

/// Invariants of any successful measurement.
fn check_info(info: &AudioInfo, format: AudioFormat, input_len: usize) {
    assert_eq!(info.format, format);
    assert!(info.sample_rate > 0, "measured audio with a zero rate");
    assert!(info.channels > 0, "measured audio with zero channels");
    let expected_ms = (u128::from(info.frames) * 1000).div_ceil(u128::from(info.sample_rate));
    assert_eq!(u128::from(info.duration_millis_ceil()), expected_ms);
    let secs = info.duration_seconds_f64();
    assert!(secs.is_finite() && secs >= 0.0);
    assert!(
        (secs * 1000.0 - expected_ms as f64).abs() <= 1.0 + expected_ms as f64 * 1e-9,
        "duration_seconds_f64 {secs} far from {expected_ms} ms"
    );
    match format {
        AudioFormat::Wav => {
            // Every counted frame is at least one byte per channel of the input.
            assert!(
                info.frames * u64::from(info.channels) <= input_len as u64,
                "{info:?} from {input_len} bytes"
            );
        }
        AudioFormat::Mp3 => {
            assert!(matches!(info.channels, 1 | 2));
            assert!(matches!(
                info.sample_rate,
                44_100 | 48_000 | 32_000 | 22_050 | 24_000 | 16_000 | 11_025 | 12_000 | 8_000
            ));
            assert!(info.frames > 0);
            let per_frame = if info.sample_rate >= 32_000 {
                1152
            } else {
                576
            };
            assert_eq!(info.frames % per_frame, 0, "{info:?}");
            // The shortest Layer III frame is 24 bytes (8 kbit/s at 24 kHz).
            assert!(
                info.frames / per_frame <= input_len as u64 / 24,
                "{info:?} from {input_len} bytes"
            );
        }
    }
}

fn raw(input: &[u8]) {
    let (plan, file) = split_plan(input);

    let whole = measure(file, AudioFormat::Wav);
    if file.is_empty() {
        assert_eq!(whole, Err(AudioError::Empty));
    }
    if let Ok(info) = &whole {
        check_info(info, AudioFormat::Wav, file.len());
    }
    if !file.is_empty() {
        let sizes = chunks(plan, file.len());
        assert_eq!(
            meter_in_chunks(file, &sizes, 8),
            whole,
            "measure and the chunked meter disagree (chunks {sizes:?})"
        );
    }

    match measure(file, AudioFormat::Mp3) {
        Ok(info) => check_info(&info, AudioFormat::Mp3, file.len()),
        Err(err) => {
            if file.is_empty() {
                assert_eq!(err, AudioError::Empty);
            }
        }
    }
    let _ = embedded_text(file, AudioFormat::Wav);
    let _ = embedded_text(file, AudioFormat::Mp3);

    if mp4_duration_millis(file).is_some() {
        assert_eq!(file.get(4..8), Some(&b"ftyp"[..]));
    }
    let expected_image = if file.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if file.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if file.starts_with(b"GIF87a") || file.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if file.len() >= 12 && file.starts_with(b"RIFF") && &file[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    };
    assert_eq!(image_content_type(file), expected_image);
}

// ---------------------------------------------------------------------------------------
// Synthetic WAV.

fn push_chunk(out: &mut Vec<u8>, id: &[u8; 4], body: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    if body.len() % 2 == 1 {
        out.push(0);
    }
}

const OTHER_CHUNKS: [&[u8; 4]; 5] = [b"LIST", b"cue ", b"fact", b"junk", b"bext"];

fn synth_wav(input: &[u8]) {
    let mut r = Reader(input);
    let (tag, bits) = match r.u8() % 4 {
        0 => (1u16, [8u16, 16, 24, 32][usize::from(r.u8() % 4)]),
        1 => (3, [32, 64][usize::from(r.u8() % 2)]),
        2 => (6, 8),
        _ => (7, 8),
    };
    let channels = u16::from(r.u8() % 8) + 1;
    let rate = r.u32().max(1);
    let extensible = r.flag();
    let block = channels * bits.div_ceil(8);

    let mut fmt = Vec::new();
    fmt.extend_from_slice(&(if extensible { 0xFFFE } else { tag }).to_le_bytes());
    fmt.extend_from_slice(&channels.to_le_bytes());
    fmt.extend_from_slice(&rate.to_le_bytes());
    fmt.extend_from_slice(&rate.wrapping_mul(u32::from(block)).to_le_bytes());
    fmt.extend_from_slice(&block.to_le_bytes());
    fmt.extend_from_slice(&bits.to_le_bytes());
    if extensible {
        fmt.extend_from_slice(&22u16.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        fmt.extend_from_slice(&4u32.to_le_bytes());
        fmt.extend_from_slice(&tag.to_le_bytes());
        fmt.extend_from_slice(&[
            0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
        ]);
    } else if r.flag() {
        // A non-extensible fmt may carry a cbSize (18 bytes) or more.
        fmt.extend_from_slice(&0u16.to_le_bytes());
    }

    let mut body = b"WAVE".to_vec();
    let before_fmt = r.u8() % 3;
    for _ in 0..before_fmt {
        let id = OTHER_CHUNKS[usize::from(r.u8()) % OTHER_CHUNKS.len()];
        let len = usize::from(r.u8() % 64);
        push_chunk(&mut body, id, &vec![0x5A; len]);
    }
    push_chunk(&mut body, b"fmt ", &fmt);
    let before_data = r.u8() % 3;
    for _ in 0..before_data {
        let id = OTHER_CHUNKS[usize::from(r.u8()) % OTHER_CHUNKS.len()];
        let len = usize::from(r.u8() % 64);
        push_chunk(&mut body, id, &vec![0xA5; len]);
    }
    // Sample bytes present, and trailing bytes (another chunk, or junk) after them.
    let present = usize::from(r.u16() % 2048);
    let trailer = usize::from(r.u8() % 64);
    let after_header = (present + trailer) as u64;
    let declared: u32 = match r.u8() % 5 {
        0 => present as u32,
        1 => 0,
        2 => u32::MAX,
        3 => (present as u32).saturating_add(u32::from(r.u16()) + 1),
        _ => (present as u32).saturating_sub(u32::from(r.u16() % 64)),
    };
    body.extend_from_slice(b"data");
    body.extend_from_slice(&declared.to_le_bytes());
    let payload_start = 8 + body.len();
    body.extend((0..present).map(|i| (i * 7 % 251) as u8));
    body.extend((0..trailer).map(|i| (i * 13 % 256) as u8));

    let mut file = b"RIFF".to_vec();
    file.extend_from_slice(&(body.len() as u32).to_le_bytes());
    file.extend_from_slice(&body);

    // Cut the file somewhere (or not): a truncated download or a stream still in flight.
    let cut = match r.u8() % 4 {
        0 => usize::from(r.u16()) % (file.len() + 1),
        _ => file.len(),
    };
    let file = &file[..cut];
    let plan: Vec<u8> = r.rest().iter().copied().take(8).collect();

    let expected = if cut < payload_start {
        None
    } else {
        let there = (cut - payload_start) as u64;
        debug_assert!(there <= after_header);
        let counted = if declared == 0 || declared == u32::MAX {
            there
        } else {
            there.min(u64::from(declared))
        };
        Some(AudioInfo {
            format: AudioFormat::Wav,
            sample_rate: rate,
            channels,
            frames: counted / u64::from(block),
        })
    };

    let got = measure(file, AudioFormat::Wav);
    match expected {
        Some(info) => assert_eq!(got, Ok(info), "synthetic WAV (cut at {cut})"),
        None => assert!(got.is_err(), "a WAV cut before its data measured: {got:?}"),
    }
    if !file.is_empty() {
        let sizes = chunks(&plan, file.len());
        assert_eq!(
            meter_in_chunks(file, &sizes, 4),
            got,
            "synthetic WAV: measure and the chunked meter disagree (chunks {sizes:?})"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Synthetic MP3.

/// Independent frame geometry: (sample rate, samples per frame, frame length).
fn mp3_geometry(version: u8, sr_index: u8, bitrate_index: u8, padding: bool) -> (u32, u64, usize) {
    const V1: [u32; 15] = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ];
    const V2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
    let base = [44_100u32, 48_000, 32_000][usize::from(sr_index)];
    let (rate, kbps, samples) = match version {
        1 => (base, V1[usize::from(bitrate_index)], 1152u64),
        2 => (base / 2, V2[usize::from(bitrate_index)], 576),
        _ => (base / 4, V2[usize::from(bitrate_index)], 576),
    };
    // Layer III: samples/8 bytes per (bit/s / rate), plus the padding byte.
    let len = (samples as u32 / 8 * kbps * 1000 / rate) as usize + usize::from(padding);
    (rate, samples, len)
}

fn synth_mp3(input: &[u8]) {
    let mut r = Reader(input);
    let version = [1u8, 2, 25][usize::from(r.u8() % 3)];
    let sr_index = r.u8() % 3;
    let bitrate_index = r.u8() % 14 + 1;
    let mode = r.u8() % 4;
    let protected = r.flag();
    let frames = usize::from(r.u8() % 40) + 1;
    let pad_bits = r.u64();
    let version_bits = match version {
        1 => 0b11,
        2 => 0b10,
        _ => 0b00,
    };
    let header = |padding: bool| -> [u8; 4] {
        [
            0xFF,
            0xE0 | (version_bits << 3) | (0b01 << 1) | u8::from(!protected),
            (bitrate_index << 4) | (sr_index << 2) | (u8::from(padding) << 1),
            mode << 6,
        ]
    };
    let channels: u16 = if mode == 0b11 { 1 } else { 2 };
    let side_info = match (version, channels) {
        (1, 1) => 17,
        (1, _) => 32,
        (_, 1) => 9,
        _ => 17,
    };
    let side_info_end = 4 + if protected { 2 } else { 0 } + side_info;

    let mut file = Vec::new();
    if r.flag() {
        // ID3v2 tag (optionally two, optionally with a footer) before the audio.
        for _ in 0..1 + r.u8() % 2 {
            let size = usize::from(r.u8() % 128);
            let footer = r.flag();
            file.extend_from_slice(b"ID3\x04\x00");
            file.push(if footer { 0x10 } else { 0 });
            file.extend_from_slice(&[0, 0, 0, size as u8]);
            file.extend(std::iter::repeat_n(0u8, size));
            if footer {
                file.extend_from_slice(b"3DI\x04\x00\x10\x00\x00\x00");
                file.push(size as u8);
            }
        }
    }
    let xing = r.flag();
    let mut counted = 0usize;
    let mut rate = 0;
    let mut samples = 0;
    for i in 0..frames {
        let padding = (pad_bits >> (i % 64)) & 1 == 1;
        let (fr_rate, fr_samples, len) = mp3_geometry(version, sr_index, bitrate_index, padding);
        rate = fr_rate;
        samples = fr_samples;
        let start = file.len();
        file.extend_from_slice(&header(padding));
        file.resize(start + len, 0);
        if i == 0 && xing && len >= side_info_end + 4 {
            file[start + side_info_end..start + side_info_end + 4].copy_from_slice(b"Xing");
        } else {
            counted += 1;
        }
    }
    match r.u8() % 5 {
        0 => {
            let mut tag = b"TAG".to_vec();
            tag.resize(128, b' ');
            file.extend_from_slice(&tag);
        }
        1 => file.extend_from_slice(b"APETAGEX\xd0\x07\0\0"),
        2 => {
            // A last frame cut short (at least its header, never the whole frame).
            let (_, _, len) = mp3_geometry(version, sr_index, bitrate_index, false);
            let keep = 4 + usize::from(r.u8()) % (len - 4);
            let start = file.len();
            file.extend_from_slice(&header(false));
            file.resize(start + keep, 0);
        }
        _ => {}
    }

    let got = measure(&file, AudioFormat::Mp3);
    if counted == 0 {
        assert!(got.is_err(), "only a Xing frame measured: {got:?}");
        return;
    }
    assert_eq!(
        got,
        Ok(AudioInfo {
            format: AudioFormat::Mp3,
            sample_rate: rate,
            channels,
            frames: counted as u64 * samples,
        }),
        "synthetic MP3: v{version} sr{sr_index} br{bitrate_index} mode{mode} crc{protected}"
    );
    check_info(
        &got.unwrap_or_else(|_| unreachable!()),
        AudioFormat::Mp3,
        file.len(),
    );
}

// ---------------------------------------------------------------------------------------
// Synthetic MP4.

/// A box with a 32-bit size, a 64-bit size (`size == 1`), or "to the end" (`size == 0`).
fn mp4_box(kind: &[u8; 4], body: &[u8], form: u8, last: bool) -> Vec<u8> {
    let mut out = Vec::new();
    match form % 3 {
        1 => {
            out.extend_from_slice(&1u32.to_be_bytes());
            out.extend_from_slice(kind);
            out.extend_from_slice(&(body.len() as u64 + 16).to_be_bytes());
        }
        2 if last => {
            out.extend_from_slice(&0u32.to_be_bytes());
            out.extend_from_slice(kind);
        }
        _ => {
            out.extend_from_slice(&(body.len() as u32 + 8).to_be_bytes());
            out.extend_from_slice(kind);
        }
    }
    out.extend_from_slice(body);
    out
}

fn synth_mp4(input: &[u8]) {
    let mut r = Reader(input);
    let v1 = r.flag();
    let timescale = r.u32();
    let duration = if v1 { r.u64() } else { u64::from(r.u32()) };

    let mut mvhd = vec![u8::from(v1), 0, 0, 0];
    if v1 {
        mvhd.extend_from_slice(&[0; 16]);
        mvhd.extend_from_slice(&timescale.to_be_bytes());
        mvhd.extend_from_slice(&duration.to_be_bytes());
    } else {
        mvhd.extend_from_slice(&[0; 8]);
        mvhd.extend_from_slice(&timescale.to_be_bytes());
        mvhd.extend_from_slice(&(duration as u32).to_be_bytes());
    }
    mvhd.extend_from_slice(&[0; 80]);

    let mut moov = Vec::new();
    for _ in 0..r.u8() % 3 {
        let len = usize::from(r.u8() % 32);
        moov.extend(mp4_box(b"trak", &vec![0; len], r.u8(), false));
    }
    let mvhd_form = r.u8();
    moov.extend(mp4_box(b"mvhd", &mvhd, mvhd_form, false));

    let mut file = mp4_box(b"ftyp", b"isom\0\0\0\0isomiso2", r.u8(), false);
    for _ in 0..r.u8() % 3 {
        let kind = [b"free", b"skip", b"mdat", b"wide"][usize::from(r.u8() % 4)];
        let len = usize::from(r.u8() % 64);
        file.extend(mp4_box(kind, &vec![0xEE; len], r.u8(), false));
    }
    let moov_form = r.u8();
    let moov_last = r.flag();
    file.extend(mp4_box(b"moov", &moov, moov_form, moov_last));
    if !moov_last {
        file.extend(mp4_box(b"mdat", &[1, 2, 3], 0, false));
    }

    let expected = if timescale == 0 {
        None
    } else {
        let ms = (u128::from(duration) * 1000).div_ceil(u128::from(timescale));
        u64::try_from(ms).ok()
    };
    assert_eq!(
        mp4_duration_millis(&file),
        expected,
        "synthetic MP4 (v1 {v1}, timescale {timescale}, duration {duration})"
    );
    // Any truncation must not panic, and cannot invent a different duration.
    let cut = usize::from(r.u16()) % (file.len() + 1);
    if let Some(ms) = mp4_duration_millis(&file[..cut]) {
        assert_eq!(Some(ms), expected, "a truncated MP4 changed its duration");
    }
}
