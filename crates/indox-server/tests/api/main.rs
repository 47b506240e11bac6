//! HTTP tests: the real gateway on port 0 against real Postgres, Redis, S3 and the simulator.

mod admin;
mod attacks;
mod auth;
mod byok;
mod cloning;
mod console;
mod contract;
mod corrections;
mod health;
mod helpers;
mod idempotency;
mod jobs;
mod observability;
mod processes;
mod reconcile;
mod retention;
mod scaleout;
mod snippet;
mod stream;
mod tts;
mod uploads;
