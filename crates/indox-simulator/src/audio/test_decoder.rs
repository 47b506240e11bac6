//! Test-only Layer III reference decoder for the subset [`super::layer3`] writes (mono, long
//! blocks, Huffman table 1, no scalefactors, no bit reservoir). It follows the normative
//! decoding steps (ISO 11172-3 §2.4.3.4): Huffman decoding, requantization, alias reduction,
//! IMDCT with overlap-add, frequency inversion and polyphase synthesis; the synthesis window
//! is `32 × C[i]` of the encoder's own prototype. It rejects anything outside that subset, so
//! the tests also check the side information field by field.

use std::f64::consts::PI;

use super::layer3::{analysis_window, ALIAS_C};
use super::mp3::{id3_tag, layout};

/// MSB-first bit reader that reports running off the end as an error.
struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn get(&mut self, n: u32) -> Result<u32, String> {
        let mut v = 0;
        for _ in 0..n {
            let byte = self
                .bytes
                .get(self.pos / 8)
                .ok_or_else(|| format!("read past the end at bit {}", self.pos))?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Ok(v)
    }
}

struct SideGranule {
    part2_3_length: usize,
    big_values: usize,
    global_gain: i32,
}

/// Hybrid synthesis state.
struct Synth {
    overlap: [[f64; 18]; 32],
    v: Vec<f64>,
    d: [f64; 512],
    imdct: Vec<f64>,
    matrix: Vec<f64>,
}

impl Synth {
    fn new() -> Self {
        let mut d = analysis_window();
        for x in d.iter_mut() {
            *x *= 32.0;
        }
        let mut imdct = vec![0.0; 36 * 18];
        for n in 0..36 {
            for k in 0..18 {
                let arg = PI / 72.0 * (2 * n + 1 + 18) as f64 * (2 * k + 1) as f64;
                imdct[n * 18 + k] = arg.cos() * (PI / 36.0 * (n as f64 + 0.5)).sin();
            }
        }
        let mut matrix = vec![0.0; 64 * 32];
        for i in 0..64 {
            for k in 0..32 {
                matrix[i * 32 + k] = ((16 + i) as f64 * (2 * k + 1) as f64 * PI / 64.0).cos();
            }
        }
        Self {
            overlap: [[0.0; 18]; 32],
            v: vec![0.0; 1024],
            d,
            imdct,
            matrix,
        }
    }

    /// Turns 576 requantized lines into 576 PCM samples.
    fn granule(&mut self, mut xr: [f64; 576], out: &mut Vec<f64>) {
        for sb in 1..32 {
            for (i, c) in ALIAS_C.iter().enumerate() {
                let norm = (1.0 + c * c).sqrt();
                let (cs, ca) = (1.0 / norm, c / norm);
                let (bu, bd) = (xr[18 * sb - 1 - i], xr[18 * sb + i]);
                xr[18 * sb - 1 - i] = bu * cs - bd * ca;
                xr[18 * sb + i] = bd * cs + bu * ca;
            }
        }
        let mut sub = [[0.0; 18]; 32];
        for sb in 0..32 {
            let lines = &xr[18 * sb..18 * sb + 18];
            let mut y = [0.0; 36];
            for (n, yn) in y.iter_mut().enumerate() {
                let row = &self.imdct[n * 18..n * 18 + 18];
                *yn = row.iter().zip(lines).map(|(a, b)| a * b).sum();
            }
            for t in 0..18 {
                let mut s = y[t] + self.overlap[sb][t];
                if sb % 2 == 1 && t % 2 == 1 {
                    s = -s;
                }
                sub[sb][t] = s;
                self.overlap[sb][t] = y[t + 18];
            }
        }
        for t in 0..18 {
            self.v.copy_within(0..1024 - 64, 64);
            for i in 0..64 {
                let row = &self.matrix[i * 32..i * 32 + 32];
                self.v[i] = row.iter().zip(sub.iter()).map(|(n, s)| n * s[t]).sum();
            }
            let mut u = [0.0; 512];
            for i in 0..8 {
                for j in 0..32 {
                    u[64 * i + j] = self.v[128 * i + j];
                    u[64 * i + 32 + j] = self.v[128 * i + 96 + j];
                }
            }
            for j in 0..32 {
                let mut acc = 0.0;
                for i in 0..16 {
                    acc += u[j + 32 * i] * self.d[j + 32 * i];
                }
                out.push(acc);
            }
        }
    }
}

