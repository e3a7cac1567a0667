//! Driving a plugin table from the host side: [`RawInstance`] creates an instance through a
//! `crm_plugin` table, calls it and destroys it, checking every pointer that comes back.

use crate::abi::*;
use crate::call::{self, CallError};
use crate::hostcaps::{HostCaps, HostTable};
use std::ffi::{c_void, CString};
use std::sync::Arc;

/// One live instance of a plugin, created through its table. Dropping it calls `destroy`.
pub struct RawInstance {
    table: &'static crm_plugin,
    instance: *mut c_void,
    // Must outlive the instance: the plugin holds pointers into it until destroy returns.
    host: HostTable,
}

// The ABI lets the host call an instance from any thread, one call at a time; `&mut self` on
// `call` enforces the one-at-a-time part.
unsafe impl Send for RawInstance {}

impl RawInstance {
    /// Creates an instance with `config` (a JSON document), giving it `caps`.
    ///
    /// The table must have been validated (see [`check_table`]).
    pub fn create(
        table: &'static crm_plugin,
        caps: Arc<dyn HostCaps>,
        config: &[u8],
    ) -> Result<RawInstance, CallError> {
        let host = HostTable::new(caps);
        let create = table
            .create
            .ok_or_else(|| CallError::new("the plugin table has no create function"))?;
        let mut instance: *mut c_void = std::ptr::null_mut();
        let mut err: *mut u8 = std::ptr::null_mut();
        let mut err_len = 0usize;
        // SAFETY: the table was validated; the pointers passed are valid for the call.
        let status = unsafe {
            create(
                host.as_ptr(),
                config.as_ptr(),
                config.len(),
                &mut instance,
                &mut err,
                &mut err_len,
            )
        };
        let message = take(table, err, err_len);
        if status != CRM_PLUGIN_OK {
            let message = String::from_utf8_lossy(&message).into_owned();
            return Err(CallError::with_status(
                status,
                if message.is_empty() {
                    "create failed".to_string()
                } else {
                    message
                },
            ));
        }
        if instance.is_null() {
            return Err(CallError::new(
                "create reported success but returned no instance",
            ));
        }
        Ok(RawInstance {
            table,
            instance,
            host,
        })
    }

    /// Calls `method` with `input` (a JSON document). On success the JSON result (empty for
    /// none); on failure the plugin's status and message.
    pub fn call(&mut self, method: &str, input: &[u8]) -> Result<Vec<u8>, CallError> {
        let Some(f) = self.table.call else {
            return Err(CallError::new("the plugin table has no call function"));
        };
        let method =
            CString::new(method).map_err(|_| CallError::bad_request("method name contains NUL"))?;
        let mut out: *mut u8 = std::ptr::null_mut();
        let mut out_len = 0usize;
        // SAFETY: the instance is live; the pointers are valid for the call.
        let status = unsafe {
            f(
                self.instance,
                method.as_ptr(),
                input.as_ptr(),
                input.len(),
                &mut out,
                &mut out_len,
            )
        };
        let data = take(self.table, out, out_len);
        if status == CRM_PLUGIN_OK {
            Ok(data)
        } else {
            Err(CallError::with_status(
                status,
                String::from_utf8_lossy(&data).into_owned(),
            ))
        }
    }

    /// The host table handed to this instance.
    pub fn host_table(&self) -> &HostTable {
        &self.host
    }
}

impl Drop for RawInstance {
    fn drop(&mut self) {
        if let Some(destroy) = self.table.destroy {
            // SAFETY: the instance is live and destroyed exactly once.
            unsafe { destroy(self.instance) };
        }
    }
}

/// Copies a plugin-owned buffer and frees it with the plugin's `free`.
fn take(table: &crm_plugin, ptr: *mut u8, len: usize) -> Vec<u8> {
    if ptr.is_null() {
        return Vec::new();
    }
    // SAFETY: the plugin promised `len` bytes at `ptr`.
    let data = unsafe { call::bytes(ptr, len) }.to_vec();
    if let Some(free) = table.free {
        // SAFETY: returned by this plugin, freed once.
        unsafe { free(ptr, len) };
    }
    data
}

/// What a plugin table says about itself, once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableInfo {
    /// The plugin's name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// Its ABI major version.
    pub abi_major: u16,
    /// Its ABI minor version.
    pub abi_minor: u16,
}

