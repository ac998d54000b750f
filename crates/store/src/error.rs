//! Storage errors as kinds, the same on SQLite and PostgreSQL.

/// What went wrong, as a kind the caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (same id, same idempotency key…).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database cannot be reached or is overloaded; try again.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The request to the store was malformed (bad URL, …).
    #[error("{0}")]
    Invalid(String),
    /// Stored data could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &e {
            E::RowNotFound => StoreError::NotFound("row".into()),
            E::Database(db) => match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => StoreError::Conflict(db.to_string()),
                sqlx::error::ErrorKind::ForeignKeyViolation
                | sqlx::error::ErrorKind::NotNullViolation
                | sqlx::error::ErrorKind::CheckViolation => StoreError::Invalid(db.to_string()),
                _ => StoreError::Unavailable(db.to_string()),
            },
            E::ColumnDecode { .. }
            | E::Decode(_)
            | E::ColumnNotFound(_)
            | E::TypeNotFound { .. } => StoreError::Corrupt(e.to_string()),
            E::Configuration(_) => StoreError::Invalid(e.to_string()),
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
}
