//! A deliberately small MPEG audio Layer III encoder for the simulator's tone track: mono,
//! long blocks only, scalefactors all zero, no bit reservoir (`main_data_begin = 0`).
//!
//! Signal path (the inverse of the decoder's hybrid synthesis, ISO 11172-3 §2.4.3.4):
//! 32-band polyphase analysis (a windowed-sinc prototype in place of the standard's table,
//! which only costs reconstruction accuracy), frequency inversion of odd subbands, an 18-line
//! MDCT per subband with the normal (block type 0) sine window, and the encoder-side alias
//! butterflies. The 576 lines of a granule are quantized with a single global gain chosen so
//! that every line is 0 or ±1 and the granule fits its share of the frame, then coded as
//! big_values pairs with Huffman table 1 (no count1 region, no linbits needed).
//! Quality is modest by design; the output is a correct, decodable bitstream.

use std::f64::consts::PI;

/// Lines per granule.
const LINES: usize = 576;
/// Polyphase subbands.
const BANDS: usize = 32;
/// Subband samples per granule (and MDCT lines per subband).
const SLOTS: usize = 18;
/// Length of the polyphase analysis window.
const WINDOW: usize = 512;
/// Overall scale that maps the analysis output onto the decoder's spectral scale
/// (calibrated against symphonia so a decoded tone has roughly the input amplitude).
const SPECTRAL_GAIN: f64 = 0.11;
/// Alias-reduction coefficients `c[i]` (ISO 11172-3 Table B.9).
pub const ALIAS_C: [f64; 8] = [
    -0.6, -0.535, -0.33, -0.185, -0.095, -0.041, -0.0142, -0.0037,
];

/// Why a granule could not be encoded (the caller then falls back to a silent frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The spectrum contained NaN or infinity.
    NonFinite,
    /// Even the coarsest quantizer did not fit the bit budget.
    OverBudget,
}

/// The analysis window `C[i]`: a Blackman-windowed sinc lowpass (cutoff π/64, peak 1/32 at
/// `i = 256`) carrying the `(-1)^(i/64)` sign that folds the 512 taps onto 64 matrix columns.
pub fn analysis_window() -> [f64; WINDOW] {
    let mut window = [0.0; WINDOW];
    for (i, w) in window.iter_mut().enumerate() {
        let t = i as f64 - 256.0;
        let sinc = if t == 0.0 {
            1.0
        } else {
            let a = PI * t / 64.0;
            a.sin() / a
        };
        let x = PI * t / 256.0;
        let blackman = 0.42 + 0.5 * x.cos() + 0.08 * (2.0 * x).cos();
        let sign = if (i / 64) % 2 == 0 { 1.0 } else { -1.0 };
        *w = sign * sinc * blackman / 32.0;
    }
    window
}

/// Precomputed tables shared by every granule.
struct Tables {
    /// Analysis window `C[i]`: prototype lowpass with the `(-1)^(i/64)` folding sign.
    window: [f64; WINDOW],
    /// Matrixing coefficients `cos((2k+1)(i-16)π/64)`, `k` major.
    matrix: Vec<f64>,
    /// MDCT kernel `sin(π(n+½)/36)·cos(π(2n+1+18)(2k+1)/72)`, `k` major.
    mdct: Vec<f64>,
    /// Alias butterfly `(cs, ca)` pairs.
    alias: [(f64, f64); 8],
}

impl Tables {
    fn new() -> Self {
        let window = analysis_window();
        let mut matrix = vec![0.0; BANDS * 64];
        for k in 0..BANDS {
            for i in 0..64 {
                matrix[k * 64 + i] = ((2 * k + 1) as f64 * (i as f64 - 16.0) * PI / 64.0).cos();
            }
        }
        let mut mdct = vec![0.0; SLOTS * 2 * SLOTS];
        for k in 0..SLOTS {
            for n in 0..2 * SLOTS {
                let win = (PI / 36.0 * (n as f64 + 0.5)).sin();
                let arg = PI / 72.0 * (2 * n + 1 + 18) as f64 * (2 * k + 1) as f64;
                mdct[k * 2 * SLOTS + n] = win * arg.cos();
            }
        }
        let mut alias = [(0.0, 0.0); 8];
        for (slot, c) in alias.iter_mut().zip(ALIAS_C) {
            let norm = (1.0 + c * c).sqrt();
            *slot = (1.0 / norm, c / norm);
        }
        Self {
            window,
            matrix,
            mdct,
            alias,
        }
    }
}

/// The analysis filterbank state: turns 576 samples at a time into 576 MDCT lines.
pub struct Analyzer {
    tables: Tables,
    /// Input history, newest sample at `fifo[0]` (kept as a plain shifting buffer).
    fifo: [f64; WINDOW],
    /// Previous granule's subband samples (after frequency inversion), per subband.
    prev: [[f64; SLOTS]; BANDS],
}

