//! Imports the Maven CRM data set with the mapping files shipped in `examples/maven/` and checks
//! the result against the CSV: every account and deal arrives, the dirty parts are handled as
//! the mappings say, a second run changes nothing, and a mapping without the product fix gets a
//! clear per-row report.

use crm_core::access::EntityType;
use crm_core::model::{
    CustomFieldType, DealQuery, ImportReport, ImportSpec, NewCustomField, NewDepartment, NewUser,
    StageKind, StageSpec,
};
use crm_core::{Crm, Ctx};
use std::fs::File;
use std::path::{Path, PathBuf};

fn data_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/maven-crm");
    dir.is_dir().then_some(dir)
}

fn mapping(name: &str) -> ImportSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/maven")
        .join(name);
    serde_json::from_reader(File::open(path).expect("mapping file")).expect("mapping parses")
}

fn csv_rows(dir: &Path, name: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join(name)).expect("csv");
    text.lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn run(crm: &Crm, ctx: &Ctx, spec: &ImportSpec, file: &Path) -> ImportReport {
    let size = std::fs::metadata(file).ok().map(|m| m.len());
    crm.import(
        ctx,
        spec,
        File::open(file).expect("open"),
        size,
        &mut |_| true,
    )
    .expect("import runs")
}

fn setup(crm: &Crm, sys: &Ctx, dir: &Path) -> crm_core::Result<()> {
    let sales = crm.create_department(
        sys,
        &NewDepartment {
            name: "Sales".into(),
            parent_id: None,
        },
    )?;
    crm.create_user(
        sys,
        &NewUser {
            name: "Importer".into(),
            email: "importer@example.com".into(),
            department_id: sales.id,
            admin: true,
        },
    )?;
    for (i, row) in csv_rows(dir, "sales_teams.csv").iter().enumerate() {
        crm.create_user(
            sys,
            &NewUser {
                name: row[0].clone(),
                email: format!("agent{i}@example.com"),
                department_id: sales.id,
                admin: false,
            },
        )?;
    }
    crm.create_pipeline(
        sys,
        "Maven",
        &[
            StageSpec::new("Prospecting", 10, StageKind::Open),
            StageSpec::new("Engaging", 50, StageKind::Open),
            StageSpec::new("Won", 100, StageKind::Won),
            StageSpec::new("Lost", 0, StageKind::Lost),
        ],
    )?;
    let field = |entity, key: &str, field_type, options: Vec<String>| NewCustomField {
        entity,
        key: key.into(),
        label: key.into(),
        field_type,
        options,
        required: false,
    };
    for (key, t) in [
        ("sector", CustomFieldType::Text),
        ("year_established", CustomFieldType::Number),
        ("revenue_musd", CustomFieldType::Number),
        ("employees", CustomFieldType::Number),
        ("office_location", CustomFieldType::Text),
    ] {
        crm.define_custom_field(sys, &field(EntityType::Client, key, t, vec![]))?;
    }
    let products: Vec<String> = csv_rows(dir, "products.csv")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    crm.define_custom_field(
        sys,
        &field(EntityType::Deal, "product", CustomFieldType::Enum, products),
    )?;
    Ok(())
}

