//! Strings and JSON across the boundary, and output parameters.
//!
//! - [`arg_str`] / [`arg_opt_str`]: a borrowed C string → `&str`, with a typed error for NULL
//!   and for invalid UTF-8.
//! - [`arg_json`]: a C string → a serde type, with a typed error that tells malformed JSON from
//!   JSON of the wrong shape and names the path of the offending element.
//! - [`arg_time`] / [`arg_date`]: an RFC 3339 timestamp or a `YYYY-MM-DD` date, refused as a
//!   validation error naming the argument; [`arg_bytes`]: a `(data, len)` buffer.
//! - [`Out`]: an output pointer, checked for NULL before any work is done and written only when
//!   the call has succeeded.
//! - [`crm_string_free`]: frees every string the library hands out.

use crate::error::{crm_status, FfiError};
use chrono::{DateTime, NaiveDate, Utc};
use crm_core::CrmError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::ffi::{c_char, CStr, CString};

/// Borrows a required string argument for the duration of the call.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that outlives `'a`.
pub unsafe fn arg_str<'a>(p: *const c_char, name: &'static str) -> Result<&'a str, FfiError> {
    if p.is_null() {
        return Err(FfiError::Null(name));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(p) };
    bytes.to_str().map_err(|e| {
        FfiError::new(
            crm_status::CRM_STATUS_INVALID_UTF8,
            format!(
                "argument `{name}` is not valid UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// Borrows an optional string argument: NULL is `None`.
///
/// # Safety
/// As [`arg_str`].
pub unsafe fn arg_opt_str<'a>(
    p: *const c_char,
    name: &'static str,
) -> Result<Option<&'a str>, FfiError> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { arg_str(p, name) }.map(Some)
    }
}

/// Parses a required JSON argument into `T`.
///
/// # Safety
/// As [`arg_str`].
pub unsafe fn arg_json<T: DeserializeOwned>(
    p: *const c_char,
    name: &'static str,
) -> Result<T, FfiError> {
    // SAFETY: forwarded contract.
    parse_json(unsafe { arg_str(p, name) }?, name)
}

/// Parses `text` into `T`; `name` is the argument named in errors.
pub fn parse_json<T: DeserializeOwned>(text: &str, name: &'static str) -> Result<T, FfiError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        json_error(name, text, &path, e.inner())
    })?;
    de.end().map_err(|e| json_error(name, text, ".", &e))?;
    Ok(value)
}

fn json_error(name: &str, text: &str, path: &str, e: &serde_json::Error) -> FfiError {
    use serde_json::error::Category;
    let shape = |detail: String| {
        let at = if path == "." {
            "at the top level".to_string()
        } else {
            format!("at `{path}`")
        };
        FfiError::new(
            crm_status::CRM_STATUS_JSON_SHAPE,
            format!("argument `{name}` has the wrong JSON shape {at}: {detail}"),
        )
    };
    match e.classify() {
        Category::Data => shape(e.to_string()),
        // serde_json reports some type mismatches (a number where an enum name is expected) as
        // syntax errors; if the text is well-formed JSON, it is the shape that is wrong.
        Category::Syntax if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => {
            shape(format!("a value of the wrong type ({e})"))
        }
        Category::Syntax | Category::Eof | Category::Io => FfiError::new(
            crm_status::CRM_STATUS_MALFORMED_JSON,
            format!("argument `{name}` is not valid JSON: {e}"),
        ),
    }
}

/// Parses a required RFC 3339 timestamp argument (`2026-11-25T09:30:00Z`, any offset) into UTC.
/// A string that is not one is a validation error naming the argument.
///
/// # Safety
/// As [`arg_str`].
pub unsafe fn arg_time(p: *const c_char, name: &'static str) -> Result<DateTime<Utc>, FfiError> {
    // SAFETY: forwarded contract.
    let text = unsafe { arg_str(p, name) }?;
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            CrmError::invalid(
                name,
                format!("{text:?} is not an RFC 3339 timestamp such as 2026-11-25T09:30:00Z ({e})"),
            )
            .into()
        })
}

/// Parses a required calendar date argument, `YYYY-MM-DD`. Anything else is a validation error
/// naming the argument.
///
/// # Safety
/// As [`arg_str`].
pub unsafe fn arg_date(p: *const c_char, name: &'static str) -> Result<NaiveDate, FfiError> {
    // SAFETY: forwarded contract.
    let text = unsafe { arg_str(p, name) }?;
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|e| {
        CrmError::invalid(name, format!("{text:?} is not a date YYYY-MM-DD ({e})")).into()
    })
}

