//! HTTP tests: the real gateway on port 0 against real Postgres, Redis, S3 and the simulator.

mod auth;
mod cloning;
mod health;
mod helpers;
mod idempotency;
mod jobs;
mod processes;
mod retention;
mod snippet;
mod stream;
mod tts;
mod uploads;
