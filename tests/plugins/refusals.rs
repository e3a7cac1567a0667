//! The host refuses a bad plugin with a clear error and nothing loaded.

use crate::support::*;
use crm_plugins::host::{EnableOptions, HostConfig, PluginHost};
use crm_plugins::manifest::MANIFEST_FILE;
use crm_plugins::PluginError;

fn kind(e: &PluginError) -> &'static str {
    e.kind()
}

#[test]
fn loading_is_off_without_a_plugin_directory() {
    let f = Fixture::new();
    let host = PluginHost::new(f.crm.clone(), HostConfig::default()).unwrap();
    assert!(matches!(host.list(), Err(PluginError::Disabled)));
    let e = host.enable("probe", &EnableOptions::default()).unwrap_err();
    assert_eq!(kind(&e), "disabled");
    assert_eq!(e.code(), 60);
}

#[test]
fn listing_checks_every_plugin_without_running_it() {
    let a = artifacts();
    let f = Fixture::new();
    let dir = f.plugin_dir();
    install(&dir, "good", &a.bad["good_c"], "");
    // A library without a manifest.
    std::fs::create_dir_all(dir.join("nomanifest")).unwrap();
    std::fs::copy(&a.probe, dir.join("nomanifest/libx.so")).unwrap();
    // Corrupt manifests: not TOML, a missing field, an unknown capability, a wrong id.
    let corrupt = install(&dir, "corrupt", &a.probe, "");
    std::fs::write(corrupt.join(MANIFEST_FILE), "id = \"corrupt\nname = ").unwrap();
    let missing = install(&dir, "missingfield", &a.probe, "");
    let text = std::fs::read_to_string(missing.join(MANIFEST_FILE)).unwrap();
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("version"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(missing.join(MANIFEST_FILE), text).unwrap();
    install(&dir, "badcap", &a.probe, "capabilities = [\"crm.admin\"]");
    let wrongid = install(&dir, "wrongid", &a.probe, "");
    let text = std::fs::read_to_string(wrongid.join(MANIFEST_FILE))
        .unwrap()
        .replace("id = \"wrongid\"", "id = \"other\"");
    std::fs::write(wrongid.join(MANIFEST_FILE), text).unwrap();
    // A checksum mismatch: the library changed after the manifest was written.
    let tampered = install(&dir, "tampered", &a.probe, "");
    let lib = tampered.join("libcrm_plugin_probe.so");
    let mut bytes = std::fs::read(&lib).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&lib, bytes).unwrap();
    // No entry symbol; a manifest for another ABI.
    install(&dir, "noentry", &a.bad["no_entry"], "");
    let abi2 = install(&dir, "abi2", &a.probe, "");
    let text = std::fs::read_to_string(abi2.join(MANIFEST_FILE))
        .unwrap()
        .replace("abi = \"1.0\"", "abi = \"2.0\"");
    std::fs::write(abi2.join(MANIFEST_FILE), text).unwrap();
    let newer = install(&dir, "newerminor", &a.probe, "");
    let text = std::fs::read_to_string(newer.join(MANIFEST_FILE))
        .unwrap()
        .replace("abi = \"1.0\"", "abi = \"1.7\"");
    std::fs::write(newer.join(MANIFEST_FILE), text).unwrap();

    let host = f.host();
    let list = host.list().unwrap();
    let by_id = |id: &str| list.iter().find(|p| p.id == id).unwrap().clone();
    assert!(by_id("good").valid);
    let expect = [
        ("nomanifest", "manifest", "missing"),
        ("corrupt", "manifest", "TOML"),
        ("missingfield", "manifest", "version"),
        ("badcap", "manifest", "unknown capability \"crm.admin\""),
        ("wrongid", "manifest", "differs from the directory name"),
        ("tampered", "checksum", "sha256"),
        ("noentry", "abi", "does not export crm_plugin_entry_v1"),
        ("abi2", "manifest", "ABI major 1"),
        ("newerminor", "manifest", "newer than this host's 1.0"),
    ];
    for (id, k, text) in expect {
        let p = by_id(id);
        assert!(!p.valid, "{id} should be invalid");
        let err = p.error.unwrap();
        assert_eq!(err["kind"], k, "{id}: {err}");
        let message = err["message"].as_str().unwrap();
        assert!(
            message.to_lowercase().contains(&text.to_lowercase()),
            "{id}: {message}"
        );
        // Enabling is refused with the same error, and nothing is loaded or enabled.
        let e = host.enable(id, &EnableOptions::default()).unwrap_err();
        assert_eq!(e.kind(), k, "{id}: {e}");
        assert!(!host.status(id).map(|s| s.enabled).unwrap_or(false));
        for entry in std::fs::read_dir(dir.join(id)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "so") {
                assert!(!is_mapped(&path), "{id}: {} was loaded", path.display());
            }
        }
    }
    // Listing ran no plugin code either.
    assert!(!is_mapped(&dir.join("good/libbad_good_c.so")));
    assert!(matches!(
        host.enable("nosuch", &EnableOptions::default()),
        Err(PluginError::NotFound(_))
    ));
}

#[test]
fn a_table_that_lies_is_refused_before_anything_in_it_runs() {
    let a = artifacts();
    let f = Fixture::new();
    let dir = f.plugin_dir();
    for (id, text) in [
        ("major2", "built for ABI 2.0"),
        ("minor9", "needs ABI 1.9, newer than this host's 1.0"),
        ("small_table", "smaller than the 56 bytes"),
    ] {
        install(&dir, id, &a.bad[id], "");
        let host = f.host();
        let e = host.enable(id, &EnableOptions::default()).unwrap_err();
        assert_eq!(e.kind(), "abi", "{id}: {e}");
        assert_eq!(e.code(), 64);
        assert!(e.to_string().contains(text), "{id}: {e}");
        assert!(host.statuses().is_empty());
        // The same refusal out of process.
        let e = host
            .enable(
                id,
                &EnableOptions {
                    mode: crm_plugins::Mode::OutOfProcess,
                    ..EnableOptions::default()
                },
            )
            .unwrap_err();
        assert_eq!(e.kind(), "abi", "{id} out of process: {e}");
        assert!(e.to_string().contains(text), "{id}: {e}");
    }
    // The control: the same source built right works, and create ran only for it.
    install(&dir, "good_c", &a.bad["good_c"], "");
    let host = f.host();
    host.enable("good_c", &EnableOptions::default()).unwrap();
    assert_eq!(
        host.call("good_c", "ok", &serde_json::json!({})).unwrap(),
        true
    );
    let log = host.status("good_c").unwrap().log;
    assert!(log.iter().any(|l| l.message.contains("create called")));
}

#[test]
fn a_plugin_that_needs_crm_data_needs_a_user() {
    let a = artifacts();
    let f = Fixture::new();
    install(
        &f.plugin_dir(),
        "probe",
        &a.probe,
        "capabilities = [\"crm.read\"]",
    );
    let host = f.host();
    let e = host.enable("probe", &EnableOptions::default()).unwrap_err();
    assert_eq!(e.kind(), "invalid");
    assert!(e.to_string().contains("user_id"), "{e}");
    let e = host
        .enable(
            "probe",
            &EnableOptions {
                user_id: Some(crm_core::ids::UserId(9999)),
                ..EnableOptions::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.kind(), "crm", "{e}");
}
