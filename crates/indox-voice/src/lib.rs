#![doc = include_str!("../README.md")]

pub mod cloning;
pub mod error;
pub mod ports;
pub mod tts;
pub mod voices;

pub use error::{UpstreamError, VoiceError};
pub use ports::{AsyncOp, ByteStream, Created, UpstreamJob, VoiceUpstream};
pub use tts::{Precision, Synthesis, SynthesisRequest};
pub use voices::{Voice, VoicePage};
