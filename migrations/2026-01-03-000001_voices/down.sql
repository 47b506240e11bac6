DROP TABLE IF EXISTS voice_design_candidates;
DROP TABLE IF EXISTS voice_designs;
DROP TABLE IF EXISTS clone_recordings;
DROP TABLE IF EXISTS clone_voices;
DROP FUNCTION IF EXISTS indox_clone_truncate_guard();
DROP FUNCTION IF EXISTS indox_clone_recordings_guard();
DROP FUNCTION IF EXISTS indox_clone_voices_guard();
