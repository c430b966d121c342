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
        what: "proto renders domain values and knows nothing else of the crate",
        applies: |layer| layer == "proto",
        forbidden: &[
            "crate::api",
            "crate::events",
            "crate::server",
            "crate::storage",
            "crate::webhooks",
        ],
    },
    Rule {
        what: "the leaves (auth, config, crypto, metrics, tasks, telemetry) import no layer above storage",
        applies: |layer| {
            ["auth", "config", "crypto", "metrics", "tasks", "telemetry"].contains(&layer)
        },
        forbidden: &[
            "crate::api",
            "crate::events",
            "crate::server",
            "crate::webhooks",
        ],
    },
    Rule {
        what: "the webhook dispatcher does not pull in the gRPC server",
        applies: |layer| layer == "bin/webhook-dispatcher",
        forbidden: &["crate::server", "crate::api"],
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

/// Every breach in one file's text, as `file:line: rule: the line`. A `use` is read
/// whole (over several lines, groups expanded, `self::`/`super::` resolved against the
/// file's module), so `use crate::{api, storage}` or `use super::super::api` count too.
fn breaches(file: &str, layer: &str, text: &str) -> Vec<String> {
    let module = module_of(Path::new(file));
    let mut found = Vec::new();
    let mut statement = String::new();
    let mut first_line = 0;
    for (number, line) in text.lines().enumerate() {
        let code = line.trim();
        if code.starts_with("//") {
            continue;
        }
        let in_use = !statement.is_empty();
        if in_use || code.starts_with("use ") || code.starts_with("pub use ") {
            if !in_use {
                first_line = number + 1;
            }
            statement.push_str(code);
            statement.push(' ');
            if !code.ends_with(';') {
                continue;
            }
            let tree = statement
                .trim()
                .trim_start_matches("pub ")
                .trim_start_matches("use ");
            let paths: Vec<String> = expand(tree.trim_end_matches(';'))
                .into_iter()
                .map(|path| resolve(&path, &module))
                .collect();
            found.extend(check(
                file,
                first_line,
                layer,
                &paths.join(" "),
                statement.trim(),
            ));
            statement.clear();
            continue;
        }
        found.extend(check(file, number + 1, layer, code, code));
    }
    found
}

/// The breaches of one piece of code.
fn check(file: &str, line: usize, layer: &str, code: &str, shown: &str) -> Vec<String> {
    RULES
        .iter()
        .filter(|rule| (rule.applies)(layer))
        .filter_map(|rule| {
            let name = rule.forbidden.iter().find(|name| names(code, name))?;
            Some(format!(
                "{file}:{line}: {} (names `{name}`): {shown}",
                rule.what
            ))
        })
        .collect()
}

/// The paths of a `use` tree: `a::{b, c::{d, e as f}}` is `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or(tree).trim();
        return vec![path.to_owned()];
    };
    let (prefix, rest) = (&tree[..open], &tree[open + 1..]);
    let inner = rest.strip_suffix('}').unwrap_or(rest);
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (at, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    items
        .into_iter()
        .filter(|item| !item.trim().is_empty())
        .flat_map(|item| expand(&format!("{prefix}{}", item.trim())))
        .collect()
}

/// A path as seen from the crate root: `super::` and `self::` resolved against the
/// file's module, the library's own name (in the binaries) read as `crate`.
fn resolve(path: &str, module: &[String]) -> String {
    if let Some(rest) = path.strip_prefix("producer_profile::") {
        return format!("crate::{rest}");
    }
    let mut here = module.to_vec();
    let mut rest = path;
    loop {
        if let Some(after) = rest.strip_prefix("super::") {
            here.pop();
            rest = after;
        } else if let Some(after) = rest.strip_prefix("self::") {
            rest = after;
        } else {
            break;
        }
    }
    if rest.len() == path.len() {
        return path.to_owned();
    }
    let mut parts = vec!["crate".to_owned()];
    parts.extend(here);
    parts.push(rest.to_owned());
    parts.join("::")
}

/// The module a file under `src/` defines, as path segments below the crate root.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
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
            "use producer_profile::{server, tasks};"
        )
        .len(),
        1
    );
    let grouped = "use crate::{\n    domain::Error,\n    webhooks::http,\n};";
    assert_eq!(
        found("storage/pool.rs", grouped).len(),
        1,
        "a group over lines"
    );
    let relative = "use super::super::api::grpc;";
    assert_eq!(
        found("webhooks/http.rs", relative).len(),
        1,
        "a relative path"
    );
    let inline = "let p = crate::webhooks::ssrf::AddressPolicy::PublicOnly;";
    assert_eq!(found("config.rs", inline).len(), 1, "a path in code");
    // Allowed: diesel in storage, a comment, a word that only contains a name.
    assert!(found("storage/pool.rs", "use diesel::PgConnection;").is_empty());
    assert!(found("api/request.rs", "// diesel is blocking").is_empty());
    assert!(found("domain/text.rs", "let prosequence = 1;").is_empty());
}
