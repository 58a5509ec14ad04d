//! The wall clock, read in one place: every time vexil stores or compares is milliseconds
//! since the Unix epoch (a clock before 1970 reads as 0).

/// Now, in ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Now, in whole seconds since the epoch (Slack's and Standard Webhooks' timestamps).
pub fn now_secs() -> i64 {
    now_ms() / 1000
}
