//! Helpers of the tests whose calls run IVR flows: a temp flows folder,
//! and the steps of a call record's IVR path.

use hibiki::store::CallRecord;
use serde_json::Value;

/// A temp flows folder holding `files` (name → text).
pub fn flows_dir(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write a flow");
    }
    dir
}

/// The shipped demo flow, open every day all day, with no holidays (a
/// test must not depend on the hour).
pub fn demo_always_open() -> String {
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows/demo.toml"),
    )
    .expect("the shipped demo flow");
    let schedules = shipped
        .find("[schedules.office]")
        .expect("the demo's schedule");
    let mut text = shipped[..schedules].to_owned();
    let all_day = "[\"00:00-24:00\"]";
    text.push_str(&format!(
        "[schedules.office]\ntime_zone = \"Asia/Tokyo\"\nweekly = {{ mon = {all_day}, tue = {all_day}, wed = {all_day}, thu = {all_day}, fri = {all_day}, sat = {all_day}, sun = {all_day} }}\n"
    ));
    text
}

/// The call's IVR path as (step, outcome) pairs.
pub fn path_steps(call: &CallRecord) -> Vec<(String, String)> {
    call.ivr_path
        .as_ref()
        .and_then(Value::as_array)
        .expect("the call's IVR path")
        .iter()
        .map(|e| {
            (
                e["step"].as_str().unwrap_or_default().to_owned(),
                e["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
