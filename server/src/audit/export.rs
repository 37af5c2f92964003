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
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}
