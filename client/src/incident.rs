//! `kw incident`: a guided runbook from the terminal. Start one on an account, read the
//! current step and its choices, answer it; a step's action (a backup code, a code, a
//! break-glass release key) is printed once, as the dashboard shows it once.

use crate::api::{Api, Failure};
use crate::out;
use clap::Subcommand;
use keyward_proto::incidents::{IncidentList, IncidentOut, RunbookList};

#[derive(Subcommand)]
pub enum IncidentCommand {
    /// The runbooks you can start (their ids go to `kw incident start --runbook`).
    ///
    /// Example: kw incident runbooks
    Runbooks,
    /// Start an incident on an account with a runbook, and see its first step.
    ///
    /// Example: kw incident start "x @brand" --runbook lockout --note "2FA phone lost"
    Start {
        /// An account id, `@handle`, or `platform @handle`.
        account: String,
        /// The runbook's id (see `kw incident runbooks`).
        #[arg(long)]
        runbook: String,
        /// What is going on (kept on the incident).
        #[arg(long)]
        note: Option<String>,
    },
    /// An incident's current step, its choices and its timeline; without an id, the open
    /// incidents you may see.
    ///
    /// Example: kw incident show 0193…
    Show {
        /// The incident's id.
        id: Option<String>,
    },
    /// Answer the current step with one of its choices (it may run an action as you).
    ///
    /// Example: kw incident answer 0193… try_backup --note "the app is gone"
    Answer {
        /// The incident's id.
        id: String,
        /// The choice's id, as `kw incident show` lists it.
        choice: String,
        /// Anything worth keeping in the timeline.
        #[arg(long)]
        note: Option<String>,
    },
}

fn print_incident(incident: &IncidentOut, timeline: bool) {
    let lang = out::lang();
    let title = incident
        .title
        .as_ref()
        .map_or(incident.runbook.clone(), |t| t.in_lang(lang).to_owned());
    println!(
        "Incident {} on {} {} ({}): {}",
        incident.id,
        out::clean(&incident.platform),
        out::clean(&incident.handle),
        out::clean(&title),
        incident.state
    );
    if let Some(result) = &incident.result {
        print_result(result);
    }
    if timeline {
        for entry in incident.timeline.iter().flatten() {
            let choice = entry.choice.as_deref().unwrap_or("");
            println!(
                "  {}  {:<18} {} {} {}",
                entry.at,
                entry.event,
                out::clean(&entry.actor),
                out::clean(choice),
                entry.outcome
            );
        }
    }
    if incident.state != "open" {
        if let Some(summary) = &incident.summary {
            println!("Closed: {}", out::clean(summary));
        }
        return;
    }
    println!(
        "Step {}: {}",
        incident.step.id,
        out::clean(incident.step.text.in_lang(lang))
    );
    if incident.step.choices.is_empty() {
        println!("  (no choices: resolve it in the dashboard once done)");
    }
    for choice in &incident.step.choices {
        let runs = choice
            .action
            .as_deref()
            .map(|a| format!("  [runs {a}]"))
            .unwrap_or_default();
        println!(
            "  {:<16} {}{runs}",
            out::bold(&choice.id),
            out::clean(choice.text.in_lang(lang))
        );
    }
    if !incident.step.choices.is_empty() {
        out::note(&format!(
            "Answer with: kw incident answer {} CHOICE",
            incident.id
        ));
    }
    if !incident.warnings.is_empty() {
        println!(
            "{}",
            out::warn(&format!("Warning: {}", incident.warnings.join(", ")))
        );
    }
}

/// What the answered step's action did; a code or key is printed here once.
fn print_result(result: &serde_json::Value) {
    let action = result["action"].as_str().unwrap_or("action");
    if let Some(error) = result["error"].as_str() {
        println!("{action}: {}", out::warn(&format!("failed ({error})")));
        return;
    }
    if let Some(code) = result["code"].as_str() {
        let at = result["position"]
            .as_i64()
            .map(|p| format!(" (backup code {p}, {} left)", result["remaining"]))
            .unwrap_or_default();
        println!("{action}: {}{at}. It is shown once.", out::bold(code));
    } else if let Some(key) = result["release_key"].as_str() {
        println!(
            "{action}: release {} opened; its key, shown once: {}",
            result["release"].as_str().unwrap_or(""),
            out::bold(key)
        );
    } else {
        println!("{action}: done {result}");
    }
}

pub async fn run(command: IncidentCommand, json: bool) -> Result<(), Failure> {
    let mut api = Api::signed_in()?;
    match command {
        IncidentCommand::Runbooks => {
            let list: RunbookList = api.get("/api/v1/runbooks").await?;
            if json {
                out::json(&list);
            } else {
                let lang = out::lang();
                for runbook in &list.runbooks {
                    println!(
                        "{:<20} {}: {}",
                        runbook.id,
                        runbook.title.in_lang(lang),
                        runbook.summary.in_lang(lang)
                    );
                }
            }
        }
        IncidentCommand::Start {
            account,
            runbook,
            note,
        } => {
            let account = api.find_account(&account).await?;
            let body =
                serde_json::json!({ "account": account.id, "runbook": runbook, "note": note });
            let incident: IncidentOut = api.post("/api/v1/incidents", &body).await?;
            if json {
                out::json(&incident);
            } else {
                print_incident(&incident, false);
            }
        }
        IncidentCommand::Show { id: Some(id) } => {
            let incident: IncidentOut = api.get(&format!("/api/v1/incidents/{id}")).await?;
            if json {
                out::json(&incident);
            } else {
                print_incident(&incident, true);
            }
        }
        IncidentCommand::Show { id: None } => {
            let list: IncidentList = api.get("/api/v1/incidents?state=open").await?;
            if json {
                out::json(&list);
            } else if list.incidents.is_empty() {
                println!("No open incidents.");
            } else {
                for incident in &list.incidents {
                    println!(
                        "{}  {} {:<20} {:<12} step {}",
                        incident.id,
                        incident.platform,
                        incident.handle,
                        incident.runbook,
                        incident.step.id
                    );
                }
            }
        }
        IncidentCommand::Answer { id, choice, note } => {
            // Answer the step as read now; the count makes a stale answer fail (409
            // step_changed) rather than answer a later visit of the same step.
            let current: IncidentOut = api.get(&format!("/api/v1/incidents/{id}")).await?;
            if !current.step.choices.iter().any(|c| c.id == choice) {
                let ids: Vec<&str> = current.step.choices.iter().map(|c| c.id.as_str()).collect();
                return Err(Failure::new(
                    2,
                    format!(
                        "step {} has no choice {choice:?}; choose one of: {}",
                        current.step.id,
                        ids.join(", ")
                    ),
                ));
            }
            let body = serde_json::json!({
                "step": current.step.id,
                "choice": choice,
                "note": note,
                "answers": current.answers,
            });
            let path = format!("/api/v1/incidents/{id}/answer");
            let incident: IncidentOut = api.post_revealing(&path, &body).await?;
            if json {
                out::json(&incident);
            } else {
                print_incident(&incident, false);
            }
        }
    }
    Ok(())
}
