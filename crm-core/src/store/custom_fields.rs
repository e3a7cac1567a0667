//! SQL for custom field definitions.

use super::json_column;
use crate::access::EntityType;
use crate::error::{CrmError, Result};
use crate::ids::CustomFieldId;
use crate::model::{CustomField, CustomFieldType, NewCustomField};
use rusqlite::{params, Connection};

fn type_name(t: CustomFieldType) -> &'static str {
    match t {
        CustomFieldType::Text => "text",
        CustomFieldType::Number => "number",
        CustomFieldType::Money => "money",
        CustomFieldType::Date => "date",
        CustomFieldType::Bool => "bool",
        CustomFieldType::Enum => "enum",
    }
}

fn parse_type(s: &str) -> Option<CustomFieldType> {
    [
        CustomFieldType::Text,
        CustomFieldType::Number,
        CustomFieldType::Money,
        CustomFieldType::Date,
        CustomFieldType::Bool,
        CustomFieldType::Enum,
    ]
    .into_iter()
    .find(|t| type_name(*t) == s)
}

/// The custom fields of an entity type, by key.
pub fn list(c: &Connection, entity: EntityType) -> Result<Vec<CustomField>> {
    let mut st = c.prepare_cached(
        "SELECT id, key, label, field_type, options, required FROM custom_fields WHERE entity = ? ORDER BY key",
    )?;
    let rows = st.query_map([entity.as_str()], |r| {
        Ok((
            r.get::<_, CustomFieldId>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, bool>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, key, label, ty, options, required) = row?;
        let what = || format!("custom_fields {id}");
        out.push(CustomField {
            id,
            entity,
            key,
            label,
            field_type: parse_type(&ty).ok_or_else(|| CrmError::Corrupt {
                what: what(),
                message: format!("unknown field type {ty:?}"),
            })?,
            options: json_column(&options, what)?,
            required,
        });
    }
    Ok(out)
}

/// Inserts a definition (the caller validated it and checked the key is free).
pub fn insert(c: &Connection, f: &NewCustomField) -> Result<CustomFieldId> {
    let options = serde_json::to_string(&f.options)
        .map_err(|e| CrmError::invalid("options", e.to_string()))?;
    c.execute(
        "INSERT INTO custom_fields (entity, key, label, field_type, options, required) VALUES (?, ?, ?, ?, ?, ?)",
        params![f.entity.as_str(), f.key, f.label.trim(), type_name(f.field_type), options, f.required],
    )?;
    Ok(CustomFieldId(c.last_insert_rowid()))
}

/// The table whose rows carry custom values of `entity`; `None` for entity types without
/// custom fields.
pub fn table_of(entity: EntityType) -> Option<&'static str> {
    match entity {
        EntityType::Client => Some("clients"),
        EntityType::Deal => Some("deals"),
        EntityType::Activity => None,
    }
}

/// Deletes a definition and strips its values from every record of `table`.
pub fn delete(c: &Connection, table: &'static str, id: CustomFieldId, key: &str) -> Result<()> {
    c.execute(
        &format!(
            "UPDATE {table} SET custom = json_remove(custom, ?1), version = version + 1
             WHERE json_type(custom, ?1) IS NOT NULL"
        ),
        [format!("$.{key}")],
    )?;
    c.execute("DELETE FROM custom_fields WHERE id = ?", [id])?;
    Ok(())
}

/// Number of rows of `table` (a required field may only be added while it is empty).
pub fn record_count(c: &Connection, table: &'static str) -> Result<i64> {
    Ok(c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
}