impl Default for Analyzer {
    fn default() -> Self {
        Self::new()
    }
}

impl Analyzer {
    /// A filterbank with silent history.
    pub fn new() -> Self {
        Self {
            tables: Tables::new(),
            fifo: [0.0; WINDOW],
            prev: [[0.0; SLOTS]; BANDS],
        }
    }

    /// One polyphase step: consumes 32 samples, returns one sample per subband.
    fn polyphase(&mut self, input: &[f64]) -> [f64; BANDS] {
        self.fifo.copy_within(0..WINDOW - BANDS, BANDS);
        for (i, slot) in self.fifo[..BANDS].iter_mut().enumerate() {
            // X[31 - i] receives the i-th new sample, so X[0] holds the newest one.
            *slot = input.get(BANDS - 1 - i).copied().unwrap_or(0.0);
        }
        let mut y = [0.0; 64];
        for (i, yi) in y.iter_mut().enumerate() {
            let mut acc = 0.0;
            for j in 0..8 {
                let n = i + 64 * j;
                acc += self.tables.window[n] * self.fifo[n];
            }
            *yi = acc;
        }
        let mut out = [0.0; BANDS];
        for (k, o) in out.iter_mut().enumerate() {
            let row = &self.tables.matrix[k * 64..(k + 1) * 64];
            *o = row.iter().zip(y.iter()).map(|(m, v)| m * v).sum();
        }
        out
    }

    /// Analyses one granule of 576 samples (missing samples count as silence) into lines.
    pub fn granule(&mut self, input: &[f64]) -> [f64; LINES] {
        let mut slots = [[0.0; BANDS]; SLOTS];
        for (t, slot) in slots.iter_mut().enumerate() {
            *slot = self.polyphase(input.get(t * BANDS..).unwrap_or(&[]));
        }
        let mut cur = [[0.0; SLOTS]; BANDS];
        for (sb, band) in cur.iter_mut().enumerate() {
            for (t, (out, slot)) in band.iter_mut().zip(&slots).enumerate() {
                // Frequency inversion: odd time slots of odd subbands are negated.
                let invert = sb % 2 == 1 && t % 2 == 1;
                *out = if invert { -slot[sb] } else { slot[sb] };
            }
        }
        let mut lines = [0.0; LINES];
        let mut block = [0.0; 2 * SLOTS];
        for sb in 0..BANDS {
            block[..SLOTS].copy_from_slice(&self.prev[sb]);
            block[SLOTS..].copy_from_slice(&cur[sb]);
            for k in 0..SLOTS {
                let row = &self.tables.mdct[k * 2 * SLOTS..(k + 1) * 2 * SLOTS];
                let v: f64 = row.iter().zip(block.iter()).map(|(m, x)| m * x).sum();
                lines[sb * SLOTS + k] = v * SPECTRAL_GAIN;
            }
        }
        self.prev = cur;
        // Encoder-side alias butterflies: the inverse of the decoder's rotation.
        for sb in 1..BANDS {
            for (i, (cs, ca)) in self.tables.alias.iter().enumerate() {
                let up = sb * SLOTS - 1 - i;
                let down = sb * SLOTS + i;
                let (bu, bd) = (lines[up], lines[down]);
                lines[up] = bu * cs + bd * ca;
                lines[down] = bd * cs - bu * ca;
            }
        }
        lines
    }
}

/// MSB-first bit writer.
#[derive(Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    bits: usize,
}

impl BitWriter {
    /// Appends the low `n` bits of `value` (n ≤ 32), most significant first.
    pub fn put(&mut self, value: u32, n: u32) {
        for shift in (0..n).rev() {
            let bit = (value >> shift) & 1;
            if self.bits.is_multiple_of(8) {
                self.bytes.push(0);
            }
            if bit == 1 {
                if let Some(last) = self.bytes.last_mut() {
                    *last |= 0x80 >> (self.bits % 8);
                }
            }
            self.bits += 1;
        }
    }

    /// Bits written so far.
    pub fn len(&self) -> usize {
        self.bits
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// The written bytes (the last one zero-padded).
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// A quantized granule: the side-info fields it needs and its Huffman-coded lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Granule {
    /// Number of big_values pairs (0 for a silent granule).
    pub big_values: u32,
    /// Quantizer step exponent (`2^((global_gain - 210) / 4)`).
    pub global_gain: u32,
    /// Quantized lines, each -1, 0 or 1.
    pub values: Vec<i8>,
}

/// Huffman table 1 (ISO 11172-3 Table B.7): `(code, length)` for `(|x|, |y|)`.
fn table1(x: u8, y: u8) -> (u32, u32) {
    match (x, y) {
        (0, 0) => (0b1, 1),
        (0, _) => (0b001, 3),
        (_, 0) => (0b01, 2),
        _ => (0b000, 3),
    }
}

impl Granule {
    /// part2_3_length: Huffman bits (no scalefactor bits are ever sent).
    pub fn bits(&self) -> usize {
        let pairs = self.big_values as usize;
        self.values
            .chunks(2)
            .take(pairs)
            .map(|p| {
                let (x, y) = (
                    p[0].unsigned_abs(),
                    p.get(1).map_or(0, |v| v.unsigned_abs()),
                );
                table1(x, y).1 as usize + usize::from(x != 0) + usize::from(y != 0)
            })
            .sum()
    }

