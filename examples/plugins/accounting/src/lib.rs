//! # accounting: imports invoices and payments from an accounting system's export folder
//!
//! An example connector. The accounting system drops export files (CSV or JSON, see
//! [`files`]) into a folder; the `import` method reads them all and brings the CRM in line:
//!
//! 1. **Clients, upserted by tax id.** The customer of each invoice is looked up among the
//!    organisations the connector's user can read whose tax id matches after normalisation
//!    (`clients.find_duplicates`); if there is none it is created (tagged `accounting`). An
//!    existing client keeps its CRM name unless `sync_names` is set; it gets the `accounting`
//!    tag if it lacks it.
//! 2. **Receivables on the client card.** Each invoice becomes one task activity linked to the
//!    client (and to the invoice's deal, when known): subject `Invoice <no>: <amount> <cur>`,
//!    due on the invoice's due date, its body listing issue date, amount, payments and the
//!    outstanding balance. When the invoice is paid in full, the task is marked done on the
//!    date of the last payment. The task is found again by its subject prefix on later runs
//!    and updated only where it differs.
//! 3. **Won deals.** When an invoice is paid in full, its deal is moved to the first won stage
//!    of the deal's pipeline, dated the day of the last payment. The deal is the invoice's
//!    `deal_id`, or else the client's only open deal with the same amount and currency.
//!
//! Running it again on the same files changes nothing: every step compares first and writes
//! only differences (the CRM's outbox and audit log stay as they are).
//!
//! Everything goes through the host's `crm_call`, as the connector's own CRM user: it can only
//! see and change what that user's roles allow. Give that user read, create and update on
//! clients and activities and read and change-stage on deals.
//!
//! Configuration: `{"drop_dir": "/path/to/exports", "sync_names": false}`.
//! Methods: `import` → a report `{"files", "invoices", "payments", "clients_created",
//! "clients_updated", "receivables_created", "receivables_updated", "deals_won", "errors"}`;
//! the same report is emitted as a record.

pub mod files;

use crm_plugins::sdk::{Connector, CrmCallError, Error, Host};
use files::{check_date, format_minor, to_minor, Invoice, Payment};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The folder the accounting system exports to.
    pub drop_dir: PathBuf,
    /// Overwrite the CRM name of an existing client with the accounting system's.
    #[serde(default)]
    pub sync_names: bool,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Files read.
    pub files: usize,
    /// Invoices in them.
    pub invoices: usize,
    /// Payments in them.
    pub payments: usize,
    /// Clients created.
    pub clients_created: usize,
    /// Clients changed (name, tag).
    pub clients_updated: usize,
    /// Receivable tasks created.
    pub receivables_created: usize,
    /// Receivable tasks changed.
    pub receivables_updated: usize,
    /// Deals moved to won.
    pub deals_won: usize,
    /// Invoices that could not be imported, with the reason.
    pub errors: Vec<String>,
}

impl Report {
    /// Whether the run wrote anything to the CRM.
    pub fn changed_anything(&self) -> bool {
        self.clients_created
            + self.clients_updated
            + self.receivables_created
            + self.receivables_updated
            + self.deals_won
            > 0
    }
}

/// The accounting connector.
pub struct Accounting {
    host: Host,
    config: Config,
}

type Res<T> = Result<T, String>;

fn crm_err(method: &str) -> impl Fn(CrmCallError) -> String + '_ {
    move |e| format!("{method}: {e}")
}

/// The state a receivable task should have.
struct Receivable {
    subject: String,
    body: String,
    due_at: String,
    done_at: Option<String>,
}

fn receivable(inv: &Invoice, amount: i64, payments: &[&Payment], paid: i64) -> Receivable {
    let cur = &inv.currency;
    // One line: the engine does not take control characters (newlines) in activity text.
    let mut body = format!(
        "Receivable imported from accounting. Invoice {}, issued {}, due {}, amount {} {cur}.",
        inv.invoice_no,
        inv.issue_date,
        inv.due_date,
        format_minor(amount, cur)
    );
    for p in payments {
        body.push_str(&format!(
            " Payment {} on {}: {} {}.",
            p.payment_id, p.date, p.amount, p.currency
        ));
    }
    body.push_str(&format!(
        " Outstanding: {} {cur}.",
        format_minor((amount - paid).max(0), cur)
    ));
    let last_payment = payments.iter().map(|p| p.date.as_str()).max();
    Receivable {
        subject: format!(
            "Invoice {}: {} {cur}",
            inv.invoice_no,
            format_minor(amount, cur)
        ),
        body,
        due_at: format!("{}T00:00:00Z", inv.due_date),
        done_at: (paid >= amount)
            .then(|| last_payment.map(|d| format!("{d}T12:00:00Z")))
            .flatten(),
    }
}

