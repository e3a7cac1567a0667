//! Typed ids: a `ClientId` cannot be passed where a `UserId` is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.0.into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                i64::column_result(value).map($name)
            }
        }
    };
}

typed_id!(
    /// A user of the CRM (a manager, an administrator, a connector's service user).
    UserId
);
typed_id!(
    /// A node of the department tree.
    DepartmentId
);
typed_id!(
    /// A role: a named set of grants.
    RoleId
);
typed_id!(
    /// One assignment of a role to a user, a department or the head of a department.
    RoleAssignmentId
);
typed_id!(
    /// A forbid rule.
    ForbidId
);
typed_id!(
    /// A client: an organisation or a person.
    ClientId
);
typed_id!(
    /// An admin-defined custom field.
    CustomFieldId
);
typed_id!(
    /// An entry of the audit log.
    AuditId
);
typed_id!(
    /// A pipeline (sales funnel).
    PipelineId
);
typed_id!(
    /// A stage of a pipeline.
    StageId
);
typed_id!(
    /// A deal.
    DealId
);
typed_id!(
    /// An activity: task, call, meeting, e-mail or note.
    ActivityId
);
typed_id!(
    /// An automation rule.
    RuleId
);
