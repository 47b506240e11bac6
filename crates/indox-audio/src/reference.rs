//! A reference decoder (symphonia) for tests: how many sample frames a real MP3 decoder
//! produces, failing on any decode error. Not used on the request path.

use symphonia::core::codecs::DecoderOptions;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Decodes MP3 bytes frame by frame with symphonia (no gapless trimming) and returns the
/// number of sample frames, or the first error.
pub fn mp3_decoded_frames(bytes: &[u8]) -> Result<u64, String> {
    let mss = MediaSourceStream::new(
        Box::new(std::io::Cursor::new(bytes.to_vec())),
        Default::default(),
    );
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let fmt = FormatOptions {
        enable_gapless: false,
        ..Default::default()
    };
    let mut reader = symphonia::default::get_probe()
        .format(&hint, mss, &fmt, &MetadataOptions::default())
        .map_err(|e| e.to_string())?
        .format;
    let track = reader.default_track().ok_or("no track")?;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| e.to_string())?;
    let mut frames = 0;
    while let Ok(packet) = reader.next_packet() {
        frames += decoder.decode(&packet).map_err(|e| e.to_string())?.frames() as u64;
    }
    Ok(frames)
}