/// Checks a table returned by an entry function before anything in it is called: not NULL,
/// the same ABI major, a minor not newer than ours, a `struct_size` large enough for every
/// field of the version it claims, and all four functions present.
///
/// # Safety
/// `table` must be NULL or point to at least the 8 header bytes of a plugin table, and to
/// `struct_size` bytes if that is at least the size of the v1.0 table.
pub unsafe fn check_table(table: *const crm_plugin) -> Result<TableInfo, String> {
    if table.is_null() {
        return Err("the entry function returned NULL".into());
    }
    // Read the header alone first: the rest may not exist.
    let header = table as *const u8;
    let struct_size = std::ptr::read_unaligned(header as *const u32);
    let abi_major = std::ptr::read_unaligned(header.add(4) as *const u16);
    let abi_minor = std::ptr::read_unaligned(header.add(6) as *const u16);
    if abi_major != CRM_PLUGIN_ABI_MAJOR {
        return Err(format!(
            "the plugin was built for ABI {abi_major}.{abi_minor}; this host speaks major {CRM_PLUGIN_ABI_MAJOR}"
        ));
    }
    if abi_minor > CRM_PLUGIN_ABI_MINOR {
        return Err(format!(
            "the plugin needs ABI {abi_major}.{abi_minor}, newer than this host's {CRM_PLUGIN_ABI_MAJOR}.{CRM_PLUGIN_ABI_MINOR}"
        ));
    }
    let needed = std::mem::size_of::<crm_plugin>();
    if (struct_size as usize) < needed {
        return Err(format!(
            "the plugin table is {struct_size} bytes, smaller than the {needed} bytes ABI {abi_major}.{abi_minor} requires"
        ));
    }
    let t = &*table;
    if t.create.is_none() || t.call.is_none() || t.free.is_none() || t.destroy.is_none() {
        return Err("the plugin table lacks create, call, free or destroy".into());
    }
    let text = |p: *const std::ffi::c_char, what: &str| -> Result<String, String> {
        if p.is_null() {
            return Err(format!("the plugin table has no {what}"));
        }
        std::ffi::CStr::from_ptr(p)
            .to_str()
            .map(str::to_string)
            .map_err(|_| format!("the plugin's {what} is not UTF-8"))
    };
    Ok(TableInfo {
        name: text(t.name, "name")?,
        version: text(t.version, "version")?,
        abi_major,
        abi_minor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn create(
        _: *const crm_plugin_host,
        _: *const u8,
        _: usize,
        _: *mut *mut c_void,
        _: *mut *mut u8,
        _: *mut usize,
    ) -> i32 {
        CRM_PLUGIN_ERROR
    }
    unsafe extern "C" fn call(
        _: *mut c_void,
        _: *const std::ffi::c_char,
        _: *const u8,
        _: usize,
        _: *mut *mut u8,
        _: *mut usize,
    ) -> i32 {
        CRM_PLUGIN_ERROR
    }
    unsafe extern "C" fn free(_: *mut u8, _: usize) {}
    unsafe extern "C" fn destroy(_: *mut c_void) {}

    fn table() -> crm_plugin {
        crm_plugin {
            struct_size: std::mem::size_of::<crm_plugin>() as u32,
            abi_major: CRM_PLUGIN_ABI_MAJOR,
            abi_minor: CRM_PLUGIN_ABI_MINOR,
            name: c"t".as_ptr(),
            version: c"1".as_ptr(),
            create: Some(create),
            call: Some(call),
            free: Some(free),
            destroy: Some(destroy),
        }
    }

    #[test]
    fn checks_header_before_the_rest() {
        let ok = table();
        assert_eq!(unsafe { check_table(&ok) }.unwrap().name, "t");
        assert!(unsafe { check_table(std::ptr::null()) }.is_err());
        type Breakage = fn(&mut crm_plugin);
        let cases: [(Breakage, &str); 5] = [
            (|t| t.abi_major = 2, "ABI 2.0"),
            (|t| t.abi_minor = CRM_PLUGIN_ABI_MINOR + 1, "newer"),
            (|t| t.struct_size = 8, "smaller"),
            (|t| t.free = None, "lacks"),
            (|t| t.name = std::ptr::null(), "no name"),
        ];
        for (f, text) in cases {
            let mut t = table();
            f(&mut t);
            let e = unsafe { check_table(&t) }.unwrap_err();
            assert!(e.contains(text), "{text}: {e}");
        }
    }
}
