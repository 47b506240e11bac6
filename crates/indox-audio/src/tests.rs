//! Unit tests for WAV/MP3 measurement and the streaming meter.

use super::*;

/// How to build a test WAV.
struct Spec {
    tag: u16,
    bits: u16,
    channels: u16,
    rate: u32,
    frames: u64,
    extensible: bool,
    extra_chunks: Vec<([u8; 4], Vec<u8>)>,
    data_size: Option<u32>,
}

impl Spec {
    fn pcm(bits: u16, rate: u32, frames: u64) -> Self {
        Spec {
            tag: 1,
            bits,
            channels: 1,
            rate,
            frames,
            extensible: false,
            extra_chunks: Vec::new(),
            data_size: None,
        }
    }
}

fn push_chunk(out: &mut Vec<u8>, id: &[u8; 4], body: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    if body.len() % 2 == 1 {
        out.push(0);
    }
}

fn build(spec: &Spec) -> Vec<u8> {
    let block = spec.channels * spec.bits.div_ceil(8);
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&(if spec.extensible { 0xFFFE } else { spec.tag }).to_le_bytes());
    fmt.extend_from_slice(&spec.channels.to_le_bytes());
    fmt.extend_from_slice(&spec.rate.to_le_bytes());
    fmt.extend_from_slice(&(spec.rate * u32::from(block)).to_le_bytes());
    fmt.extend_from_slice(&block.to_le_bytes());
    fmt.extend_from_slice(&spec.bits.to_le_bytes());
    if spec.extensible {
        fmt.extend_from_slice(&22u16.to_le_bytes());
        fmt.extend_from_slice(&spec.bits.to_le_bytes());
        fmt.extend_from_slice(&4u32.to_le_bytes());
        fmt.extend_from_slice(&spec.tag.to_le_bytes());
        fmt.extend_from_slice(&[
            0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
        ]);
    }
    let mut body = b"WAVE".to_vec();
    push_chunk(&mut body, b"fmt ", &fmt);
    for (id, b) in &spec.extra_chunks {
        push_chunk(&mut body, id, b);
    }
    let data_len = spec.frames * u64::from(block);
    body.extend_from_slice(b"data");
    body.extend_from_slice(&spec.data_size.unwrap_or(data_len as u32).to_le_bytes());
    body.extend((0..data_len).map(|i| (i * 7 % 251) as u8));
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

#[test]
fn format_names() {
    assert_eq!(AudioFormat::from_extension("WAV"), Some(AudioFormat::Wav));
    assert_eq!(AudioFormat::from_extension(".mp3"), Some(AudioFormat::Mp3));
    assert_eq!(AudioFormat::from_extension("ogg"), None);
    assert_eq!(AudioFormat::Wav.as_str(), "wav");
    assert_eq!(AudioFormat::Mp3.as_str(), "mp3");
    assert_eq!(AudioFormat::Wav.content_type(), "audio/wav");
    assert_eq!(AudioFormat::Mp3.content_type(), "audio/mpeg");
    assert_eq!(
        AudioFormat::from_content_type("audio/mpeg; charset=x"),
        Some(AudioFormat::Mp3)
    );
    assert_eq!(AudioFormat::from_content_type("text/plain"), None);
}

#[test]
fn durations_round_up() {
    let info = AudioInfo {
        format: AudioFormat::Wav,
        sample_rate: 48_000,
        channels: 1,
        frames: 48_001,
    };
    assert_eq!(info.duration_millis_ceil(), 1001);
    assert!((info.duration_seconds_f64() - 1.000_020_833).abs() < 1e-9);
    let exact = AudioInfo {
        frames: 22_050,
        sample_rate: 22_050,
        ..info
    };
    assert_eq!(exact.duration_millis_ceil(), 1000);
    let zero = AudioInfo { frames: 0, ..info };
    assert_eq!(zero.duration_millis_ceil(), 0);
    let no_rate = AudioInfo {
        sample_rate: 0,
        ..info
    };
    assert_eq!(no_rate.duration_millis_ceil(), 0);
    assert_eq!(no_rate.duration_seconds_f64(), 0.0);
}

