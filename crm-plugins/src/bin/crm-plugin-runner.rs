//! `crm-plugin-runner`: hosts one crm plugin library out of process, and packages plugins.
//!
//! ```text
//! crm-plugin-runner serve <plugin dir>
//!     Loads the plugin in <plugin dir> (its crm-plugin.toml is checked exactly as the host
//!     checks it) and speaks the JSON-lines protocol on stdin/stdout (crm_plugins::protocol).
//!     Started by the host for plugins enabled with mode "out_of_process".
//!
//! crm-plugin-runner check <plugin dir>
//!     Checks a plugin directory without running plugin code; prints the manifest as JSON.
//!
//! crm-plugin-runner package <template crm-plugin.toml> <library> <destination dir>
//!     Installs a plugin: copies the library to <destination dir>/<id>/ and writes its
//!     manifest there with `library` and `sha256` filled in.
//! ```

use crm_plugins::manifest::{self, Manifest};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["serve", dir] => ExitCode::from(crm_plugins::runner::serve(Path::new(dir)) as u8),
        ["check", dir] => match manifest::check_dir(Path::new(dir)) {
            Ok(c) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&c.manifest).unwrap_or_default()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("crm-plugin-runner: {e}");
                ExitCode::from(1)
            }
        },
        ["package", template, library, dest] => {
            let text = match std::fs::read_to_string(template) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("crm-plugin-runner: {template}: {e}");
                    return ExitCode::from(1);
                }
            };
            // The template may lack library and sha256: fill them in before validating.
            let parsed: Result<Manifest, String> = toml_template(&text);
            let result = parsed
                .map_err(|e| format!("{template}: {e}"))
                .and_then(|m| {
                    manifest::package(&m, Path::new(library), Path::new(dest))
                        .map_err(|e| e.to_string())
                });
            match result {
                Ok(dir) => {
                    println!("{}", dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("crm-plugin-runner: {e}");
                    ExitCode::from(1)
                }
            }
        }
        _ => {
            eprintln!(
                "usage: crm-plugin-runner serve <plugin dir>\n       crm-plugin-runner check <plugin dir>\n       crm-plugin-runner package <template crm-plugin.toml> <library> <destination dir>"
            );
            ExitCode::from(2)
        }
    }
}

/// Parses a manifest template: `library` and `sha256` may be absent or placeholders.
fn toml_template(text: &str) -> Result<Manifest, String> {
    let mut extra = String::new();
    if !text.lines().any(|l| l.trim_start().starts_with("library")) {
        extra.push_str("library = \"placeholder\"\n");
    }
    if !text.lines().any(|l| l.trim_start().starts_with("sha256")) {
        extra.push_str(&format!("sha256 = \"{}\"\n", "0".repeat(64)));
    }
    // Top-level keys must come before any table; the manifest has none, so prepend.
    Manifest::parse(&format!("{extra}{text}"))
}