    /// Writes the big_values region.
    pub fn write(&self, w: &mut BitWriter) {
        for p in self.values.chunks(2).take(self.big_values as usize) {
            let x = p[0];
            let y = p.get(1).copied().unwrap_or(0);
            let (code, len) = table1(x.unsigned_abs(), y.unsigned_abs());
            w.put(code, len);
            if x != 0 {
                w.put(u32::from(x < 0), 1);
            }
            if y != 0 {
                w.put(u32::from(y < 0), 1);
            }
        }
    }
}

fn quantize_with(lines: &[f64; LINES], gain: u32) -> Granule {
    // The standard rounding `nint((|xr| / step)^(3/4) - 0.0946)` reaches 1 exactly when
    // `|xr| >= 0.5946^(4/3) × step`; larger values are capped at 1 (table 1 has no escape).
    let step = ((f64::from(gain) - 210.0) / 4.0).exp2();
    let threshold = 0.5946f64.powf(4.0 / 3.0) * step;
    let values: Vec<i8> = lines
        .iter()
        .map(|&x| {
            if x.abs() < threshold {
                0
            } else if x < 0.0 {
                -1
            } else {
                1
            }
        })
        .collect();
    let last = values.iter().rposition(|&v| v != 0);
    let big_values = last.map_or(0, |i| (i / 2 + 1) as u32);
    Granule {
        big_values,
        global_gain: if big_values == 0 { 0 } else { gain },
        values,
    }
}

/// Squared reconstruction error of `lines` quantized as `g`.
fn error(lines: &[f64; LINES], g: &Granule) -> f64 {
    let step = ((f64::from(g.global_gain) - 210.0) / 4.0).exp2();
    lines
        .iter()
        .zip(&g.values)
        .map(|(x, q)| (x - f64::from(*q) * step).powi(2))
        .sum()
}

/// Chooses the global gain (every line then quantizes to 0 or ±1) with the smallest
/// reconstruction error among those around the peak level whose coded size fits `budget`
/// bits; coarser gains are tried until one fits.
pub fn quantize(lines: &[f64; LINES], budget: usize) -> Result<Granule, EncodeError> {
    if lines.iter().any(|x| !x.is_finite()) {
        return Err(EncodeError::NonFinite);
    }
    let peak = lines.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if peak < 1e-9 {
        return Ok(Granule {
            values: vec![0; LINES],
            ..Granule::default()
        });
    }
    // Gain whose step equals the peak; steps a few gain units either side are candidates.
    let center = (210.0 + 4.0 * peak.log2()).round().clamp(0.0, 255.0) as u32;
    let mut best: Option<(f64, Granule)> = None;
    for gain in center.saturating_sub(6)..=(center + 2).min(255) {
        let g = quantize_with(lines, gain);
        if g.bits() > budget {
            continue;
        }
        let e = error(lines, &g);
        if best.as_ref().is_none_or(|(b, _)| e < *b) {
            best = Some((e, g));
        }
    }
    if let Some((_, g)) = best {
        return Ok(g);
    }
    for gain in center..=255 {
        let g = quantize_with(lines, gain);
        if g.bits() <= budget {
            return Ok(g);
        }
    }
    Err(EncodeError::OverBudget)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_writer_packs_msb_first() {
        let mut w = BitWriter::default();
        w.put(0b101, 3);
        w.put(0x1F, 5);
        w.put(1, 1);
        assert_eq!(w.len(), 9);
        assert_eq!(w.into_bytes(), vec![0b1011_1111, 0b1000_0000]);
    }

    #[test]
    fn silence_quantizes_to_nothing() {
        let g = quantize(&[0.0; LINES], 100).unwrap();
        assert_eq!((g.big_values, g.bits()), (0, 0));
        let mut bad = [0.0; LINES];
        bad[3] = f64::NAN;
        assert_eq!(quantize(&bad, 100), Err(EncodeError::NonFinite));
    }

    #[test]
    fn budget_is_respected() {
        let mut lines = [0.0; LINES];
        for (i, l) in lines.iter_mut().enumerate() {
            *l = if i % 3 == 0 { 0.5 } else { -0.4 };
        }
        let g = quantize(&lines, 300).unwrap();
        assert!(g.bits() <= 300);
        assert!(g.big_values <= 288);
        let mut w = BitWriter::default();
        g.write(&mut w);
        assert_eq!(w.len(), g.bits());
    }
}