#[test]
fn wav_rates_and_precisions() {
    let cases = [
        (1u16, 16u16, 8_000u32),
        (1, 16, 16_000),
        (1, 24, 22_050),
        (1, 32, 32_000),
        (1, 8, 44_100),
        (3, 32, 48_000),
        (3, 64, 44_100),
        (7, 8, 8_000),
        (6, 8, 16_000),
    ];
    for (tag, bits, rate) in cases {
        let frames = u64::from(rate) / 3 + 17;
        let spec = Spec {
            tag,
            bits,
            ..Spec::pcm(bits, rate, frames)
        };
        let bytes = build(&spec);
        let info = measure(&bytes, AudioFormat::Wav).unwrap();
        assert_eq!(info.frames, frames, "tag {tag} bits {bits} rate {rate}");
        assert_eq!(info.sample_rate, rate);
        assert_eq!(info.channels, 1);
        assert_eq!(info.format, AudioFormat::Wav);
        let expected_ms = (frames * 1000).div_ceil(u64::from(rate));
        assert_eq!(info.duration_millis_ceil(), expected_ms);
    }
}

#[test]
fn wav_stereo_and_extensible() {
    let spec = Spec {
        channels: 2,
        extensible: true,
        ..Spec::pcm(24, 48_000, 4_800)
    };
    let info = measure(&build(&spec), AudioFormat::Wav).unwrap();
    assert_eq!((info.channels, info.frames), (2, 4_800));
    assert_eq!(info.duration_millis_ceil(), 100);
}

#[test]
fn wav_with_cue_and_list_before_data_and_odd_chunk() {
    let mut list = b"INFO".to_vec();
    list.extend_from_slice(b"ICMT");
    list.extend_from_slice(&5u32.to_le_bytes());
    list.extend_from_slice(b"hello\0");
    let spec = Spec {
        extra_chunks: vec![
            (*b"cue ", vec![0u8; 28]),
            (*b"LIST", list),
            (*b"junk", vec![1u8; 3]),
        ],
        ..Spec::pcm(16, 16_000, 1_600)
    };
    let bytes = build(&spec);
    let info = measure(&bytes, AudioFormat::Wav).unwrap();
    assert_eq!(info.frames, 1_600);
    assert_eq!(
        embedded_text(&bytes, AudioFormat::Wav).as_deref(),
        Some("hello")
    );
}

#[test]
fn wav_streaming_sizes_use_bytes_present() {
    for declared in [0xFFFF_FFFFu32, 0] {
        let spec = Spec {
            data_size: Some(declared),
            ..Spec::pcm(16, 22_050, 2_205)
        };
        let info = measure(&build(&spec), AudioFormat::Wav).unwrap();
        assert_eq!(info.frames, 2_205);
    }
    // Declared size larger than present (truncated download): count what is there.
    let spec = Spec {
        data_size: Some(1_000_000),
        ..Spec::pcm(16, 8_000, 800)
    };
    assert_eq!(
        measure(&build(&spec), AudioFormat::Wav).unwrap().frames,
        800
    );
    // Declared size smaller than present: trailing bytes are not audio.
    let mut bytes = build(&Spec::pcm(16, 8_000, 800));
    bytes.extend_from_slice(b"LIST\x04\x00\x00\x00INFO");
    assert_eq!(measure(&bytes, AudioFormat::Wav).unwrap().frames, 800);
}

#[test]
fn partial_trailing_frame_is_not_counted() {
    let mut bytes = build(&Spec {
        data_size: Some(0xFFFF_FFFF),
        ..Spec::pcm(24, 8_000, 10)
    });
    bytes.extend_from_slice(&[1, 2]);
    assert_eq!(measure(&bytes, AudioFormat::Wav).unwrap().frames, 10);
}

