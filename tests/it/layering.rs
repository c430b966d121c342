//! The module graph `src/lib.rs` describes, enforced: it reads every file under `src/`
//! and fails on an import against the direction domain ← storage ← api / events /
//! webhooks ← binaries. Comment lines are skipped (prose may name anything).

use std::path::{Path, PathBuf};

/// One rule: files of the layers it applies to must not name any of `forbidden`.
struct Rule {
    /// Why, as the failure says it.
    what: &'static str,
    applies: fn(&str) -> bool,
    forbidden: &'static [&'static str],
}

const RULES: &[Rule] = &[
    Rule {
        what: "domain imports nothing of the crate but itself, and no I/O",
        applies: |layer| layer == "domain",
        forbidden: &[
            "crate::api",
            "crate::auth",
            "crate::config",
            "crate::crypto",
            "crate::events",
            "crate::metrics",
            "crate::proto",
            "crate::server",
            "crate::storage",
            "crate::tasks",
            "crate::telemetry",
            "crate::webhooks",
            "diesel",
            "tonic",
            "prost",
            "rdkafka",
            "reqwest",
            "hyper",
            "tokio",
            "std::fs",
            "std::net",
        ],
    },
    Rule {
        what: "diesel is named in storage only",
        applies: |layer| layer != "storage",
        forbidden: &["diesel"],
    },
    Rule {
        what: "tonic's server types are named in api only",
        applies: |layer| layer != "api",
        forbidden: &[
            "tonic::transport::Server",
            "tonic::server",
            "tonic::service",
            "tonic::async_trait",
            "_server::",
            "tonic_health::server",
            "tonic_reflection::server",
        ],
    },
    Rule {
        what: "storage reaches nothing above it",
        applies: |layer| layer == "storage",
        forbidden: &[
            "crate::api",
            "crate::events",
            "crate::webhooks",
            "crate::server",
        ],
    },
    Rule {
        what: "webhooks do not import api",
        applies: |layer| layer == "webhooks",
        forbidden: &["crate::api", "crate::server"],
    },
    Rule {
        what: "events do not import api or webhooks",
        applies: |layer| layer == "events",
        forbidden: &["crate::api", "crate::webhooks", "crate::server"],
    },
    Rule {
        what: "the webhook dispatcher does not pull in the gRPC server",
        applies: |layer| layer == "bin/webhook-dispatcher",
        forbidden: &["server::", "api::"],
    },
];

/// The layer of a file: its top directory under `src/` (`domain`, `storage`, …), its
/// stem for a top-level file (`server`, `config`), `bin/<name>` for a binary.
fn layer_of(relative: &Path) -> String {
    let parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [file] => file.trim_end_matches(".rs").to_owned(),
        [dir, file] if dir == "bin" => format!("bin/{}", file.trim_end_matches(".rs")),
        [dir, ..] => dir.clone(),
        [] => String::new(),
    }
}

/// Every breach in one file's text, as `file:line: rule: the line`.
fn breaches(file: &str, layer: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for rule in RULES.iter().filter(|rule| (rule.applies)(layer)) {
            if let Some(name) = rule.forbidden.iter().find(|name| names(code, name)) {
                found.push(format!(
                    "{file}:{}: {} (names `{name}`): {}",
                    number + 1,
                    rule.what,
                    code.trim()
                ));
            }
        }
    }
    found
}

/// Whether `code` names `name` as a path (not as part of a longer word).
fn names(code: &str, name: &str) -> bool {
    code.match_indices(name).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + name.len()..].chars().next();
        let joins = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        (!joins(before) || name.starts_with('_')) && (!joins(after) || name.ends_with(':'))
    })
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            into.push(path);
        }
    }
}

#[test]
fn every_import_goes_the_way_the_layers_point() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 50, "read {} files under src/", files.len());
    let mut found = Vec::new();
    for path in files {
        let relative = path.strip_prefix(&src).expect("a file under src/");
        let text = std::fs::read_to_string(&path).expect("a readable source file");
        let file = relative.display().to_string();
        found.extend(breaches(&file, &layer_of(relative), &text));
    }
    assert!(
        found.is_empty(),
        "imports against the layers:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_forbidden_import_is_found_and_named() {
    let layer = |file: &str| layer_of(Path::new(file));
    assert_eq!(layer("domain/address.rs"), "domain");
    assert_eq!(layer("server.rs"), "server");
    assert_eq!(layer("bin/webhook-dispatcher.rs"), "bin/webhook-dispatcher");
    let found = |file: &str, text: &str| breaches(file, &layer(file), text);
    assert_eq!(
        found("domain/phone.rs", "use crate::storage::Database;").len(),
        1
    );
    assert_eq!(
        found("api/request.rs", "use diesel::PgConnection;").len(),
        1
    );
    assert_eq!(
        found("webhooks/intake.rs", "use crate::api::proto;").len(),
        1
    );
    assert_eq!(
        found("server.rs", "let s = tonic::transport::Server::builder();").len(),
        1
    );
    assert_eq!(
        found(
            "events/relay.rs",
            "use crate::proto::v1::x_server::XServer;"
        )
        .len(),
        1
    );
    assert_eq!(
        found(
            "bin/webhook-dispatcher.rs",
            "let s = server::termination_signal();"
        )
        .len(),
        1
    );
    // Allowed: diesel in storage, a comment, a word that only contains a name.
    assert!(found("storage/pool.rs", "use diesel::PgConnection;").is_empty());
    assert!(found("api/request.rs", "// diesel is blocking").is_empty());
    assert!(found("domain/text.rs", "let prosequence = 1;").is_empty());
}
