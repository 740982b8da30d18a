//! End-to-end tests across crates: the `aktion` command line on the example projects, and the
//! crate layering rules of STYLE.md checked by machine.

mod account;
mod cli;
mod direct;
mod export;
mod layering;
mod shots;

/// Copies a project folder (with its assets) for a test to change.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("ls") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

/// The node of `kind` in a project document or a run report (both list `nodes` with a `kind`).
pub fn node_of_kind<'a>(doc: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    doc["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["kind"] == kind)
        .unwrap_or_else(|| panic!("a {kind} node in {doc}"))
}

/// The id of the document's node of `kind`.
pub fn id_of_kind(doc: &serde_json::Value, kind: &str) -> String {
    node_of_kind(doc, kind)["id"]
        .as_str()
        .expect("id")
        .to_owned()
}
