//! Defining custom fields (administrators) and reading their definitions (everyone).

use crate::access::EntityType;
use crate::crm::Crm;
use crate::error::{CrmError, Result};
use crate::ids::CustomFieldId;
use crate::model::{CustomField, NewCustomField};
use crate::store::custom_fields;
use crate::Ctx;
use serde_json::json;

impl Crm {
    /// Defines a custom field. Keys are unique per entity type. A required field can only be
    /// defined while the entity type has no records, so no stored record breaks it.
    pub fn define_custom_field(&self, ctx: &Ctx, new: &NewCustomField) -> Result<CustomField> {
        self.write(ctx, |cx| {
            cx.require_admin("define_custom_field")?;
            new.validate()?;
            let table = custom_fields::table_of(new.entity).ok_or_else(|| {
                CrmError::invalid(
                    "entity",
                    format!("{} records have no custom fields", new.entity),
                )
            })?;
            let existing = custom_fields::list(cx.tx, new.entity)?;
            if existing.iter().any(|f| f.key == new.key) {
                return Err(CrmError::invalid(
                    "key",
                    format!("{:?} is already defined for {}", new.key, new.entity),
                ));
            }
            if new.required && custom_fields::record_count(cx.tx, table)? > 0 {
                return Err(CrmError::invalid(
                    "required",
                    "a required field can only be added before any record exists",
                ));
            }
            let id = custom_fields::insert(cx.tx, new)?;
            cx.audit(
                "custom_field.create",
                "custom_field",
                Some(id.0),
                &json!({"field": [null, new]}),
            )?;
            custom_fields::list(cx.tx, new.entity)?
                .into_iter()
                .find(|f| f.id == id)
                .ok_or(CrmError::NotFound {
                    entity: "custom_field",
                    id: id.0,
                })
        })
    }

    /// The custom fields of an entity type, by key.
    pub fn custom_fields(&self, ctx: &Ctx, entity: EntityType) -> Result<Vec<CustomField>> {
        self.read(ctx, |c, _| custom_fields::list(c, entity))
    }

    /// Deletes a custom field and removes its values from every record, in one transaction.
    pub fn delete_custom_field(
        &self,
        ctx: &Ctx,
        entity: EntityType,
        id: CustomFieldId,
    ) -> Result<()> {
        self.write(ctx, |cx| {
            cx.require_admin("delete_custom_field")?;
            let field = custom_fields::list(cx.tx, entity)?
                .into_iter()
                .find(|f| f.id == id)
                .ok_or(CrmError::NotFound {
                    entity: "custom_field",
                    id: id.0,
                })?;
            let table = custom_fields::table_of(entity).ok_or(CrmError::NotFound {
                entity: "custom_field",
                id: id.0,
            })?;
            custom_fields::delete(cx.tx, table, id, &field.key)?;
            cx.audit(
                "custom_field.delete",
                "custom_field",
                Some(id.0),
                &json!({"field": [field, null]}),
            )
        })
    }
}