/// Decodes the bytes [`super::mp3::encode`] produced for `text`, returning the PCM samples.
pub fn decode(bytes: &[u8], sample_rate: u32, text: &str) -> Result<Vec<f64>, String> {
    let lay = layout(sample_rate).ok_or("unsupported rate")?;
    let frame_len = lay.frame_len(sample_rate);
    let tag_len = id3_tag(text).len();
    let body = bytes.get(tag_len..).ok_or("no frames")?;
    if body.len() % frame_len != 0 {
        return Err("trailing partial frame".into());
    }
    let mpeg1 = lay.samples_per_frame == 1152;
    let mut synth = Synth::new();
    let mut pcm = Vec::new();
    for (index, frame) in body.chunks(frame_len).enumerate() {
        if frame[..4] != body[..4] {
            return Err(format!("frame {index}: header differs"));
        }
        let mut r = BitReader {
            bytes: frame,
            pos: 32,
        };
        let main_data_begin = r.get(if mpeg1 { 9 } else { 8 })?;
        r.get(if mpeg1 { 5 + 4 } else { 1 })?; // private bits (+ scfsi)
        if main_data_begin != 0 {
            return Err(format!("frame {index}: bit reservoir used"));
        }
        let mut granules = Vec::new();
        for _ in 0..if mpeg1 { 2 } else { 1 } {
            let part2_3_length = r.get(12)? as usize;
            let big_values = r.get(9)? as usize;
            let global_gain = r.get(8)? as i32;
            let sfc = r.get(if mpeg1 { 4 } else { 9 })?;
            let switching = r.get(1)?;
            let tables = [r.get(5)?, r.get(5)?, r.get(5)?];
            let _regions = (r.get(4)?, r.get(3)?);
            let preflag = if mpeg1 { r.get(1)? } else { 0 };
            let _scalefac_scale = r.get(1)?;
            let _count1table = r.get(1)?;
            if sfc != 0 || switching != 0 || preflag != 0 || big_values > 288 {
                return Err(format!("frame {index}: unexpected side info"));
            }
            if tables.iter().any(|t| *t > 1) || (big_values > 0 && tables != [1, 1, 1]) {
                return Err(format!("frame {index}: unexpected table {tables:?}"));
            }
            granules.push(SideGranule {
                part2_3_length,
                big_values,
                global_gain,
            });
        }
        if r.pos != (4 + if mpeg1 { 17 } else { 9 }) * 8 {
            return Err(format!("frame {index}: side info length {}", r.pos));
        }
        for g in granules {
            let start = r.pos;
            let mut xr = [0.0; 576];
            let step = ((f64::from(g.global_gain) - 210.0) / 4.0).exp2();
            for pair in 0..g.big_values {
                // Table 1: 1 -> (0,0), 01 -> (1,0), 001 -> (0,1), 000 -> (1,1).
                let (x, y) = if r.get(1)? == 1 {
                    (0, 0)
                } else if r.get(1)? == 1 {
                    (1, 0)
                } else if r.get(1)? == 1 {
                    (0, 1)
                } else {
                    (1, 1)
                };
                for (slot, mag) in [(2 * pair, x), (2 * pair + 1, y)] {
                    if mag != 0 {
                        let negative = r.get(1)? == 1;
                        xr[slot] = if negative { -step } else { step };
                    }
                }
            }
            if r.pos - start != g.part2_3_length {
                return Err(format!(
                    "frame {index}: part2_3_length {} but {} bits coded",
                    g.part2_3_length,
                    r.pos - start
                ));
            }
            synth.granule(xr, &mut pcm);
        }
        if r.pos > frame_len * 8 {
            return Err(format!("frame {index}: main data overflows the frame"));
        }
    }
    Ok(pcm)
}
