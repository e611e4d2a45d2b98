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
