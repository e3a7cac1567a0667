//! The plugin manifest, `crm-plugin.toml`, which sits beside the plugin library, and the checks
//! the host makes on a plugin directory without running any of its code.
//!
//! ```toml
//! id = "webhook"                          # = the directory's name; [a-z0-9][a-z0-9_.-]*
//! name = "Webhook"
//! version = "0.1.0"
//! abi = "1.0"                             # the plugin ABI it was built for
//! library = "libcrm_plugin_webhook.so"    # a file in the same directory
//! sha256 = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"
//! capabilities = ["emit", "crm.read"]     # log is always granted
//! events = ["deal.change_stage"]          # event types to deliver; "*" for all
//! description = "Posts events to a URL"   # optional
//! ```

use crate::abi::{CRM_PLUGIN_ABI_MAJOR, CRM_PLUGIN_ABI_MINOR, CRM_PLUGIN_ENTRY_SYMBOL};
use crate::error::PluginError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The manifest's file name.
pub const MANIFEST_FILE: &str = "crm-plugin.toml";

/// Capabilities a manifest may request.
pub const CAPABILITIES: [&str; 4] = ["log", "emit", "crm.read", "crm.write"];

/// A plugin manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Stable id, equal to the plugin's directory name; also its outbox consumer name.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// The plugin ABI it was built for, `"MAJOR.MINOR"`.
    pub abi: String,
    /// The library's file name, in the manifest's directory.
    pub library: String,
    /// The library's SHA-256, 64 lower-case hex digits.
    pub sha256: String,
    /// Requested capabilities: `log`, `emit`, `crm.read`, `crm.write`.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Event types to deliver (`client.create`, `deal.change_stage`...); `"*"` for all.
    #[serde(default)]
    pub events: Vec<String>,
    /// What the plugin does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Manifest {
    /// Parses and validates a manifest's text.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let m: Manifest = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        m.validate()?;
        Ok(m)
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
            && self.id.as_bytes()[0].is_ascii_alphanumeric();
        if !id_ok {
            return Err(format!(
                "id {:?}: 1-64 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit",
                self.id
            ));
        }
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err("name: 1-200 characters".into());
        }
        if self.version.trim().is_empty() || self.version.len() > 64 {
            return Err("version: 1-64 characters".into());
        }
        let (major, minor) = self.abi_version()?;
        if major != CRM_PLUGIN_ABI_MAJOR {
            return Err(format!(
                "abi {major}.{minor}: this host speaks ABI major {CRM_PLUGIN_ABI_MAJOR}"
            ));
        }
        if minor > CRM_PLUGIN_ABI_MINOR {
            return Err(format!(
                "abi {major}.{minor} is newer than this host's {CRM_PLUGIN_ABI_MAJOR}.{CRM_PLUGIN_ABI_MINOR}"
            ));
        }
        let lib = Path::new(&self.library);
        if self.library.is_empty()
            || lib.components().count() != 1
            || lib
                .file_name()
                .map(|f| f != lib.as_os_str())
                .unwrap_or(true)
        {
            return Err(format!(
                "library {:?}: a file name in the manifest's directory",
                self.library
            ));
        }
        if self.sha256.len() != 64
            || !self
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err("sha256: 64 lower-case hex digits".into());
        }
        for c in &self.capabilities {
            if !CAPABILITIES.contains(&c.as_str()) {
                return Err(format!(
                    "capabilities: unknown capability {c:?} (known: {})",
                    CAPABILITIES.join(", ")
                ));
            }
        }
        for e in &self.events {
            let ok = e == "*"
                || (e.len() <= 100
                    && e.split('.').count() == 2
                    && e.split('.').all(|p| {
                        !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    }));
            if !ok {
                return Err(format!(
                    "events: {e:?} is not an event type such as \"deal.change_stage\" or \"*\""
                ));
            }
        }
        Ok(())
    }

    /// The ABI version as (major, minor).
    pub fn abi_version(&self) -> Result<(u16, u16), String> {
        let bad = || format!("abi {:?}: \"MAJOR.MINOR\", e.g. \"1.0\"", self.abi);
        let (a, b) = self.abi.split_once('.').ok_or_else(bad)?;
        Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
    }

    /// Whether the manifest requests `capability`.
    pub fn has(&self, capability: &str) -> bool {
        capability == "log" || self.capabilities.iter().any(|c| c == capability)
    }

    /// The event types to read from the outbox (empty: all types).
    pub fn event_filter(&self) -> Vec<String> {
        if self.events.iter().any(|e| e == "*") {
            Vec::new()
        } else {
            self.events.clone()
        }
    }

    /// Renders the manifest as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A plugin directory that passed every check that runs none of its code.
#[derive(Clone, Debug)]
pub struct CheckedPlugin {
    /// Its directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// The library's path.
    pub library: PathBuf,
}

/// Reads the manifest of the plugin in `dir` (whose name is the plugin's id).
pub fn read_manifest(dir: &Path) -> Result<Manifest, PluginError> {
    let id = dir_id(dir);
    let path = dir.join(MANIFEST_FILE);
    let bad = |message: String| PluginError::Manifest {
        id: id.clone(),
        path: path.display().to_string(),
        message,
    };
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad(format!(
                "missing: every plugin needs a {MANIFEST_FILE}"
            )))
        }
        Err(e) => return Err(bad(format!("unreadable: {e}"))),
    };
    let text = String::from_utf8(text).map_err(|_| bad("not UTF-8".into()))?;
    let m = Manifest::parse(&text).map_err(bad)?;
    if m.id != id {
        return Err(bad(format!(
            "id {:?} differs from the directory name {id:?}",
            m.id
        )));
    }
    Ok(m)
}

