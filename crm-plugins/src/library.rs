//! Loading plugin libraries into this process. Libraries are never unloaded: `dlclose` of a
//! Rust library crashes in its thread-local destructors, and a C library's threads may still
//! run its code. Disabling a plugin destroys its instances; the code stays mapped, and enabling
//! it again reuses it.

use crate::abi::{crm_plugin, CRM_PLUGIN_ENTRY_SYMBOL};
use crate::driver::{check_table, TableInfo};
use crate::error::PluginError;
use crate::manifest::CheckedPlugin;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

/// A plugin library mapped into this process, with its checked table.
pub struct LoadedLibrary {
    /// The file, canonicalised.
    pub path: PathBuf,
    /// Its SHA-256 when it was loaded.
    pub sha256: String,
    /// Its table.
    pub table: &'static crm_plugin,
    /// What the table says.
    pub info: TableInfo,
}

impl std::fmt::Debug for LoadedLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedLibrary")
            .field("path", &self.path)
            .field("sha256", &self.sha256)
            .field("info", &self.info)
            .finish()
    }
}

fn registry() -> &'static Mutex<HashMap<PathBuf, &'static LoadedLibrary>> {
    static R: OnceLock<Mutex<HashMap<PathBuf, &'static LoadedLibrary>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Loads (or finds already loaded) the library of a checked plugin and checks its table.
pub fn load(plugin: &CheckedPlugin) -> Result<&'static LoadedLibrary, PluginError> {
    let id = plugin.manifest.id.clone();
    let abi = |message: String| PluginError::Abi {
        id: id.clone(),
        message,
    };
    let path = plugin
        .library
        .canonicalize()
        .map_err(|e| PluginError::io(&plugin.library, e))?;
    let mut reg = registry()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(lib) = reg.get(&path) {
        if lib.sha256 != plugin.manifest.sha256 {
            return Err(abi(format!(
                "a different build of {} is already loaded in this process; restart the host to upgrade",
                path.display()
            )));
        }
        return Ok(lib);
    }
    // SAFETY: loading a library runs its initialisers. That is the trust the host places in an
    // installed plugin whose manifest and checksum it has checked.
    let lib = unsafe { libloading::Library::new(&path) }
        .map_err(|e| abi(format!("cannot load {}: {e}", path.display())))?;
    // Never unloaded, whatever happens next.
    let lib: &'static libloading::Library = Box::leak(Box::new(lib));
    // SAFETY: the symbol's type is fixed by the ABI.
    let entry = unsafe {
        lib.get::<unsafe extern "C" fn() -> *const crm_plugin>(
            format!("{CRM_PLUGIN_ENTRY_SYMBOL}\0").as_bytes(),
        )
    }
    .map_err(|_| {
        abi(format!(
            "library {} does not export {CRM_PLUGIN_ENTRY_SYMBOL}",
            path.display()
        ))
    })?;
    // SAFETY: the entry function takes nothing and returns a static table.
    let table = unsafe { entry() };
    // SAFETY: the table pointer is from the plugin; check_table reads the header first.
    let info = unsafe { check_table(table) }.map_err(abi)?;
    let (major, minor) = plugin.manifest.abi_version().map_err(abi)?;
    if (major, minor) != (info.abi_major, info.abi_minor) {
        return Err(abi(format!(
            "the manifest says ABI {major}.{minor} but the library is built for {}.{}",
            info.abi_major, info.abi_minor
        )));
    }
    let loaded: &'static LoadedLibrary = Box::leak(Box::new(LoadedLibrary {
        path: path.clone(),
        sha256: plugin.manifest.sha256.clone(),
        // SAFETY: checked non-NULL; static data of a library that stays loaded.
        table: unsafe { &*table },
        info,
    }));
    reg.insert(path, loaded);
    Ok(loaded)
}