#[test]
fn stream_meter_byte_by_byte_matches_measure() {
    let mut list = b"INFO".to_vec();
    list.extend_from_slice(b"ICMT\x03\x00\x00\x00abc\0");
    let specs = [
        Spec::pcm(16, 48_000, 4_801),
        Spec {
            data_size: Some(0xFFFF_FFFF),
            ..Spec::pcm(16, 22_050, 999)
        },
        Spec {
            extra_chunks: vec![(*b"cue ", vec![9u8; 28]), (*b"LIST", list)],
            ..Spec::pcm(32, 32_000, 321)
        },
        Spec {
            tag: 7,
            ..Spec::pcm(8, 8_000, 801)
        },
    ];
    for spec in &specs {
        let bytes = build(spec);
        let whole = measure(&bytes, AudioFormat::Wav).unwrap();
        let mut meter = WavStreamMeter::new();
        assert!(meter.info().is_none());
        for b in &bytes {
            meter.feed(std::slice::from_ref(b)).unwrap();
        }
        assert_eq!(meter.info(), Some(whole));
        assert_eq!(meter.bytes_seen(), bytes.len() as u64);
        // Uneven chunking gives the same answer too.
        let mut meter = WavStreamMeter::new();
        for chunk in bytes.chunks(37) {
            meter.feed(chunk).unwrap();
        }
        assert_eq!(meter.info(), Some(whole));
    }
}

#[test]
fn stream_meter_reports_progress() {
    let bytes = build(&Spec {
        data_size: Some(0xFFFF_FFFF),
        ..Spec::pcm(16, 8_000, 8_000)
    });
    let header_len = bytes.len() - 16_000;
    let mut meter = WavStreamMeter::new();
    meter.feed(&bytes[..header_len - 1]).unwrap();
    assert_eq!(meter.info(), None);
    meter
        .feed(&bytes[header_len - 1..header_len + 1_601])
        .unwrap();
    assert_eq!(meter.info().map(|i| i.frames), Some(800));
    assert_eq!(meter.data_bytes(), 1_601);
    meter.feed(&bytes[header_len + 1_601..]).unwrap();
    assert_eq!(meter.info().map(|i| i.frames), Some(8_000));
}

#[test]
fn garbage_is_rejected() {
    let garbage: [&[u8]; 5] = [
        b"hello world, definitely not audio at all",
        b"RIFF\x10\x00\x00\x00AVI LIST",
        b"RIFF",
        &[0xFFu8; 64],
        &[0u8; 3],
    ];
    for g in garbage {
        assert!(measure(g, AudioFormat::Wav).is_err(), "{g:?}");
        assert!(measure(g, AudioFormat::Mp3).is_err(), "{g:?}");
    }
    assert_eq!(measure(&[], AudioFormat::Wav), Err(AudioError::Empty));
    assert_eq!(measure(&[], AudioFormat::Mp3), Err(AudioError::Empty));
}

#[test]
fn broken_wav_headers_are_rejected() {
    // Unsupported encoding (ADPCM = 2).
    let adpcm = build(&Spec {
        tag: 2,
        ..Spec::pcm(4, 8_000, 10)
    });
    assert_eq!(
        measure(&adpcm, AudioFormat::Wav),
        Err(AudioError::UnsupportedEncoding(2))
    );
    // Zero channels.
    let mut bytes = build(&Spec::pcm(16, 8_000, 10));
    bytes[22] = 0;
    assert!(measure(&bytes, AudioFormat::Wav).is_err());
    // Bad block align.
    let mut bytes = build(&Spec::pcm(16, 8_000, 10));
    bytes[32] = 3;
    assert!(measure(&bytes, AudioFormat::Wav).is_err());
    // Header cut before data chunk.
    let bytes = build(&Spec::pcm(16, 8_000, 10));
    assert!(measure(&bytes[..30], AudioFormat::Wav).is_err());
    // Data chunk before fmt.
    let mut bytes = b"RIFF\x20\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd".to_vec();
    bytes.extend_from_slice(&[0; 8]);
    assert!(measure(&bytes, AudioFormat::Wav).is_err());
    // A meter that failed keeps failing.
    let mut meter = WavStreamMeter::new();
    assert!(meter.feed(b"RIFX\0\0\0\0WAVE").is_err());
    assert!(meter.feed(b"more").is_err());
    assert!(meter.info().is_none());
}

