//! The synthetic "speech": a short tone per character, with the duration a deterministic
//! function of the text (100 ms lead-in + 65 ms per character + 100 ms tail, in whole samples).

use std::f64::consts::PI;

/// Silence before the first character, in milliseconds.
pub const LEAD_MS: u64 = 100;
/// Length of one character's tone, in milliseconds.
pub const CHAR_MS: u64 = 65;
/// Silence after the last character, in milliseconds.
pub const TAIL_MS: u64 = 100;
/// Peak amplitude of a tone (of full scale).
const AMPLITUDE: f64 = 0.3;
/// Fade-in/out length of each tone, in milliseconds.
const FADE_MS: f64 = 5.0;

/// Converts a time in milliseconds to a whole number of samples (rounded to nearest).
pub fn ms_to_samples(ms: u64, sample_rate: u32) -> u64 {
    (ms * u64::from(sample_rate) + 500) / 1000
}

/// Total number of samples the text renders to.
pub fn total_samples(text: &str, sample_rate: u32) -> u64 {
    let chars = text.chars().count() as u64;
    ms_to_samples(LEAD_MS + CHAR_MS * chars + TAIL_MS, sample_rate)
}

/// Sample range `[start, end)` of the `index`-th character.
fn char_span(index: u64, sample_rate: u32) -> (u64, u64) {
    (
        ms_to_samples(LEAD_MS + CHAR_MS * index, sample_rate),
        ms_to_samples(LEAD_MS + CHAR_MS * (index + 1), sample_rate),
    )
}

/// Per-character timestamps in seconds: `(char, start, end)`.
pub fn graph_times(text: &str, sample_rate: u32) -> Vec<(char, f64, f64)> {
    let rate = f64::from(sample_rate);
    text.chars()
        .enumerate()
        .map(|(i, c)| {
            let (s, e) = char_span(i as u64, sample_rate);
            (c, s as f64 / rate, e as f64 / rate)
        })
        .collect()
}

/// Tone frequency for a character; `None` (silence) for whitespace and control characters.
pub fn frequency(c: char) -> Option<f64> {
    if c.is_whitespace() || c.is_control() {
        return None;
    }
    Some(220.0 + f64::from(u32::from(c) % 48) * 15.0)
}

/// Renders the text to mono samples in `[-1, 1]` at `sample_rate`.
pub fn render(text: &str, sample_rate: u32) -> Vec<f64> {
    let total = total_samples(text, sample_rate);
    let mut out = vec![0.0; usize::try_from(total).unwrap_or(0)];
    let rate = f64::from(sample_rate);
    let fade = (FADE_MS / 1000.0 * rate).max(1.0);
    for (i, c) in text.chars().enumerate() {
        let Some(freq) = frequency(c) else { continue };
        let (start, end) = char_span(i as u64, sample_rate);
        let len = (end - start) as f64;
        for n in start..end.min(total) {
            let k = (n - start) as f64;
            let env = (k / fade).min((len - k) / fade).clamp(0.0, 1.0);
            let value = AMPLITUDE * env * (2.0 * PI * freq * k / rate).sin();
            if let Some(slot) = out.get_mut(n as usize) {
                *slot = value;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_whole_samples() {
        assert_eq!(total_samples("", 8_000), 1_600);
        assert_eq!(total_samples("ab", 48_000), 48 * 330);
        // 0.2 + 0.065 * 1 = 0.265 s at 22050 Hz = 5843.25 -> 5843 samples.
        assert_eq!(total_samples("a", 22_050), 5_843);
        assert_eq!(
            render("hi there", 16_000).len() as u64,
            total_samples("hi there", 16_000)
        );
    }

    #[test]
    fn tones_are_audible_and_spaces_silent() {
        let s = render("a b", 16_000);
        let (a0, a1) = char_span(0, 16_000);
        let (b0, b1) = char_span(1, 16_000);
        let peak = |r: std::ops::Range<u64>| {
            s[r.start as usize..r.end as usize]
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs()))
        };
        assert!(peak(a0..a1) > 0.2);
        assert_eq!(peak(b0..b1), 0.0);
        assert_eq!(peak(0..a0), 0.0);
        assert!(s.iter().all(|v| v.abs() <= 0.3 + 1e-9));
    }

    #[test]
    fn timestamps_follow_characters() {
        let t = graph_times("hey", 8_000);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0], ('h', 0.1, 0.165));
        assert_eq!(t[2].0, 'y');
        assert!((t[2].2 - 0.295).abs() < 1e-12);
    }
}
