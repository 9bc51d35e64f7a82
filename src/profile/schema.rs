//! The JSON Schema of the profile format, generated from [`crate::profile::raw`].

/// The schema as pretty JSON with a trailing newline (the committed
/// `schema/profile.schema.json` is exactly this).
pub fn json() -> String {
    let schema = schemars::schema_for!(crate::profile::raw::Profile);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}