/// Borrows a byte buffer argument `(data, len)` for the duration of the call. `data` may be
/// NULL only when `len` is 0.
///
/// # Safety
/// `data` is NULL or points to `len` readable bytes that outlive `'a`.
pub unsafe fn arg_bytes<'a>(
    data: *const u8,
    len: usize,
    name: &'static str,
) -> Result<&'a [u8], FfiError> {
    if data.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(FfiError::Null(name))
        };
    }
    if len > isize::MAX as usize {
        return Err(FfiError::new(
            crm_status::CRM_STATUS_VALIDATION,
            format!("argument `{name}`: length {len} is too large"),
        ));
    }
    // SAFETY: non-NULL, `len` readable bytes by the caller's contract, and len <= isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// Serialises `value` to a newly allocated C string the caller frees with `crm_string_free`.
pub fn to_c_json<T: Serialize + ?Sized>(value: &T) -> Result<*mut c_char, FfiError> {
    let text = serde_json::to_string(value).map_err(|e| {
        FfiError::new(
            crm_status::CRM_STATUS_ERROR,
            format!("could not encode the result as JSON: {e}"),
        )
    })?;
    to_c_string(text)
}

/// Moves `text` into a newly allocated C string (JSON never holds a raw NUL; any other text
/// with one is refused rather than cut short).
pub fn to_c_string(text: String) -> Result<*mut c_char, FfiError> {
    CString::new(text).map(CString::into_raw).map_err(|_| {
        FfiError::new(
            crm_status::CRM_STATUS_ERROR,
            "the result holds a NUL byte and cannot be returned as a C string",
        )
    })
}

/// An output parameter, known to be non-NULL.
pub struct Out<T>(*mut T);

impl<T> Out<T> {
    /// Checks an output pointer; call this before doing any work.
    pub fn new(p: *mut T, name: &'static str) -> Result<Self, FfiError> {
        if p.is_null() {
            Err(FfiError::Null(name))
        } else {
            Ok(Out(p))
        }
    }

    /// Writes the output. Call only once everything else has succeeded.
    ///
    /// # Safety
    /// The pointer given to [`Out::new`] is valid for a write of `T`.
    pub unsafe fn write(self, value: T) {
        // SAFETY: non-NULL (checked in `new`) and writable by the caller's contract.
        unsafe { self.0.write(value) }
    }
}

impl Out<*mut c_char> {
    /// Serialises `value` and writes the new string to the output.
    ///
    /// # Safety
    /// As [`Out::write`].
    pub unsafe fn write_json<T: Serialize + ?Sized>(self, value: &T) -> Result<(), FfiError> {
        let s = to_c_json(value)?;
        // SAFETY: forwarded contract.
        unsafe { self.write(s) };
        Ok(())
    }
}

/// Frees a string returned by this library through a `char **out_...` parameter. NULL is
/// accepted and ignored. Never pass a string that did not come from libcrm, never free one
/// twice, and never release libcrm's strings with `free()`.
#[no_mangle]
pub unsafe extern "C" fn crm_string_free(s: *mut c_char) {
    ffi_boundary!(on_panic = (), {
        if !s.is_null() {
            // SAFETY: the caller passes a string from `CString::into_raw`, once.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::model::NewClient;

    fn status_and_message(text: &str) -> (crm_status, String) {
        let e = parse_json::<NewClient>(text, "client_json").unwrap_err();
        (e.status(), e.to_string())
    }

    #[test]
    fn malformed_json_gives_line_and_column() {
        let (status, msg) = status_and_message("{\"kind\":");
        assert_eq!(status, crm_status::CRM_STATUS_MALFORMED_JSON);
        assert!(msg.contains("`client_json` is not valid JSON") && msg.contains("line 1"));
        let trailing = parse_json::<serde_json::Value>("{} []", "query_json").unwrap_err();
        assert_eq!(trailing.status(), crm_status::CRM_STATUS_MALFORMED_JSON);
        assert!(trailing.to_string().contains("trailing characters"));
    }

    #[test]
    fn wrong_shape_names_the_path() {
        let (status, msg) = status_and_message(
            r#"{"kind":"person","name":"A","emails":[{"kind":"pager","address":"a@b.example"}]}"#,
        );
        assert_eq!(status, crm_status::CRM_STATUS_JSON_SHAPE);
        assert!(
            msg.contains("at `emails[0].kind`: unknown variant `pager`"),
            "{msg}"
        );
        let (status, msg) = status_and_message(r#"{"kind":5,"name":"A"}"#);
        assert_eq!(status, crm_status::CRM_STATUS_JSON_SHAPE);
        assert!(msg.contains("at `kind`"), "{msg}");
        let (status, msg) = status_and_message("[]");
        assert_eq!(status, crm_status::CRM_STATUS_JSON_SHAPE);
        assert!(msg.contains("at the top level"), "{msg}");
    }

    #[test]
    fn invalid_utf8_names_the_argument_and_offset() {
        let bytes = b"ab\xffcd\0";
        let e = unsafe { arg_str(bytes.as_ptr().cast(), "name") }.unwrap_err();
        assert_eq!(e.status(), crm_status::CRM_STATUS_INVALID_UTF8);
        assert!(e.to_string().contains("`name`") && e.to_string().contains("offset 2"));
    }
}
