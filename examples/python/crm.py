"""A thin ctypes wrapper around libcrm (the crm engine's C API, include/crm.h).

It declares the C signatures, turns every non-OK ``crm_status`` into a Python exception
(``CrmError`` and one subclass per status), frees every string the library returns, and
exchanges records as Python dicts (JSON underneath). Handles become ``Database``, ``Context``,
``Cursor`` and ``PluginHost`` objects that close themselves (``with`` blocks, or when
garbage-collected — the C API allows its destructors on any thread, in any order).

Plugins (ABI 1.2): ``db.plugins(plugin_dir=...)`` opens the plugin host of a database
(``crm_plugins``); ``list``, ``enable``, ``call``, ``status``, ``disable`` and friends map one to
one onto the C functions, and its failures are ``PluginError`` subclasses.

Finding the library: ``$CRM_LIBRARY`` if set, else ``libcrm.so`` (``.dylib``/``.dll``) under the
repository's ``target/release`` or ``target/debug``, else the system's loader path.

Each ctypes call costs a few hundred nanoseconds, so the API returns whole records and pages per
call; this wrapper keeps it that way.

Long operations (import, export, backups) take an optional ``progress`` callable
``progress(done, total) -> bool``: return ``False`` to cancel (the call then raises
``Cancelled``). ``total`` is 0 when unknown. An exception raised by the callable cancels the
operation and is re-raised from the call.

Timestamps are RFC 3339 strings or timezone-aware ``datetime`` objects; ``now`` arguments
default to the current time.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from ctypes import (CFUNCTYPE, POINTER, byref, c_char_p, c_int32, c_int64, c_size_t, c_uint32,
                    c_uint64, c_void_p)
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union

ABI_MAJOR = 1  # CRM_ABI_VERSION_MAJOR this wrapper was written for
ABI_MINOR = 2  # CRM_ABI_VERSION_MINOR it needs at least (1.1: deals, reports...; 1.2: plugins)

# CRM_ACTION_* and CRM_ENTITY_* (include/crm.h)
ACTION_READ, ACTION_CREATE, ACTION_UPDATE, ACTION_DELETE = 1, 2, 3, 4
ACTION_EXPORT, ACTION_IMPORT, ACTION_ASSIGN = 5, 6, 7
ENTITY_CLIENT, ENTITY_DEAL, ENTITY_ACTIVITY = 1, 2, 3
NO_ID = 0

Progress = Callable[[int, int], Any]  # progress(done, total_or_zero) -> False to cancel
Time = Union[str, datetime]


class CrmError(Exception):
    """A failed call: ``status`` is the crm_status code, ``name`` its constant, ``message`` the
    library's message (it names the field or argument at fault)."""

    def __init__(self, status: int, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.status, self.name, self.message = status, name, message


class ValidationError(CrmError): pass          # 2
class NotFound(CrmError): pass                 # 3
class PermissionDenied(CrmError): pass         # 4
class Conflict(CrmError): pass                 # 5
class ConstraintViolation(CrmError): pass      # 6
class InactiveUser(CrmError): pass             # 7
class SchemaTooNew(CrmError): pass             # 8
class StorageError(CrmError): pass             # 9
class CorruptData(CrmError): pass              # 10
class Cancelled(CrmError): pass                # 11: a progress callback asked to stop
class FileError(CrmError): pass                # 12: a file could not be read or written
class BadArgument(CrmError): pass              # 100-103, 106: NULL, UTF-8, JSON, enum values
class InvalidHandle(CrmError): pass            # 104
class DatabaseClosed(CrmError): pass           # 105
class InternalError(CrmError): pass            # 1, 107 (a panic inside the library)


class PluginError(CrmError): pass              # 60-71: the plugin host (ABI 1.2)
class PluginsDisabled(PluginError): pass       # 60: the host has no plugin_dir
class PluginNotFound(PluginError): pass        # 61: no such plugin in the plugin directory
class PluginManifestError(PluginError): pass   # 62: missing or invalid crm-plugin.toml
class PluginChecksumError(PluginError): pass   # 63: the library's sha256 is not the manifest's
class PluginAbiError(PluginError): pass        # 64: no entry symbol, other ABI, does not load
class PluginAlreadyEnabled(PluginError): pass  # 65
class PluginNotEnabled(PluginError): pass      # 66
class PluginCreateError(PluginError): pass     # 67: the plugin's create failed
class PluginCallError(PluginError): pass       # 68: the plugin answered a call with a failure
class PluginCrashed(PluginError): pass         # 69: its runner process died or timed out
class PluginInvalidOption(PluginError): pass   # 70: e.g. no user_id, a reserved method name
class PluginIOError(PluginError): pass         # 71: the plugin directory or a library unreadable

_EXCEPTIONS = {
    2: ValidationError, 3: NotFound, 4: PermissionDenied, 5: Conflict, 6: ConstraintViolation,
    7: InactiveUser, 8: SchemaTooNew, 9: StorageError, 10: CorruptData, 11: Cancelled, 12: FileError,
    100: BadArgument, 101: BadArgument, 102: BadArgument, 103: BadArgument, 106: BadArgument,
    104: InvalidHandle, 105: DatabaseClosed, 1: InternalError, 107: InternalError,
    60: PluginsDisabled, 61: PluginNotFound, 62: PluginManifestError, 63: PluginChecksumError,
    64: PluginAbiError, 65: PluginAlreadyEnabled, 66: PluginNotEnabled, 67: PluginCreateError,
    68: PluginCallError, 69: PluginCrashed, 70: PluginInvalidOption, 71: PluginIOError,
}


def _find_library() -> str:
    if os.environ.get("CRM_LIBRARY"):
        return os.environ["CRM_LIBRARY"]
    name = {"darwin": "libcrm.dylib", "win32": "crm.dll"}.get(sys.platform, "libcrm.so")
    root = Path(__file__).resolve().parents[2]
    for profile in ("release", "debug"):
        candidate = root / "target" / profile / name
        if candidate.exists():
            return str(candidate)
    return name


_lib = ctypes.CDLL(_find_library())

# Every string the library returns is a char* we must free: declare those as c_void_p so
# ctypes hands us the pointer instead of a copied bytes object.
_STATUS = c_int32
_OUT_STR = POINTER(c_void_p)
_H = c_void_p  # opaque handles


def _declare(name: str, *args: Any, restype: Any = _STATUS) -> None:
    fn = getattr(_lib, name)
    fn.argtypes = list(args)
    fn.restype = restype


_declare("crm_abi_version", restype=c_uint32)
_declare("crm_version", restype=c_char_p)
_declare("crm_status_name", c_int32, restype=c_char_p)
_declare("crm_last_error_message", restype=c_char_p)
_declare("crm_last_error_code", restype=_STATUS)
_declare("crm_string_free", c_void_p, restype=None)
_declare("crm_db_open", c_char_p, c_char_p, POINTER(_H))
_declare("crm_db_close", _H, restype=None)
_declare("crm_db_path", _H, _OUT_STR)
_declare("crm_ctx_new_user", _H, c_int64, POINTER(_H))
_declare("crm_ctx_new_system", _H, c_char_p, POINTER(_H))
_declare("crm_ctx_actor", _H, _OUT_STR)
_declare("crm_ctx_free", _H, restype=None)
_declare("crm_cursor_next", _H, _OUT_STR)
_declare("crm_cursor_free", _H, restype=None)
for _name in ("crm_client_list_cursor", "crm_client_search_cursor", "crm_audit_entries_cursor"):
    _declare(_name, _H, c_char_p, POINTER(_H))
# (ctx, json) -> json
for _name in ("crm_client_create", "crm_client_create_batch", "crm_client_list", "crm_client_search",
              "crm_client_find_duplicates", "crm_custom_field_define", "crm_department_create",
              "crm_user_create", "crm_audit_entries"):
    _declare(_name, _H, c_char_p, _OUT_STR)
# (ctx, id) -> json
for _name in ("crm_client_get", "crm_client_contacts", "crm_client_organizations",
              "crm_client_duplicates", "crm_user_get"):
    _declare(_name, _H, c_int64, _OUT_STR)
# (ctx) -> json
for _name in ("crm_department_list", "crm_user_list", "crm_role_list", "crm_role_assignment_list",
              "crm_forbid_list", "crm_audit_verify"):
    _declare(_name, _H, _OUT_STR)
_declare("crm_client_update", _H, c_int64, c_int64, c_char_p, _OUT_STR)
_declare("crm_client_archive", _H, c_int64, c_int64, _OUT_STR)
_declare("crm_client_restore", _H, c_int64, c_int64, _OUT_STR)
_declare("crm_client_delete", _H, c_int64, c_int64)
_declare("crm_client_assign", _H, c_int64, c_int64, c_int64, _OUT_STR)
_declare("crm_client_link_contact", _H, c_int64, c_int64, c_char_p)
_declare("crm_client_unlink_contact", _H, c_int64, c_int64)
_declare("crm_client_count", _H, c_char_p, c_uint64, POINTER(c_uint64), POINTER(c_int32))
_declare("crm_custom_field_list", _H, c_int32, _OUT_STR)
_declare("crm_custom_field_delete", _H, c_int32, c_int64)
_declare("crm_department_rename", _H, c_int64, c_char_p)
_declare("crm_department_move", _H, c_int64, c_int64)
_declare("crm_department_set_head", _H, c_int64, c_int64)
_declare("crm_department_delete", _H, c_int64)
_declare("crm_user_set_active", _H, c_int64, c_int32)
_declare("crm_user_set_admin", _H, c_int64, c_int32)
_declare("crm_user_move", _H, c_int64, c_int64, POINTER(c_uint64))
_declare("crm_role_create", _H, c_char_p, c_char_p, _OUT_STR)
_declare("crm_role_set_grants", _H, c_int64, c_char_p)
_declare("crm_role_delete", _H, c_int64)
_declare("crm_role_assign", _H, c_int64, c_char_p, POINTER(c_int64))
_declare("crm_role_unassign", _H, c_int64)
_declare("crm_forbid_add", _H, c_char_p, POINTER(c_int64))
_declare("crm_forbid_remove", _H, c_int64)
_declare("crm_access_explain", _H, c_int64, c_int32, c_int64, _OUT_STR)
_declare("crm_access_can", _H, c_int32, c_int64, POINTER(c_int32))


# ---- ABI 1.1 ----
_PROGRESS_FN = CFUNCTYPE(c_int32, c_void_p, c_uint64, c_uint64)  # crm_progress_fn
for _name in ("crm_pipeline_create", "crm_deal_create", "crm_deal_list", "crm_activity_create",
              "crm_funnel_report", "crm_funnel_report_svg", "crm_funnel_pivot",
              "crm_automation_rule_create", "crm_client_merge", "crm_activity_due_reminders",
              "crm_automation_run_due", "crm_backup_verify"):
    _declare(_name, _H, c_char_p, _OUT_STR)
for _name in ("crm_pipeline_get", "crm_deal_get", "crm_deal_history", "crm_activity_get",
              "crm_client_merge_undo"):
    _declare(_name, _H, c_int64, _OUT_STR)
for _name in ("crm_pipeline_list", "crm_automation_rule_list", "crm_report_time_zone_get"):
    _declare(_name, _H, _OUT_STR)
_declare("crm_pipeline_update", _H, c_int64, c_char_p, _OUT_STR)
_declare("crm_deal_update", _H, c_int64, c_int64, c_char_p, _OUT_STR)
_declare("crm_deal_move", _H, c_int64, c_int64, c_char_p, _OUT_STR)
_declare("crm_deal_assign", _H, c_int64, c_int64, c_int64, _OUT_STR)
_declare("crm_deal_delete", _H, c_int64, c_int64)
_declare("crm_deal_list_cursor", _H, c_char_p, POINTER(_H))
_declare("crm_activity_update", _H, c_int64, c_int64, c_char_p, _OUT_STR)
_declare("crm_activity_assign", _H, c_int64, c_int64, c_int64, _OUT_STR)
_declare("crm_activity_delete", _H, c_int64, c_int64)
_declare("crm_activity_overdue", _H, c_int64, c_char_p, _OUT_STR)
_declare("crm_client_timeline", _H, c_int64, c_char_p, _OUT_STR)
_declare("crm_client_timeline_cursor", _H, c_int64, c_char_p, POINTER(_H))
_declare("crm_report_time_zone_set", _H, c_char_p)
_declare("crm_exchange_rate_set", _H, c_char_p, c_char_p, c_char_p, c_char_p)
_declare("crm_exchange_rate_get", _H, c_char_p, c_char_p, c_char_p, _OUT_STR)
_declare("crm_automation_rule_set_active", _H, c_int64, c_int32)
_declare("crm_automation_rule_delete", _H, c_int64)
_declare("crm_import_file", _H, c_char_p, c_char_p, _PROGRESS_FN, c_void_p, _OUT_STR)
_declare("crm_import_buffer", _H, c_char_p, c_char_p, c_size_t, _PROGRESS_FN, c_void_p, _OUT_STR)
_declare("crm_export_file", _H, c_char_p, c_char_p, _PROGRESS_FN, c_void_p, POINTER(c_uint64))
_declare("crm_export_buffer", _H, c_char_p, _PROGRESS_FN, c_void_p, _OUT_STR, POINTER(c_size_t))
_declare("crm_backup_create", _H, c_char_p, _PROGRESS_FN, c_void_p)
_declare("crm_backup_restore", _H, c_char_p, c_char_p, _PROGRESS_FN, c_void_p, _OUT_STR)
_declare("crm_backup_rotate", _H, c_char_p, c_uint32, _PROGRESS_FN, c_void_p, _OUT_STR)
_declare("crm_outbox_events", _H, c_int64, c_char_p, c_uint32, _OUT_STR)
_declare("crm_outbox_head", _H, POINTER(c_int64))
_declare("crm_outbox_acked", _H, c_char_p, POINTER(c_int64))
_declare("crm_outbox_ack", _H, c_char_p, c_int64, POINTER(c_int64))
_declare("crm_outbox_prune", _H, POINTER(c_uint64))

# ---- ABI 1.2: the plugin host ----
_declare("crm_plugins_open", _H, c_char_p, POINTER(_H))
_declare("crm_plugins_close", _H, restype=None)
for _name in ("crm_plugins_list", "crm_plugins_statuses"):
    _declare(_name, _H, _OUT_STR)
for _name in ("crm_plugins_status", "crm_plugins_take_emitted"):
    _declare(_name, _H, c_char_p, _OUT_STR)
_declare("crm_plugins_enable", _H, c_char_p, c_char_p, _OUT_STR)
_declare("crm_plugins_disable", _H, c_char_p)
_declare("crm_plugins_call", _H, c_char_p, c_char_p, c_char_p, _OUT_STR)
_declare("crm_plugins_notify", _H)

if _lib.crm_abi_version() >> 16 != ABI_MAJOR:
    raise ImportError(f"libcrm ABI {_lib.crm_abi_version() >> 16}.x; this wrapper needs {ABI_MAJOR}.x")
if _lib.crm_abi_version() & 0xFFFF < ABI_MINOR:
    raise ImportError(f"libcrm ABI 1.{_lib.crm_abi_version() & 0xFFFF}; this wrapper needs 1.{ABI_MINOR}")


def _check(status: int) -> None:
    """Raises the exception for a non-OK status, with the thread's last error message."""
    if status != 0:
        message = _lib.crm_last_error_message().decode("utf-8", "replace")
        name = _lib.crm_status_name(status).decode()
        raise _EXCEPTIONS.get(status, CrmError)(status, name, message)


def _take_string(p: c_void_p) -> Optional[str]:
    """Copies a string the library returned, then frees it with crm_string_free."""
    if not p.value:
        return None
    try:
        return ctypes.string_at(p.value).decode("utf-8")
    finally:
        _lib.crm_string_free(p)


def _call_json(fn: Any, *args: Any) -> Any:
    """Calls a function whose last parameter is char **out_json and decodes the result."""
    out = c_void_p()
    _check(fn(*args, byref(out)))
    text = _take_string(out)
    return None if text is None else json.loads(text)


def _enc(doc: Any) -> bytes:
    return (doc if isinstance(doc, str) else json.dumps(doc)).encode("utf-8")


def _time(t: Optional[Time]) -> bytes:
    """An RFC 3339 timestamp for the C API; None is now."""
    if t is None:
        t = datetime.now(timezone.utc)
    if isinstance(t, datetime):
        if t.tzinfo is None:
            raise ValueError("naive datetime: give it a time zone")
        t = t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    return t.encode("utf-8")


class _Progress:
    """Adapts a Python progress callable to crm_progress_fn for the duration of one call."""

    def __init__(self, progress: Optional[Progress]):
        self.error: Optional[BaseException] = None
        self._fn = progress
        self.c = _PROGRESS_FN(self._call) if progress is not None else _PROGRESS_FN()

    def _call(self, _user_data: Any, done: int, total: int) -> int:
        try:
            return 0 if self._fn(done, total) is False else 1
        except BaseException as e:  # noqa: BLE001 -- re-raised after the call
            self.error = e
            return 0

    def check(self, status: int) -> None:
        if self.error is not None:
            raise self.error
        _check(status)


def version() -> str:
    """The library's version line (library, ABI, schema and SQLite versions)."""
    return _lib.crm_version().decode()


class _Handle:
    _free: Any = None

    def __init__(self, handle: c_void_p):
        self._h = handle

    def close(self) -> None:
        h, self._h = self._h, None
        if h is not None:
            type(self)._free(h)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may already be unloaded
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Database(_Handle):
    """An open database file (crm_db). Thread-safe."""

    _free = _lib.crm_db_close

    def __init__(self, path: str, **options: Any):
        h = c_void_p()
        opts = _enc(options) if options else None
        _check(_lib.crm_db_open(str(path).encode("utf-8"), opts, byref(h)))
        super().__init__(h)

    @property
    def path(self) -> str:
        out = c_void_p()
        _check(_lib.crm_db_path(self._h, byref(out)))
        return _take_string(out) or ""

    def system(self, reason: str) -> "Context":
        """The audited system context, for setup and maintenance."""
        h = c_void_p()
        _check(_lib.crm_ctx_new_system(self._h, reason.encode("utf-8"), byref(h)))
        return Context(h, self)

    def as_user(self, user_id: int) -> "Context":
        """A context acting as a user, bound by their roles."""
        h = c_void_p()
        _check(_lib.crm_ctx_new_user(self._h, user_id, byref(h)))
        return Context(h, self)

    def plugins(self, **config: Any) -> "PluginHost":
        """The plugin host of this database (ABI 1.2). Options: plugin_dir (without it loading
        is off), runner, poll_interval_ms, batch_size, retry_initial_ms, retry_max_ms,
        call_timeout_ms, stop_timeout_ms, log_lines, emitted_capacity."""
        return PluginHost(self, **config)


class PluginHost(_Handle):
    """The plugin host of one database (crm_plugins, ABI 1.2). Thread-safe. Closing it (or its
    database) disables every plugin it enabled."""

    _free = _lib.crm_plugins_close

    def __init__(self, db: Database, **config: Any):
        h = c_void_p()
        cfg = {k: str(v) if isinstance(v, Path) else v for k, v in config.items()}
        _check(_lib.crm_plugins_open(db._h, _enc(cfg) if cfg else None, byref(h)))
        super().__init__(h)
        self._db = db  # keep the database object alive at least as long

    def list(self) -> list:
        """Every installed plugin, checked without running its code: [{"id", "dir", "manifest",
        "valid", "error", "enabled"}]."""
        return _call_json(_lib.crm_plugins_list, self._h)

    def enable(self, plugin_id: str, user_id: Optional[int] = None, config: Optional[dict] = None,
               mode: Optional[str] = None, start_at_head: Optional[bool] = None) -> dict:
        """Enables a plugin acting as CRM user `user_id`; mode "in_process" (default) or
        "out_of_process". Returns its status."""
        options: dict = {}
        for key, value in (("user_id", user_id), ("config", config), ("mode", mode),
                           ("start_at_head", start_at_head)):
            if value is not None:
                options[key] = value
        return _call_json(_lib.crm_plugins_enable, self._h, plugin_id.encode("utf-8"),
                          _enc(options))

    def disable(self, plugin_id: str) -> None:
        _check(_lib.crm_plugins_disable(self._h, plugin_id.encode("utf-8")))

    def call(self, plugin_id: str, method: str, input: Any = None) -> Any:
        """Calls a method of an enabled plugin: JSON in (default {}), JSON out."""
        return _call_json(_lib.crm_plugins_call, self._h, plugin_id.encode("utf-8"),
                          method.encode("utf-8"), _enc({} if input is None else input))

    def status(self, plugin_id: str) -> dict:
        """Running state, event delivery (cursor, head, delivered, failures...), recent log."""
        return _call_json(_lib.crm_plugins_status, self._h, plugin_id.encode("utf-8"))

    def statuses(self) -> list:
        return _call_json(_lib.crm_plugins_statuses, self._h)

    def take_emitted(self, plugin_id: str) -> list:
        return _call_json(_lib.crm_plugins_take_emitted, self._h, plugin_id.encode("utf-8"))

    def notify(self) -> None:
        """Wakes the delivery threads to look for new events now."""
        _check(_lib.crm_plugins_notify(self._h))


class Cursor(_Handle):
    """Pages of a list (crm_cursor); iterate it to get one list of records per page."""

    _free = _lib.crm_cursor_free

    def __init__(self, handle: c_void_p, ctx: "Context"):
        super().__init__(handle)
        self._ctx = ctx

    def __iter__(self) -> Iterator[list]:
        while True:
            page = _call_json(_lib.crm_cursor_next, self._h)
            if page is None:
                return
            yield page


class Context(_Handle):
    """An acting context (crm_ctx). Every data call goes through one."""

    _free = _lib.crm_ctx_free

    def __init__(self, handle: c_void_p, db: Database):
        super().__init__(handle)
        self._db = db  # keep the database object alive at least as long

    def actor(self) -> dict:
        return _call_json(_lib.crm_ctx_actor, self._h)

    # ---- organisation ----
    def create_department(self, name: str, parent_id: Optional[int] = None) -> dict:
        return _call_json(_lib.crm_department_create, self._h, _enc({"name": name, "parent_id": parent_id}))

    def rename_department(self, department_id: int, name: str) -> None:
        _check(_lib.crm_department_rename(self._h, department_id, name.encode("utf-8")))

    def move_department(self, department_id: int, new_parent_id: int = NO_ID) -> None:
        _check(_lib.crm_department_move(self._h, department_id, new_parent_id))

    def set_department_head(self, department_id: int, user_id: int = NO_ID) -> None:
        _check(_lib.crm_department_set_head(self._h, department_id, user_id))

    def delete_department(self, department_id: int) -> None:
        _check(_lib.crm_department_delete(self._h, department_id))

    def departments(self) -> list:
        return _call_json(_lib.crm_department_list, self._h)

    def create_user(self, name: str, email: str, department_id: int, admin: bool = False) -> dict:
        doc = {"name": name, "email": email, "department_id": department_id, "admin": admin}
        return _call_json(_lib.crm_user_create, self._h, _enc(doc))

    def user(self, user_id: int) -> dict:
        return _call_json(_lib.crm_user_get, self._h, user_id)

    def users(self) -> list:
        return _call_json(_lib.crm_user_list, self._h)

    def set_user_active(self, user_id: int, active: bool) -> None:
        _check(_lib.crm_user_set_active(self._h, user_id, int(active)))

    def set_user_admin(self, user_id: int, admin: bool) -> None:
        _check(_lib.crm_user_set_admin(self._h, user_id, int(admin)))

    def move_user(self, user_id: int, department_id: int) -> int:
        n = c_uint64()
        _check(_lib.crm_user_move(self._h, user_id, department_id, byref(n)))
        return n.value

    def create_role(self, name: str, grants: list) -> dict:
        return _call_json(_lib.crm_role_create, self._h, name.encode("utf-8"), _enc(grants))

    def set_role_grants(self, role_id: int, grants: list) -> None:
        _check(_lib.crm_role_set_grants(self._h, role_id, _enc(grants)))

    def delete_role(self, role_id: int) -> None:
        _check(_lib.crm_role_delete(self._h, role_id))

    def roles(self) -> list:
        return _call_json(_lib.crm_role_list, self._h)

    def assign_role(self, role_id: int, subject: dict) -> int:
        out = c_int64()
        _check(_lib.crm_role_assign(self._h, role_id, _enc(subject), byref(out)))
        return out.value

    def unassign_role(self, assignment_id: int) -> None:
        _check(_lib.crm_role_unassign(self._h, assignment_id))

    def role_assignments(self) -> list:
        return _call_json(_lib.crm_role_assignment_list, self._h)

    def add_forbid(self, rule: dict) -> int:
        out = c_int64()
        _check(_lib.crm_forbid_add(self._h, _enc(rule), byref(out)))
        return out.value

    def remove_forbid(self, forbid_id: int) -> None:
        _check(_lib.crm_forbid_remove(self._h, forbid_id))

    def forbids(self) -> list:
        return _call_json(_lib.crm_forbid_list, self._h)

    def define_custom_field(self, field: dict) -> dict:
        return _call_json(_lib.crm_custom_field_define, self._h, _enc(field))

    def custom_fields(self, entity: int = ENTITY_CLIENT) -> list:
        return _call_json(_lib.crm_custom_field_list, self._h, entity)

    def delete_custom_field(self, field_id: int, entity: int = ENTITY_CLIENT) -> None:
        _check(_lib.crm_custom_field_delete(self._h, entity, field_id))

    # ---- clients ----
    def create_client(self, client: dict) -> dict:
        return _call_json(_lib.crm_client_create, self._h, _enc(client))

    def create_clients(self, clients: list) -> list:
        return _call_json(_lib.crm_client_create_batch, self._h, _enc(clients))

    def client(self, client_id: int) -> dict:
        return _call_json(_lib.crm_client_get, self._h, client_id)

    def update_client(self, client_id: int, expected_version: int, changes: dict) -> dict:
        return _call_json(_lib.crm_client_update, self._h, client_id, expected_version, _enc(changes))

    def archive_client(self, client_id: int, expected_version: int) -> dict:
        return _call_json(_lib.crm_client_archive, self._h, client_id, expected_version)

    def restore_client(self, client_id: int, expected_version: int) -> dict:
        return _call_json(_lib.crm_client_restore, self._h, client_id, expected_version)

    def delete_client(self, client_id: int, expected_version: int) -> None:
        _check(_lib.crm_client_delete(self._h, client_id, expected_version))

    def assign_client(self, client_id: int, expected_version: int, owner_id: int) -> dict:
        return _call_json(_lib.crm_client_assign, self._h, client_id, expected_version, owner_id)

    def link_contact(self, organization_id: int, person_id: int, position: Optional[str] = None) -> None:
        pos = position.encode("utf-8") if position is not None else None
        _check(_lib.crm_client_link_contact(self._h, organization_id, person_id, pos))

    def unlink_contact(self, organization_id: int, person_id: int) -> None:
        _check(_lib.crm_client_unlink_contact(self._h, organization_id, person_id))

    def contacts(self, organization_id: int) -> list:
        return _call_json(_lib.crm_client_contacts, self._h, organization_id)

    def organizations(self, person_id: int) -> list:
        return _call_json(_lib.crm_client_organizations, self._h, person_id)

    def list_clients(self, **query: Any) -> dict:
        """One page: {"items": [...], "next": cursor or None}."""
        return _call_json(_lib.crm_client_list, self._h, _enc(query))

    def count_clients(self, cap: int = 10_000, **query: Any) -> tuple:
        """(count, exact)."""
        n, exact = c_uint64(), c_int32()
        _check(_lib.crm_client_count(self._h, _enc(query), cap, byref(n), byref(exact)))
        return n.value, bool(exact.value)

    def search_clients(self, text: str, **query: Any) -> dict:
        return _call_json(_lib.crm_client_search, self._h, _enc({"text": text, **query}))

    def duplicates_of(self, client_id: int) -> list:
        return _call_json(_lib.crm_client_duplicates, self._h, client_id)

    def find_duplicates(self, client: dict) -> list:
        return _call_json(_lib.crm_client_find_duplicates, self._h, _enc(client))

    def iter_clients(self, **query: Any) -> Cursor:
        h = c_void_p()
        _check(_lib.crm_client_list_cursor(self._h, _enc(query), byref(h)))
        return Cursor(h, self)

    def iter_search(self, text: str, **query: Any) -> Cursor:
        h = c_void_p()
        _check(_lib.crm_client_search_cursor(self._h, _enc({"text": text, **query}), byref(h)))
        return Cursor(h, self)

    # ---- access and audit ----
    def explain(self, user_id: int, action: int, client_id: int) -> dict:
        return _call_json(_lib.crm_access_explain, self._h, user_id, action, client_id)

    def can(self, action: int, client_id: int) -> bool:
        out = c_int32()
        _check(_lib.crm_access_can(self._h, action, client_id, byref(out)))
        return bool(out.value)

    def verify_audit(self) -> dict:
        return _call_json(_lib.crm_audit_verify, self._h)

    def audit_entries(self, **query: Any) -> list:
        return _call_json(_lib.crm_audit_entries, self._h, _enc(query))

    def iter_audit(self, **query: Any) -> Cursor:
        h = c_void_p()
        _check(_lib.crm_audit_entries_cursor(self._h, _enc(query), byref(h)))
        return Cursor(h, self)

    # ---- pipelines and deals (ABI 1.1) ----
    def create_pipeline(self, name: str, stages: list) -> dict:
        return _call_json(_lib.crm_pipeline_create, self._h, _enc({"name": name, "stages": stages}))

    def update_pipeline(self, pipeline_id: int, update: dict) -> dict:
        return _call_json(_lib.crm_pipeline_update, self._h, pipeline_id, _enc(update))

    def pipeline(self, pipeline_id: int) -> dict:
        return _call_json(_lib.crm_pipeline_get, self._h, pipeline_id)

    def pipelines(self) -> list:
        return _call_json(_lib.crm_pipeline_list, self._h)

    def create_deal(self, deal: dict) -> dict:
        return _call_json(_lib.crm_deal_create, self._h, _enc(deal))

    def deal(self, deal_id: int) -> dict:
        return _call_json(_lib.crm_deal_get, self._h, deal_id)

    def update_deal(self, deal_id: int, expected_version: int, changes: dict) -> dict:
        return _call_json(_lib.crm_deal_update, self._h, deal_id, expected_version, _enc(changes))

    def move_deal(self, deal_id: int, expected_version: int, stage_id: int,
                  lost_reason: Optional[str] = None, at: Optional[Time] = None) -> dict:
        move: dict = {"stage_id": stage_id}
        if lost_reason is not None:
            move["lost_reason"] = lost_reason
        if at is not None:
            move["at"] = _time(at).decode()
        return _call_json(_lib.crm_deal_move, self._h, deal_id, expected_version, _enc(move))

    def assign_deal(self, deal_id: int, expected_version: int, owner_id: int) -> dict:
        return _call_json(_lib.crm_deal_assign, self._h, deal_id, expected_version, owner_id)

    def delete_deal(self, deal_id: int, expected_version: int) -> None:
        _check(_lib.crm_deal_delete(self._h, deal_id, expected_version))

    def list_deals(self, **query: Any) -> dict:
        """One page: {"items": [...], "next": cursor or None}, newest first."""
        return _call_json(_lib.crm_deal_list, self._h, _enc(query))

    def iter_deals(self, **query: Any) -> Cursor:
        h = c_void_p()
        _check(_lib.crm_deal_list_cursor(self._h, _enc(query), byref(h)))
        return Cursor(h, self)

    def deal_history(self, deal_id: int) -> list:
        return _call_json(_lib.crm_deal_history, self._h, deal_id)

    # ---- activities and the timeline (ABI 1.1) ----
    def create_activity(self, activity: dict) -> dict:
        return _call_json(_lib.crm_activity_create, self._h, _enc(activity))

    def activity(self, activity_id: int) -> dict:
        return _call_json(_lib.crm_activity_get, self._h, activity_id)

    def update_activity(self, activity_id: int, expected_version: int, changes: dict) -> dict:
        return _call_json(_lib.crm_activity_update, self._h, activity_id, expected_version, _enc(changes))

    def assign_activity(self, activity_id: int, expected_version: int, assignee_id: int) -> dict:
        return _call_json(_lib.crm_activity_assign, self._h, activity_id, expected_version, assignee_id)

    def delete_activity(self, activity_id: int, expected_version: int) -> None:
        _check(_lib.crm_activity_delete(self._h, activity_id, expected_version))

    def due_reminders(self, now: Optional[Time] = None) -> list:
        return _call_json(_lib.crm_activity_due_reminders, self._h, _time(now))

    def overdue_activities(self, user_id: int, now: Optional[Time] = None) -> list:
        return _call_json(_lib.crm_activity_overdue, self._h, user_id, _time(now))

    def timeline(self, client_id: int, **query: Any) -> dict:
        return _call_json(_lib.crm_client_timeline, self._h, client_id, _enc(query))

    def iter_timeline(self, client_id: int, **query: Any) -> Cursor:
        h = c_void_p()
        _check(_lib.crm_client_timeline_cursor(self._h, client_id, _enc(query), byref(h)))
        return Cursor(h, self)

    # ---- reports and settings (ABI 1.1) ----
    @staticmethod
    def _funnel_query(pipeline_id: int, from_date: str, to_date: str, options: dict) -> bytes:
        return _enc({"pipeline_id": pipeline_id, "from": from_date, "to": to_date, **options})

    def funnel_report(self, pipeline_id: int, from_date: str, to_date: str, **options: Any) -> dict:
        """The funnel of a pipeline over [from_date, to_date) ("YYYY-MM-DD"); options: grouping,
        time_zone, owner_id, department_id, reporting_currency, rate_date."""
        q = self._funnel_query(pipeline_id, from_date, to_date, options)
        return _call_json(_lib.crm_funnel_report, self._h, q)

    def funnel_report_svg(self, pipeline_id: int, from_date: str, to_date: str, **options: Any) -> str:
        """The chart of open deals per stage as an SVG document."""
        out = c_void_p()
        q = self._funnel_query(pipeline_id, from_date, to_date, options)
        _check(_lib.crm_funnel_report_svg(self._h, q, byref(out)))
        return _take_string(out) or ""

    def funnel_pivot(self, pipeline_id: int, from_date: str, to_date: str, **options: Any) -> list:
        q = self._funnel_query(pipeline_id, from_date, to_date, options)
        return _call_json(_lib.crm_funnel_pivot, self._h, q)

    def report_time_zone(self) -> str:
        out = c_void_p()
        _check(_lib.crm_report_time_zone_get(self._h, byref(out)))
        return _take_string(out) or ""

    def set_report_time_zone(self, tz: str) -> None:
        _check(_lib.crm_report_time_zone_set(self._h, tz.encode("utf-8")))

    def set_exchange_rate(self, currency: str, quote: str, day: str, rate: str) -> None:
        """One `currency` is worth `rate` (a decimal string such as "1.0845") `quote` from `day`."""
        _check(_lib.crm_exchange_rate_set(self._h, currency.encode(), quote.encode(), day.encode(),
                                          str(rate).encode()))

    def exchange_rate(self, currency: str, quote: str, day: str) -> Optional[str]:
        out = c_void_p()
        _check(_lib.crm_exchange_rate_get(self._h, currency.encode(), quote.encode(), day.encode(),
                                          byref(out)))
        return _take_string(out)

    # ---- automation (ABI 1.1) ----
    def create_automation_rule(self, rule: dict) -> dict:
        return _call_json(_lib.crm_automation_rule_create, self._h, _enc(rule))

    def automation_rules(self) -> list:
        return _call_json(_lib.crm_automation_rule_list, self._h)

    def set_automation_rule_active(self, rule_id: int, active: bool) -> None:
        _check(_lib.crm_automation_rule_set_active(self._h, rule_id, int(active)))

    def delete_automation_rule(self, rule_id: int) -> None:
        _check(_lib.crm_automation_rule_delete(self._h, rule_id))

    def run_due(self, now: Optional[Time] = None) -> dict:
        return _call_json(_lib.crm_automation_run_due, self._h, _time(now))

    # ---- import and export (ABI 1.1) ----
    def import_file(self, spec: dict, path: Union[str, Path], progress: Optional[Progress] = None) -> dict:
        """Imports a CSV or JSON-lines file; returns the report (rows, created, errors, ...)."""
        p, out = _Progress(progress), c_void_p()
        p.check(_lib.crm_import_file(self._h, _enc(spec), str(path).encode("utf-8"), p.c, None, byref(out)))
        return json.loads(_take_string(out) or "null")

    def import_bytes(self, spec: dict, data: bytes, progress: Optional[Progress] = None) -> dict:
        p, out = _Progress(progress), c_void_p()
        p.check(_lib.crm_import_buffer(self._h, _enc(spec), data, len(data), p.c, None, byref(out)))
        return json.loads(_take_string(out) or "null")

    def export_file(self, spec: dict, path: Union[str, Path], progress: Optional[Progress] = None) -> int:
        """Exports to a file (complete or not at all); returns the number of records."""
        p, n = _Progress(progress), c_uint64()
        p.check(_lib.crm_export_file(self._h, _enc(spec), str(path).encode("utf-8"), p.c, None, byref(n)))
        return n.value

    def export_text(self, spec: dict, progress: Optional[Progress] = None) -> str:
        p, out, n = _Progress(progress), c_void_p(), c_size_t()
        p.check(_lib.crm_export_buffer(self._h, _enc(spec), p.c, None, byref(out), byref(n)))
        if not out.value:
            return ""
        try:
            return ctypes.string_at(out.value, n.value).decode("utf-8")
        finally:
            _lib.crm_string_free(out)

    # ---- merge (ABI 1.1) ----
    def merge_clients(self, survivor_id: int, duplicate_id: int, choices: Optional[dict] = None) -> dict:
        req = {"survivor_id": survivor_id, "duplicate_id": duplicate_id, "choices": choices or {}}
        return _call_json(_lib.crm_client_merge, self._h, _enc(req))

    def undo_merge(self, merge_id: int) -> dict:
        return _call_json(_lib.crm_client_merge_undo, self._h, merge_id)

    # ---- backups (ABI 1.1) ----
    def backup(self, path: Union[str, Path], progress: Optional[Progress] = None) -> None:
        p = _Progress(progress)
        p.check(_lib.crm_backup_create(self._h, str(path).encode("utf-8"), p.c, None))

    def verify_backup(self, path: Union[str, Path]) -> dict:
        return _call_json(_lib.crm_backup_verify, self._h, str(path).encode("utf-8"))

    def restore(self, path: Union[str, Path], new_file: Optional[Union[str, Path]] = None,
                progress: Optional[Progress] = None) -> Optional[str]:
        """Restores into `new_file`, or over the open database (returns the safety copy's path)."""
        target = {"kind": "new_file", "path": str(new_file)} if new_file else {"kind": "current"}
        p, out = _Progress(progress), c_void_p()
        p.check(_lib.crm_backup_restore(self._h, str(path).encode("utf-8"), _enc(target), p.c, None,
                                        byref(out)))
        return json.loads(_take_string(out) or "{}").get("safety_copy")

    def backup_rotate(self, directory: Union[str, Path], keep: int,
                      progress: Optional[Progress] = None) -> str:
        p, out = _Progress(progress), c_void_p()
        p.check(_lib.crm_backup_rotate(self._h, str(directory).encode("utf-8"), keep, p.c, None,
                                       byref(out)))
        return _take_string(out) or ""

    # ---- outbox (ABI 1.1) ----
    def outbox_events(self, after: int = 0, types: Optional[list] = None, limit: int = 100) -> list:
        return _call_json(_lib.crm_outbox_events, self._h, after, _enc(list(types or [])), limit)

    def outbox_head(self) -> int:
        out = c_int64()
        _check(_lib.crm_outbox_head(self._h, byref(out)))
        return out.value

    def outbox_acked(self, consumer: str) -> int:
        out = c_int64()
        _check(_lib.crm_outbox_acked(self._h, consumer.encode("utf-8"), byref(out)))
        return out.value

    def outbox_ack(self, consumer: str, event_id: int) -> int:
        out = c_int64()
        _check(_lib.crm_outbox_ack(self._h, consumer.encode("utf-8"), event_id, byref(out)))
        return out.value

    def outbox_prune(self) -> int:
        out = c_uint64()
        _check(_lib.crm_outbox_prune(self._h, byref(out)))
        return out.value