#[test]
fn id3_text_is_found() {
    let text = "héllo";
    let mut frame = vec![3u8];
    frame.extend_from_slice(b"indox-text\0");
    frame.extend_from_slice(text.as_bytes());
    let mut tag = b"TXXX".to_vec();
    tag.extend_from_slice(&[0, 0, 0, frame.len() as u8, 0, 0]);
    tag.extend_from_slice(&frame);
    let mut bytes = b"ID3\x04\x00\x00".to_vec();
    bytes.extend_from_slice(&[0, 0, 0, tag.len() as u8]);
    bytes.extend_from_slice(&tag);
    assert_eq!(
        embedded_text(&bytes, AudioFormat::Mp3).as_deref(),
        Some(text)
    );
    assert_eq!(embedded_text(b"ID3", AudioFormat::Mp3), None);
}

/// A Layer III frame header for mono CBR audio: (version bits, sample-rate index, bitrate index).
fn mp3_frame(version_bits: u8, sr_index: u8, bitrate_index: u8, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0] = 0xFF;
    f[1] = 0xE0 | (version_bits << 3) | (0b01 << 1) | 1; // Layer III, no CRC
    f[2] = (bitrate_index << 4) | (sr_index << 2);
    f[3] = 0b11 << 6; // mono
    f
}

/// (version bits, sr index, bitrate index, frame length, sample rate, samples per frame)
const MP3_CASES: [(u8, u8, u8, usize, u32, u64); 4] = [
    (0b11, 1, 5, 192, 48_000, 1152), // MPEG-1 48 kHz 64 kbps: 144*64000/48000
    (0b11, 0, 9, 417, 44_100, 1152), // MPEG-1 44.1 kHz 128 kbps: 144*128000/44100 = 417
    (0b10, 0, 4, 104, 22_050, 576),  // MPEG-2 22.05 kHz 32 kbps: 72*32000/22050 = 104
    (0b00, 2, 2, 144, 8_000, 576),   // MPEG-2.5 8 kHz 16 kbps: 72*16000/8000 = 144
];

fn symphonia_frames(bytes: &[u8]) -> u64 {
    crate::reference::mp3_decoded_frames(bytes).unwrap()
}

#[test]
fn mp3_frame_walk_agrees_with_a_real_decoder() {
    for (v, sr, br, len, rate, spf) in MP3_CASES {
        let mut bytes = b"ID3\x04\x00\x00\x00\x00\x00\x05hello".to_vec();
        for _ in 0..20 {
            bytes.extend(mp3_frame(v, sr, br, len));
        }
        let info = measure(&bytes, AudioFormat::Mp3).unwrap();
        assert_eq!(info.sample_rate, rate);
        assert_eq!(info.channels, 1);
        assert_eq!(info.frames, 20 * spf);
        assert_eq!(
            symphonia_frames(&bytes),
            info.frames,
            "decoder and walker agree at {rate} Hz"
        );
    }
}

#[test]
fn mp3_metadata_frames_trailers_and_cut_frames() {
    let (v, sr, br, len, _, spf) = MP3_CASES[0];
    // A Xing frame first carries no audio.
    let mut xing = mp3_frame(v, sr, br, len);
    xing[4 + 17..4 + 21].copy_from_slice(b"Info");
    let mut bytes = xing;
    for _ in 0..3 {
        bytes.extend(mp3_frame(v, sr, br, len));
    }
    assert_eq!(measure(&bytes, AudioFormat::Mp3).unwrap().frames, 3 * spf);
    // An ID3v1 tag at the end is fine; so is a final frame cut short.
    let mut tagged = bytes.clone();
    tagged.extend(b"TAG");
    tagged.extend([0u8; 125]);
    assert_eq!(measure(&tagged, AudioFormat::Mp3).unwrap().frames, 3 * spf);
    let mut cut = bytes.clone();
    cut.extend(&mp3_frame(v, sr, br, len)[..50]);
    assert_eq!(measure(&cut, AudioFormat::Mp3).unwrap().frames, 3 * spf);
    // Garbage in the middle, or a change of sample rate, is refused.
    let mut broken = bytes.clone();
    broken.extend(b"garbage garbage garbage");
    broken.extend(mp3_frame(v, sr, br, len));
    assert!(measure(&broken, AudioFormat::Mp3).is_err());
    let mut mixed = bytes;
    let (v2, sr2, br2, len2, _, _) = MP3_CASES[1];
    mixed.extend(mp3_frame(v2, sr2, br2, len2));
    assert!(measure(&mixed, AudioFormat::Mp3).is_err());
}