#[test]
fn maven_data_set_imports_with_the_shipped_mappings() -> crm_core::Result<()> {
    let Some(dir) = data_dir() else {
        eprintln!("SKIPPED maven_import: ../shared/data/maven-crm not found");
        return Ok(());
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let crm = Crm::open(tmp.path().join("crm.db"))?;
    let sys = crm.system_context("maven import test")?;
    setup(&crm, &sys, &dir)?;

    let mut accounts = mapping("accounts.mapping.json");
    accounts
        .defaults
        .insert("owner_email".into(), "importer@example.com".into());
    let report = run(&crm, &sys, &accounts, &dir.join("accounts.csv"));
    let expected_accounts = csv_rows(&dir, "accounts.csv");
    assert_eq!(report.rows, expected_accounts.len() as u64, "{report:?}");
    assert_eq!(
        (report.created, report.invalid),
        (85, 0),
        "{:?}",
        report.errors
    );
    let subsidiaries = expected_accounts
        .iter()
        .filter(|r| !r[6].is_empty())
        .count();
    let with_parent = crm
        .list_clients(
            &sys,
            &crm_core::model::ClientQuery {
                limit: Some(500),
                ..Default::default()
            },
        )?
        .items
        .into_iter()
        .filter(|c| c.parent_id.is_some())
        .count();
    assert_eq!(with_parent, subsidiaries);
    let typo = crm.search_clients(
        &sys,
        &crm_core::model::SearchQuery {
            text: "Acme Corporation".into(),
            ..Default::default()
        },
    )?;
    assert_eq!(
        typo.items[0].custom["sector"], "technology",
        "the typo is mapped"
    );

    // The dirty product names: without the mapping's fix, every GTXPro row is reported.
    let mut dirty = mapping("deals.mapping.json");
    dirty.value_map.clear();
    dirty.dry_run = true;
    let opps = csv_rows(&dir, "sales_pipeline.csv");
    let report = run(&crm, &sys, &dirty, &dir.join("sales_pipeline.csv"));
    let gtxpro = opps.iter().filter(|r| r[2] == "GTXPro").count() as u64;
    assert_eq!(report.invalid, gtxpro);
    assert!(report
        .errors
        .iter()
        .all(|e| e.column.as_deref() == Some("product") && e.message.contains("custom.product")));
    assert!(
        report.dry_run
            && crm
                .list_deals(&sys, &DealQuery::default())?
                .items
                .is_empty(),
        "a dry run writes nothing"
    );

    let deals = mapping("deals.mapping.json");
    let report = run(&crm, &sys, &deals, &dir.join("sales_pipeline.csv"));
    assert_eq!(
        (report.rows, report.created, report.invalid),
        (opps.len() as u64, opps.len() as u64, 0),
        "{:?}",
        report.errors.first()
    );

    // Every deal arrived in its stage, with its value, and the ones without an account without a client.
    let mut all = Vec::new();
    let mut q = DealQuery {
        limit: Some(500),
        ..Default::default()
    };
    loop {
        let page = crm.list_deals(&sys, &q)?;
        all.extend(page.items);
        match page.next {
            Some(n) => q.after = Some(n),
            None => break,
        }
    }
    assert_eq!(all.len(), opps.len());
    let pipeline = crm
        .pipelines(&sys)?
        .into_iter()
        .find(|p| p.name == "Maven")
        .expect("pipeline");
    for stage in ["Prospecting", "Engaging", "Won", "Lost"] {
        let id = pipeline
            .stages
            .iter()
            .find(|s| s.name == stage)
            .map(|s| s.id);
        let expected = opps.iter().filter(|r| r[4] == stage).count();
        assert_eq!(
            all.iter().filter(|d| Some(d.stage_id) == id).count(),
            expected,
            "{stage}"
        );
    }
    let won_value: i64 = opps
        .iter()
        .filter(|r| r[4] == "Won")
        .map(|r| r[7].parse::<i64>().unwrap_or(0) * 100)
        .sum();
    let won_id = pipeline
        .stages
        .iter()
        .find(|s| s.kind == StageKind::Won)
        .map(|s| s.id);
    assert_eq!(
        all.iter()
            .filter(|d| Some(d.stage_id) == won_id)
            .map(|d| d.amount_minor)
            .sum::<i64>(),
        won_value
    );
    let without_account = opps.iter().filter(|r| r[3].is_empty()).count();
    assert_eq!(
        all.iter().filter(|d| d.client_id.is_none()).count(),
        without_account
    );
    assert!(all
        .iter()
        .all(|d| d.custom.get("product").and_then(|p| p.as_str()) != Some("GTXPro")));

    // Running both imports again changes nothing.
    let again = run(&crm, &sys, &accounts, &dir.join("accounts.csv"));
    assert_eq!(
        (again.created, again.updated, again.unchanged),
        (0, 0, 85),
        "{:?}",
        again.errors
    );
    let audit_before = crm
        .audit_entries(&sys, &Default::default())?
        .first()
        .map(|e| e.id);
    let again = run(&crm, &sys, &deals, &dir.join("sales_pipeline.csv"));
    assert_eq!(
        (again.created, again.updated, again.unchanged),
        (0, 0, opps.len() as u64),
        "{:?}",
        again.errors.first()
    );
    let newest = crm.audit_entries(&sys, &Default::default())?;
    assert!(
        newest
            .iter()
            .take_while(|e| Some(e.id) != audit_before)
            .all(|e| e.action.starts_with("import.")),
        "only job entries"
    );
    Ok(())
}
