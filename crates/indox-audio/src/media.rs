//! Other media the detection job accepts: image types by their magic bytes, and the length
//! of an MP4/QuickTime video from its `moov/mvhd` box (no decoding).

/// The content type of a PNG, JPEG, GIF or WebP image, from its first bytes.
pub fn image_content_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn be32(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 4)
        .map(|s| u64::from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at + 8)?;
    Some(u64::from_be_bytes([
        s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
    ]))
}

/// The boxes directly inside `data`: (type, body).
fn boxes(data: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let size = be32(data, pos)?;
        let kind = data.get(pos + 4..pos + 8)?;
        let (header, size) = match size {
            1 => (16usize, usize::try_from(be64(data, pos + 8)?).ok()?),
            0 => (8, data.len() - pos),
            n => (8, usize::try_from(n).ok()?),
        };
        if size < header {
            return None;
        }
        // A 64-bit size may be anything up to u64::MAX: never let `pos + size` overflow.
        let end = pos.checked_add(size)?;
        let body = data.get(pos + header..end)?;
        pos = end;
        Some((kind, body))
    })
}

/// The length in whole milliseconds (rounded up) of an MP4/MOV file, from `moov/mvhd`;
/// `None` when the file is not one or the box is missing or broken.
pub fn mp4_duration_millis(bytes: &[u8]) -> Option<u64> {
    if bytes.get(4..8) != Some(b"ftyp") {
        return None;
    }
    let (_, moov) = boxes(bytes).find(|(k, _)| *k == b"moov")?;
    let (_, mvhd) = boxes(moov).find(|(k, _)| *k == b"mvhd")?;
    let (timescale, duration) = match mvhd.first()? {
        0 => (be32(mvhd, 12)?, be32(mvhd, 16)?),
        1 => (be32(mvhd, 20)?, be64(mvhd, 24)?),
        _ => return None,
    };
    if timescale == 0 {
        return None;
    }
    let ms = u128::from(duration) * 1000;
    u64::try_from(ms.div_ceil(u128::from(timescale))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(kind: &[u8], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn mvhd_v0(timescale: u32, duration: u32) -> Vec<u8> {
        let mut b = vec![0u8; 4]; // version 0, flags
        b.extend([0u8; 8]); // creation, modification
        b.extend(timescale.to_be_bytes());
        b.extend(duration.to_be_bytes());
        b.extend([0u8; 80]);
        bx(b"mvhd", &b)
    }

    #[test]
    fn mp4_length_from_mvhd() {
        let mut file = bx(b"ftyp", b"isom\0\0\0\0isom");
        file.extend(bx(b"free", &[0; 10]));
        file.extend(bx(b"moov", &mvhd_v0(600, 3_001)));
        file.extend(bx(b"mdat", &[1, 2, 3]));
        // 3001 / 600 s = 5.001666… s → 5002 ms, rounded up.
        assert_eq!(mp4_duration_millis(&file), Some(5_002));
        assert_eq!(mp4_duration_millis(b"RIFF....WAVE"), None);
        let mut broken = bx(b"ftyp", b"isom");
        broken.extend(bx(b"moov", b"junk"));
        assert_eq!(mp4_duration_millis(&broken), None);
        assert_eq!(mp4_duration_millis(&file[..20]), None);
    }

    /// Found by the `audio_duration` fuzz target: a 64-bit box size near `u64::MAX` made
    /// `pos + size` overflow (a panic wherever overflow checks are on, as in debug builds).
    #[test]
    fn huge_64_bit_box_sizes_are_broken_boxes_not_panics() {
        let largesize = |kind: &[u8], size: u64, body: &[u8]| {
            let mut v = 1u32.to_be_bytes().to_vec();
            v.extend_from_slice(kind);
            v.extend_from_slice(&size.to_be_bytes());
            v.extend_from_slice(body);
            v
        };
        for size in [u64::MAX, u64::MAX - 7, u64::MAX - 40, 1 << 63] {
            let mut file = bx(b"ftyp", b"qt  \0\0\0\0qt  ");
            file.extend(largesize(b"moov", size, &mvhd_v0(600, 3_001)));
            assert_eq!(mp4_duration_millis(&file), None, "moov size {size}");
            let mut file = bx(b"ftyp", b"qt  \0\0\0\0qt  ");
            file.extend(bx(b"moov", &largesize(b"mvhd", size, &[0; 100])));
            assert_eq!(mp4_duration_millis(&file), None, "mvhd size {size}");
        }
    }

    #[test]
    fn images_by_magic() {
        assert_eq!(
            image_content_type(b"\x89PNG\r\n\x1a\n...."),
            Some("image/png")
        );
        assert_eq!(
            image_content_type(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some("image/jpeg")
        );
        assert_eq!(image_content_type(b"GIF89a.."), Some("image/gif"));
        assert_eq!(
            image_content_type(b"RIFF\0\0\0\0WEBPVP8 "),
            Some("image/webp")
        );
        assert_eq!(image_content_type(b"RIFF\0\0\0\0WAVEfmt "), None);
    }
}