/// Normalises an RFC 3339 instant as the CRM writes it to compare with ours.
fn same_instant(crm: &Value, ours: Option<&str>) -> bool {
    match (crm.as_str(), ours) {
        (None, None) => true,
        (Some(a), Some(b)) => a.trim_end_matches('Z') == b.trim_end_matches('Z'),
        _ => false,
    }
}

impl Accounting {
    fn crm(&self, method: &str, input: Value) -> Res<Value> {
        self.host.crm_value(method, &input).map_err(crm_err(method))
    }

    /// The client with this tax id (creating it when missing); updates the report.
    fn upsert_client(&self, inv: &Invoice, report: &mut Report) -> Res<i64> {
        let probe =
            json!({ "kind": "organization", "name": inv.client_name, "tax_id": inv.tax_id });
        let candidates = self.crm("clients.find_duplicates", probe.clone())?;
        let found = candidates.as_array().into_iter().flatten().find(|c| {
            c["reasons"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x == "tax_id"))
        });
        let Some(found) = found else {
            let mut new = probe;
            new["tags"] = json!(["accounting"]);
            let c = self.crm("clients.create", new)?;
            report.clients_created += 1;
            self.host.info(&format!(
                "accounting: created client {} for tax id {}",
                c["id"], inv.tax_id
            ));
            return c["id"]
                .as_i64()
                .ok_or_else(|| "clients.create: no id".into());
        };
        let c = &found["client"];
        let id = c["id"].as_i64().ok_or("clients.find_duplicates: no id")?;
        let mut changes = serde_json::Map::new();
        let tags: Vec<String> = c["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect();
        if !tags.iter().any(|t| t.eq_ignore_ascii_case("accounting")) {
            let mut t = tags.clone();
            t.push("accounting".into());
            changes.insert("tags".into(), json!(t));
        }
        if self.config.sync_names && c["name"].as_str() != Some(inv.client_name.trim()) {
            changes.insert("name".into(), json!(inv.client_name.trim()));
        }
        if !changes.is_empty() {
            self.crm(
                "clients.update",
                json!({ "id": id, "expected_version": c["version"], "changes": changes }),
            )?;
            report.clients_updated += 1;
        }
        Ok(id)
    }

