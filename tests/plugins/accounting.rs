//! The accounting connector, loaded for real: clients upserted by tax id, receivables on the
//! client card, deals won when paid, and a second run that changes nothing.

use crate::support::*;
use crm_core::model::{DealQuery, NewClient, NewDeal, StageKind, StageSpec};
use crm_plugins::host::EnableOptions;
use serde_json::json;

#[test]
fn import_is_correct_and_idempotent() {
    let f = Fixture::new();
    let drop_dir = f.dir.path().join("exports");
    std::fs::create_dir_all(&drop_dir).unwrap();
    install(
        &f.plugin_dir(),
        "accounting",
        &artifacts().accounting,
        "capabilities = [\"log\", \"emit\", \"crm.read\", \"crm.write\"]",
    );

    // The CRM already knows Acme (tax id typed differently) with an open deal.
    let rep = f.crm.user_context(f.rep).unwrap();
    let acme = f
        .crm
        .create_client(
            &rep,
            &NewClient {
                tax_id: Some("DE 123 456 789".into()),
                ..NewClient::organization("Acme GmbH")
            },
        )
        .unwrap();
    let pipeline = f
        .crm
        .create_pipeline(
            &f.sys,
            "Sales",
            &[
                StageSpec::new("Lead", 10, StageKind::Open),
                StageSpec::new("Won", 100, StageKind::Won),
                StageSpec::new("Lost", 0, StageKind::Lost),
            ],
        )
        .unwrap();
    // Built from JSON so the test does not break when NewDeal gains optional fields.
    let deal = |client: crm_core::ids::ClientId, amount: i64| -> NewDeal {
        serde_json::from_value(json!({
            "title": "Order",
            "client_id": client,
            "pipeline_id": pipeline.id,
            "amount_minor": amount,
            "currency": "EUR",
            "created_at": "2024-01-02T09:00:00Z",
        }))
        .unwrap()
    };
    let acme_deal = f.crm.create_deal(&rep, &deal(acme.id, 120_050)).unwrap();
    let other_deal = f.crm.create_deal(&rep, &deal(acme.id, 99_900)).unwrap();

    std::fs::write(
        drop_dir.join("invoices-2024.csv"),
        "invoice_no,tax_id,client_name,issue_date,due_date,amount,currency,deal_id\n\
         INV-1,DE123456789,ACME GmbH,2024-03-01,2024-03-31,\"1,200.50\",EUR,\n\
         INV-2,FR 999,\"Birch, SARL\",2024-03-05,2024-04-05,300.00,EUR,\n\
         INV-3,DE123456789,ACME GmbH,2024-03-10,2024-04-10,999.00,EUR,",
    )
    .unwrap();
    std::fs::write(
        drop_dir.join("payments-2024.csv"),
        "payment_id,invoice_no,date,amount,currency\n\
         P-1,INV-1,2024-03-20,1000.00,EUR\n\
         P-2,INV-1,2024-03-25,200.50,EUR\n\
         P-3,INV-2,2024-03-30,100.00,EUR\n",
    )
    .unwrap();
    std::fs::write(
        drop_dir.join("extra.json"),
        json!({"invoices": [{"invoice_no": "INV-4", "tax_id": "", "client_name": "No Tax",
                             "issue_date": "2024-01-01", "due_date": "2024-01-31",
                             "amount": "5", "currency": "EUR"}]})
        .to_string(),
    )
    .unwrap();

    let host = f.host();
    host.enable(
        "accounting",
        &EnableOptions {
            user_id: Some(f.connector),
            config: json!({ "drop_dir": drop_dir }),
            ..EnableOptions::default()
        },
    )
    .unwrap();
    let report = host.call("accounting", "import", &json!({})).unwrap();
    assert_eq!(report["files"], 3, "{report}");
    assert_eq!(report["invoices"], 4);
    assert_eq!(report["payments"], 3);
    assert_eq!(
        report["clients_created"], 1,
        "Birch is new; Acme matched by tax id"
    );
    assert_eq!(report["clients_updated"], 1, "Acme got the accounting tag");
    assert_eq!(report["receivables_created"], 3, "{report}");
    assert_eq!(report["deals_won"], 1);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert!(errors[0].as_str().unwrap().contains("INV-4: no tax_id"));

    // Acme: the same client, tagged, with two receivables; INV-1 paid and its deal won.
    let acme_now = f.crm.get_client(&f.sys, acme.id).unwrap();
    assert_eq!(acme_now.name, "Acme GmbH", "the CRM name is kept");
    assert_eq!(acme_now.tags, vec!["accounting".to_string()]);
    let timeline = f
        .crm
        .client_timeline(&f.sys, acme.id, &Default::default())
        .unwrap();
    let tasks: Vec<crm_core::model::Activity> = timeline
        .items
        .into_iter()
        .filter_map(|e| match e.item {
            crm_core::model::TimelineItem::Activity { activity } => Some(activity),
            _ => None,
        })
        .collect();
    assert_eq!(tasks.len(), 2);
    let inv1 = tasks
        .iter()
        .find(|t| t.subject == "Invoice INV-1: 1200.50 EUR")
        .unwrap();
    assert!(inv1.done_at.is_some(), "paid in full");
    assert_eq!(
        inv1.due_at.unwrap().to_rfc3339(),
        "2024-03-31T00:00:00+00:00"
    );
    assert!(inv1
        .body
        .as_deref()
        .unwrap()
        .contains("Outstanding: 0.00 EUR."));
    let inv3 = tasks
        .iter()
        .find(|t| t.subject.starts_with("Invoice INV-3"))
        .unwrap();
    assert!(inv3.done_at.is_none());
    let won = f.crm.get_deal(&f.sys, acme_deal.id).unwrap();
    assert_eq!(won.status, StageKind::Won);
    assert_eq!(
        won.closed_at.unwrap().date_naive().to_string(),
        "2024-03-25",
        "dated on the last payment"
    );
    assert_eq!(
        f.crm.get_deal(&f.sys, other_deal.id).unwrap().status,
        StageKind::Open
    );
    // Birch: created with its tax id, owned by the connector's user, one partly paid receivable.
    let birch = f
        .crm
        .search_clients(
            &f.sys,
            &crm_core::model::SearchQuery {
                text: "Birch".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .items
        .remove(0);
    assert_eq!(birch.name, "Birch, SARL");
    assert_eq!(birch.tax_id.as_deref(), Some("FR 999"));
    assert_eq!(birch.owner_id, f.connector);
    // The run's report was emitted as a record.
    let emitted = host.take_emitted("accounting").unwrap();
    assert_eq!(emitted.len(), 1);
    assert_eq!(emitted[0]["report"], report);

    // Again on the same files: nothing changes, not even one outbox event.
    let head = f.crm.outbox_head(&f.sys).unwrap();
    let again = host.call("accounting", "import", &json!({})).unwrap();
    for k in [
        "clients_created",
        "clients_updated",
        "receivables_created",
        "receivables_updated",
        "deals_won",
    ] {
        assert_eq!(again[k], 0, "{k}: {again}");
    }
    assert_eq!(f.crm.outbox_head(&f.sys).unwrap(), head, "no write at all");

    // The rest of INV-3 arrives: its receivable is closed and the matching deal won.
    std::fs::write(
        drop_dir.join("payments-2024-04.csv"),
        "payment_id,invoice_no,date,amount,currency\nP-9,INV-3,2024-04-02,999.00,EUR\n",
    )
    .unwrap();
    let third = host.call("accounting", "import", &json!({})).unwrap();
    assert_eq!(third["receivables_updated"], 1, "{third}");
    assert_eq!(third["deals_won"], 1, "{third}");
    assert_eq!(
        f.crm.get_deal(&f.sys, other_deal.id).unwrap().status,
        StageKind::Won
    );
    let open = f
        .crm
        .list_deals(
            &f.sys,
            &DealQuery {
                status: Some(StageKind::Open),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(open.items.is_empty());
    let head = f.crm.outbox_head(&f.sys).unwrap();
    host.call("accounting", "import", &json!({})).unwrap();
    assert_eq!(f.crm.outbox_head(&f.sys).unwrap(), head);
}
