//! Deterministic audio generation for the simulator: a tone track derived from the text
//! ([`signal`]), written as WAV ([`wav`]) or as MP3 frames ([`mp3`]).

pub mod layer3;
pub mod mp3;
pub mod signal;
#[cfg(test)]
mod test_decoder;
pub mod wav;
