//! Export of audit events as JSON lines or CSV, with a stable column order.

use crate::store::audit::AuditRow;
use chrono::SecondsFormat;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

pub const CSV_HEADER: &str =
    "seq,at,actor,action,target,team,outcome,justification,ip,user_agent,request_id,details,prev_hash,hash";

/// A time bound given as RFC 3339 (`2026-11-23T10:00:00Z`) or a date (`2026-11-23`,
/// meaning its start in UTC).
pub fn parse_time_bound(raw: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let raw = raw.trim();
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

/// Rows in the chosen format (CSV without its header).
pub fn write_rows(
    out: &mut impl Write,
    format: ExportFormat,
    rows: &[AuditRow],
) -> std::io::Result<()> {
    match format {
        ExportFormat::Jsonl => write_jsonl(out, rows),
        ExportFormat::Csv => write_csv(out, rows),
    }
}

/// One event as exported and as served by the API.
pub fn to_json(row: &AuditRow) -> serde_json::Value {
    serde_json::json!({
        "seq": row.seq,
        "at": row.at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "team": row.team,
        "outcome": row.outcome,
        "justification": row.justification,
        "ip": row.ip,
        "user_agent": row.user_agent,
        "request_id": row.request_id,
        "details": serde_json::from_str::<serde_json::Value>(&row.details).unwrap_or(serde_json::Value::Null),
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    })
}

pub fn write_jsonl(out: &mut impl Write, rows: &[AuditRow]) -> std::io::Result<()> {
    for row in rows {
        serde_json::to_writer(&mut *out, &to_json(row))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn csv_field(value: &str) -> String {
    // Cells that a spreadsheet would run as a formula are prefixed with a quote.
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

pub fn write_csv(out: &mut impl Write, rows: &[AuditRow]) -> std::io::Result<()> {
    for row in rows {
        let at = row.at.to_rfc3339_opts(SecondsFormat::Micros, true);
        let seq = row.seq.to_string();
        let fields = [
            seq.as_str(),
            at.as_str(),
            &row.actor,
            &row.action,
            row.target.as_deref().unwrap_or(""),
            row.team.as_deref().unwrap_or(""),
            &row.outcome,
            row.justification.as_deref().unwrap_or(""),
            row.ip.as_deref().unwrap_or(""),
            row.user_agent.as_deref().unwrap_or(""),
            row.request_id.as_deref().unwrap_or(""),
            &row.details,
            &row.prev_hash,
            &row.hash,
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        writeln!(out, "{}", line.join(","))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bounds_take_rfc3339_or_a_date() {
        let at = |s: &str| parse_time_bound(s).map(|t| t.to_rfc3339());
        assert_eq!(at("2026-11-23"), Some("2026-11-23T00:00:00+00:00".into()));
        assert_eq!(
            at("2026-11-23T10:00:00+09:00"),
            Some("2026-11-23T01:00:00+00:00".into())
        );
        assert_eq!(at("yesterday"), None);
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