    /// The client's activities (all pages of its timeline).
    fn activities_of(&self, client: i64) -> Res<Vec<Value>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.crm(
                "clients.timeline",
                json!({ "client_id": client, "limit": 500, "after": after }),
            )?;
            for item in page["items"].as_array().into_iter().flatten() {
                if item["type"] == "activity" {
                    out.push(item["activity"].clone());
                }
            }
            match page["next"].as_str() {
                Some(n) => after = Some(n.to_string()),
                None => return Ok(out),
            }
        }
    }

    fn sync_receivable(
        &self,
        client: i64,
        inv: &Invoice,
        want: &Receivable,
        existing: &mut Vec<Value>,
        report: &mut Report,
    ) -> Res<()> {
        let prefix = format!("Invoice {}:", inv.invoice_no);
        let found = existing.iter().find(|a| {
            a["kind"] == "task"
                && a["subject"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(&prefix))
        });
        let Some(a) = found else {
            let created = self.crm(
                "activities.create",
                json!({
                    "kind": "task",
                    "subject": want.subject,
                    "body": want.body,
                    "client_id": client,
                    "deal_id": inv.deal_id,
                    "due_at": want.due_at,
                    "done_at": want.done_at,
                }),
            )?;
            report.receivables_created += 1;
            // Found again by later invoices of the same run.
            existing.push(created);
            return Ok(());
        };
        let mut changes = serde_json::Map::new();
        if a["subject"].as_str() != Some(want.subject.as_str()) {
            changes.insert("subject".into(), json!(want.subject));
        }
        if a["body"].as_str() != Some(want.body.as_str()) {
            changes.insert("body".into(), json!(want.body));
        }
        if !same_instant(&a["due_at"], Some(&want.due_at)) {
            changes.insert("due_at".into(), json!(want.due_at));
        }
        if !same_instant(&a["done_at"], want.done_at.as_deref()) {
            changes.insert("done_at".into(), json!(want.done_at));
        }
        if !changes.is_empty() {
            self.crm(
                "activities.update",
                json!({ "id": a["id"], "expected_version": a["version"], "changes": changes }),
            )?;
            report.receivables_updated += 1;
        }
        Ok(())
    }

    /// Moves the invoice's deal to won (paid in full on `paid_on`).
    fn win_deal(&self, client: i64, inv: &Invoice, amount: i64, paid_on: &str) -> Res<bool> {
        let deal = match inv.deal_id {
            Some(id) => self.crm("deals.get", json!({ "id": id }))?,
            None => {
                let open = self.crm(
                    "deals.list",
                    json!({ "client_id": client, "status": "open", "limit": 500 }),
                )?;
                let matching: Vec<&Value> = open["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|d| d["amount_minor"] == amount && d["currency"] == inv.currency)
                    .collect();
                match matching.as_slice() {
                    [one] => (*one).clone(),
                    _ => return Ok(false),
                }
            }
        };
        match deal["status"].as_str() {
            Some("open") => {}
            Some("lost") => {
                self.host.warn(&format!(
                    "accounting: invoice {} is paid but deal {} is lost; left as it is",
                    inv.invoice_no, deal["id"]
                ));
                return Ok(false);
            }
            _ => return Ok(false),
        }
        let pipeline = self.crm("pipelines.get", json!({ "id": deal["pipeline_id"] }))?;
        let won = pipeline["stages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["kind"] == "won")
            .ok_or_else(|| format!("pipeline {} has no won stage", deal["pipeline_id"]))?;
        let entered = deal["stage_entered_at"].as_str().unwrap_or("");
        let at = format!("{paid_on}T12:00:00Z");
        let at = (entered.get(..10).is_some_and(|d| d < paid_on)).then_some(at);
        self.crm(
            "deals.move",
            json!({
                "id": deal["id"],
                "expected_version": deal["version"],
                "stage_id": won["id"],
                "at": at,
            }),
        )?;
        self.host.info(&format!(
            "accounting: invoice {} paid: deal {} won",
            inv.invoice_no, deal["id"]
        ));
        Ok(true)
    }

    fn import_invoice(
        &self,
        inv: &Invoice,
        payments: &[&Payment],
        cache: &mut BTreeMap<i64, Vec<Value>>,
        report: &mut Report,
    ) -> Res<()> {
        check_date("issue_date", &inv.issue_date)?;
        check_date("due_date", &inv.due_date)?;
        if inv.tax_id.trim().is_empty() {
            return Err("no tax_id".into());
        }
        let amount = to_minor(&inv.amount, &inv.currency)?;
        let mut paid = 0;
        for p in payments {
            check_date("payment date", &p.date)?;
            if p.currency != inv.currency {
                return Err(format!(
                    "payment {} is in {}, the invoice in {}",
                    p.payment_id, p.currency, inv.currency
                ));
            }
            paid += to_minor(&p.amount, &p.currency)?;
        }
        let client = self.upsert_client(inv, report)?;
        if let std::collections::btree_map::Entry::Vacant(e) = cache.entry(client) {
            e.insert(self.activities_of(client)?);
        }
        let want = receivable(inv, amount, payments, paid);
        let existing = cache.entry(client).or_default();
        self.sync_receivable(client, inv, &want, existing, report)?;
        if paid >= amount {
            let paid_on = payments.iter().map(|p| p.date.as_str()).max().unwrap_or("");
            if !paid_on.is_empty() && self.win_deal(client, inv, amount, paid_on)? {
                report.deals_won += 1;
            }
        }
        Ok(())
    }

    /// Reads the drop folder and brings the CRM in line with it.
    pub fn import(&self) -> Result<Report, Error> {
        let export = files::read_dir(&self.config.drop_dir).map_err(Error::new)?;
        let mut report = Report {
            files: export.files.len(),
            invoices: export.invoices.len(),
            payments: export.payments.len(),
            ..Report::default()
        };
        let mut by_invoice: BTreeMap<&str, Vec<&Payment>> = BTreeMap::new();
        for p in export.payments.values() {
            by_invoice.entry(p.invoice_no.as_str()).or_default().push(p);
        }
        for p in export.payments.values() {
            if !export.invoices.contains_key(&p.invoice_no) {
                report.errors.push(format!(
                    "payment {}: no invoice {}",
                    p.payment_id, p.invoice_no
                ));
            }
        }
        let mut cache = BTreeMap::new();
        for inv in export.invoices.values() {
            if self.host.is_cancelled() {
                return Err(Error::cancelled());
            }
            let payments = by_invoice
                .get(inv.invoice_no.as_str())
                .cloned()
                .unwrap_or_default();
            if let Err(e) = self.import_invoice(inv, &payments, &mut cache, &mut report) {
                self.host
                    .warn(&format!("accounting: invoice {}: {e}", inv.invoice_no));
                report
                    .errors
                    .push(format!("invoice {}: {e}", inv.invoice_no));
            }
        }
        let _ = self
            .host
            .emit(&json!({ "type": "accounting.import", "report": report }));
        Ok(report)
    }
}

impl Connector for Accounting {
    fn create(host: Host, config: Value) -> Result<Self, Error> {
        let config: Config = crm_plugins::sdk::parse("config", config)?;
        if !config.drop_dir.is_dir() {
            return Err(Error::bad_request(format!(
                "config: drop_dir {} is not a folder",
                config.drop_dir.display()
            )));
        }
        Ok(Accounting { host, config })
    }

    fn call(&mut self, method: &str, _input: Value) -> Result<Value, Error> {
        match method {
            "import" => crm_plugins::sdk::reply(&self.import()?),
            _ => Err(Error::unknown_method(method)),
        }
    }
}

crm_plugins::export_connector!(Accounting);
