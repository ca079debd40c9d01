//! The little both engines share: statement parameters, result rows and a
//! transaction handle that runs the same SQL text on SQLite or PostgreSQL.
//!
//! Statements are written once with PostgreSQL's `$n` placeholders; SQLite reads
//! them as `?n`. Only four column types are used anywhere (BIGINT, TEXT, BYTEA /
//! BLOB and NULL), so a row is a vector of [`Value`]s. Where the engines really
//! differ (bulk ingest, row locks), a domain asks [`Tx::engine`] and writes each.

use std::collections::HashMap;

use super::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
pub enum Param<'a> {
    I64(i64),
    Text(&'a str),
    Bytes(&'a [u8]),
    Null,
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Self::I64(v)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Self::Text(v)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Self::Text(v)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Self::Bytes(v)
    }
}

impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Self::Bytes(v)
    }
}

impl<'a, T: Into<Param<'a>>> From<Option<T>> for Param<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// Sequence numbers are u64 on the wire and BIGINT in the store: they never
/// reach 2^63 (a site would need 3 billion events a second for a century).
pub fn seq_param(seq: u64) -> Param<'static> {
    Param::I64(i64::try_from(seq).unwrap_or(i64::MAX))
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match *self {
            Self::I64(v) => ToSqlOutput::Borrowed(ValueRef::Integer(v)),
            Self::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Self::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Self::Null => ToSqlOutput::Borrowed(ValueRef::Null),
        })
    }
}

impl postgres::types::ToSql for Param<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        // Checked per value: `accepts` below cannot know which variant it holds.
        match *self {
            Self::I64(v) => v.to_sql_checked(ty, out),
            Self::Text(s) => s.to_sql_checked(ty, out),
            Self::Bytes(b) => b.to_sql_checked(ty, out),
            Self::Null => Ok(postgres::types::IsNull::Yes),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// A column value as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    I64(i64),
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> Result<&Value, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("row has no column {i}")))
    }

    pub fn i64(&self, i: usize) -> Result<i64, StoreError> {
        match self.at(i)? {
            Value::I64(v) => Ok(*v),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected an integer, got {other:?}"
            ))),
        }
    }

    pub fn opt_i64(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.i64(i).map(Some),
        }
    }

    /// A sequence number or counter: never negative in the store.
    pub fn u64(&self, i: usize) -> Result<u64, StoreError> {
        let v = self.i64(i)?;
        u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {i}: negative {v}")))
    }

    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        match self.at(i)? {
            Value::Text(s) => Ok(s.clone()),
            other => Err(StoreError::Corrupt(format!("column {i}: expected text, got {other:?}"))),
        }
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.at(i)? {
            Value::Null => Ok(None),
            _ => self.text(i).map(Some),
        }
    }

    pub fn bytes(&self, i: usize) -> Result<&[u8], StoreError> {
        match self.at(i)? {
            Value::Bytes(b) => Ok(b),
            other => Err(StoreError::Corrupt(format!(
                "column {i}: expected bytes, got {other:?}"
            ))),
        }
    }
}

/// `$1` -> `?1`: SQLite's numbered parameters, so one SQL text serves both.
pub fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// A transaction on either engine. Dropped without [`commit`](Self::commit) it
/// rolls back.
pub enum Tx<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    Postgres {
        tx: postgres::Transaction<'a>,
        statements: &'a mut HashMap<String, postgres::Statement>,
    },
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tx({:?})", self.engine())
    }
}

impl Tx<'_> {
    pub fn engine(&self) -> Engine {
        match self {
            Self::Sqlite(_) => Engine::Sqlite,
            Self::Postgres { .. } => Engine::Postgres,
        }
    }

    /// Runs a statement; returns the rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, StoreError> {
        match self {
            Self::Sqlite(tx) => {
                let mut stmt = tx.prepare_cached(&sqlite_placeholders(sql))?;
                Ok(stmt.execute(rusqlite::params_from_iter(params.iter()))? as u64)
            }
            Self::Postgres { tx, statements } => {
                let stmt = pg_statement(tx, statements, sql)?;
                Ok(tx.execute(&stmt, &pg_params(params))?)
            }
        }
    }

    pub fn query(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, StoreError> {
        match self {
            Self::Sqlite(tx) => {
                let mut stmt = tx.prepare_cached(&sqlite_placeholders(sql))?;
                let columns = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(sqlite_row(row, columns)?);
                }
                Ok(out)
            }
            Self::Postgres { tx, statements } => {
                let stmt = pg_statement(tx, statements, sql)?;
                tx.query(&stmt, &pg_params(params))?.iter().map(pg_row).collect()
            }
        }
    }

    pub fn query_opt(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Statements without parameters or results, several at once (migrations).
    pub fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(tx) => tx.execute_batch(sql)?,
            Self::Postgres { tx, .. } => tx.batch_execute(sql)?,
        }
        Ok(())
    }

    pub fn commit(self) -> Result<(), StoreError> {
        match self {
            Self::Sqlite(tx) => tx.commit()?,
            Self::Postgres { tx, .. } => tx.commit()?,
        }
        Ok(())
    }
}

fn pg_statement(
    tx: &mut postgres::Transaction<'_>,
    statements: &mut HashMap<String, postgres::Statement>,
    sql: &str,
) -> Result<postgres::Statement, StoreError> {
    if let Some(s) = statements.get(sql) {
        return Ok(s.clone());
    }
    let s = tx.prepare(sql)?;
    statements.insert(sql.to_string(), s.clone());
    Ok(s)
}

fn pg_params<'p>(params: &'p [Param<'_>]) -> Vec<&'p (dyn postgres::types::ToSql + Sync)> {
    params
        .iter()
        .map(|p| p as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

fn sqlite_row(row: &rusqlite::Row<'_>, columns: usize) -> Result<Row, StoreError> {
    use rusqlite::types::ValueRef;
    let mut out = Vec::with_capacity(columns);
    for i in 0..columns {
        out.push(match row.get_ref(i)? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(v) => Value::I64(v),
            ValueRef::Real(v) => Value::I64(v as i64),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
        });
    }
    Ok(Row(out))
}

fn pg_row(row: &postgres::Row) -> Result<Row, StoreError> {
    use postgres::types::Type;
    let mut out = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let v = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)?.map(Value::I64)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)?.map(|v| Value::I64(v.into()))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)?.map(|v| Value::I64(v.into()))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)?.map(|v| Value::I64(v.into()))
        } else if *ty == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Bytes)
        } else if *ty == Type::NUMERIC {
            return Err(StoreError::Corrupt(format!(
                "column {} is NUMERIC: cast it to BIGINT in the query",
                column.name()
            )));
        } else {
            row.try_get::<_, Option<String>>(i)?.map(Value::Text)
        };
        out.push(v.unwrap_or(Value::Null));
    }
    Ok(Row(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_sqlite_numbered_parameters() {
        assert_eq!(
            sqlite_placeholders("SELECT a FROM t WHERE b = $2 AND c = $10 AND d = '$'"),
            "SELECT a FROM t WHERE b = ?2 AND c = ?10 AND d = '$'"
        );
    }
}