/// Checks the plugin in `dir` without running any of its code: the manifest, the library's
/// SHA-256, and (for ELF libraries) that it defines the entry symbol.
pub fn check_dir(dir: &Path) -> Result<CheckedPlugin, PluginError> {
    let manifest = read_manifest(dir)?;
    let library = dir.join(&manifest.library);
    let bytes = std::fs::read(&library).map_err(|e| PluginError::Abi {
        id: manifest.id.clone(),
        message: format!("library {} cannot be read: {e}", library.display()),
    })?;
    let actual = sha256_hex(&bytes);
    if actual != manifest.sha256 {
        return Err(PluginError::Checksum {
            id: manifest.id.clone(),
            library: library.display().to_string(),
            expected: manifest.sha256.clone(),
            actual,
        });
    }
    if crate::elf::defines_symbol(&bytes, CRM_PLUGIN_ENTRY_SYMBOL) == Some(false) {
        return Err(PluginError::Abi {
            id: manifest.id.clone(),
            message: format!(
                "library {} does not export {CRM_PLUGIN_ENTRY_SYMBOL}",
                library.display()
            ),
        });
    }
    Ok(CheckedPlugin {
        dir: dir.to_path_buf(),
        manifest,
        library,
    })
}

/// The plugin id a directory stands for (its name).
pub fn dir_id(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Installs a plugin: copies `library` into `dest/<id>/` and writes the manifest there, with
/// `library` and `sha256` filled in from the file. `template` supplies the other fields.
pub fn package(template: &Manifest, library: &Path, dest: &Path) -> Result<PathBuf, PluginError> {
    let bytes = std::fs::read(library).map_err(|e| PluginError::io(library, e))?;
    let file = library
        .file_name()
        .ok_or_else(|| PluginError::Invalid {
            field: "library".into(),
            message: format!("{} has no file name", library.display()),
        })?
        .to_string_lossy()
        .into_owned();
    let mut m = template.clone();
    m.library = file.clone();
    m.sha256 = sha256_hex(&bytes);
    m.validate().map_err(|message| PluginError::Invalid {
        field: "manifest".into(),
        message,
    })?;
    let dir = dest.join(&m.id);
    std::fs::create_dir_all(&dir).map_err(|e| PluginError::io(&dir, e))?;
    let target = dir.join(&file);
    // Write beside and rename, so a running host that already mapped the old file keeps it.
    let tmp = dir.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, &bytes).map_err(|e| PluginError::io(&tmp, e))?;
    std::fs::rename(&tmp, &target).map_err(|e| PluginError::io(&target, e))?;
    let mpath = dir.join(MANIFEST_FILE);
    std::fs::write(&mpath, m.to_toml()).map_err(|e| PluginError::io(&mpath, e))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(extra: &str) -> String {
        format!(
            "id = \"webhook\"\nname = \"Webhook\"\nversion = \"1.0\"\nabi = \"1.0\"\nlibrary = \"libw.so\"\nsha256 = \"{}\"\n{extra}",
            "ab".repeat(32)
        )
    }

    #[test]
    fn parses_and_validates() {
        let m = Manifest::parse(&text(
            "capabilities = [\"emit\"]\nevents = [\"deal.change_stage\"]",
        ))
        .unwrap();
        assert!(m.has("emit") && m.has("log") && !m.has("crm.write"));
        assert_eq!(m.event_filter(), vec!["deal.change_stage".to_string()]);
        assert_eq!(Manifest::parse(&m.to_toml()).unwrap(), m);
        let all = Manifest::parse(&text("events = [\"*\"]")).unwrap();
        assert!(all.event_filter().is_empty());
    }

    #[test]
    fn refuses_what_is_wrong() {
        let cases = [
            (text("").replace("webhook", "Web Hook"), "id"),
            (text("").replace("abi = \"1.0\"", "abi = \"one\""), "abi"),
            (text("").replace("abi = \"1.0\"", "abi = \"2.0\""), "major"),
            (text("").replace("abi = \"1.0\"", "abi = \"1.1\""), "newer"),
            (text("").replace("libw.so", "../libw.so"), "library"),
            (text("").replace(&"ab".repeat(32), "xyz"), "sha256"),
            (text("capabilities = [\"root\"]"), "unknown capability"),
            (text("events = [\"Deal Changed\"]"), "events"),
            (text("colour = \"red\""), "unknown field"),
            (text("").replace("name = \"Webhook\"\n", ""), "name"),
            ("id = ".to_string(), ""),
        ];
        for (t, what) in cases {
            let e = Manifest::parse(&t).unwrap_err();
            assert!(e.contains(what), "{what}: {e}");
        }
    }

    #[test]
    fn package_fills_in_library_and_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let lib = dir.path().join("libx.so");
        std::fs::write(&lib, b"not really a library").unwrap();
        let mut m = Manifest::parse(&text("")).unwrap();
        m.id = "x".into();
        let out = package(&m, &lib, &dir.path().join("plugins")).unwrap();
        let read = read_manifest(&out).unwrap();
        assert_eq!(read.library, "libx.so");
        assert_eq!(read.sha256, sha256_hex(b"not really a library"));
        // Not ELF: the symbol check cannot tell, so only the checksum is verified here.
        assert!(check_dir(&out).is_ok());
        std::fs::write(out.join("libx.so"), b"changed").unwrap();
        assert!(matches!(check_dir(&out), Err(PluginError::Checksum { .. })));
    }
}
