//! Shared machinery of the plugin tests: building the plugin libraries for real, installing
//! them with manifests, and a CRM with an organisation to run them against.

use crm_core::access::{AccessLevel, Action, EntityType, Grant};
use crm_core::ids::UserId;
use crm_core::model::{NewClient, NewDepartment, NewUser, RoleSubject};
use crm_core::{Crm, Ctx};
use crm_plugins::host::{HostConfig, PluginHost};
use crm_plugins::manifest::{sha256_hex, MANIFEST_FILE};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The built artifacts: Rust plugin cdylibs, the runner, and the C plugins.
pub struct Artifacts {
    pub runner: PathBuf,
    pub probe: PathBuf,
    pub webhook: PathBuf,
    pub accounting: PathBuf,
    pub hello: PathBuf,
    /// `no_entry`, `major2`, `minor9`, `small_table`.
    pub bad: std::collections::BTreeMap<&'static str, PathBuf>,
}

fn target_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let base = if base.is_absolute() {
        base
    } else {
        root().join(base)
    };
    base.join("plugins")
}

/// Builds everything once per test process.
///
/// The Rust plugins and the runner are built by a nested cargo into their own target
/// directory (`target/plugins`: the outer `cargo test` holds the lock of the main one), with
/// crm-plugins' `loader` feature only, as a plugin vendor would build them. The C plugins are
/// compiled with the system C compiler against the committed `include/crm_plugin.h`.
pub fn artifacts() -> &'static Artifacts {
    static A: OnceLock<Artifacts> = OnceLock::new();
    A.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let target = target_dir();
        let status = Command::new(cargo)
            .current_dir(root())
            .args([
                "build",
                "--quiet",
                "-p",
                "crm-plugins",
                "-p",
                "crm-plugin-probe",
                "-p",
                "crm-plugin-webhook",
                "-p",
                "crm-plugin-accounting",
                "--no-default-features",
                "--features",
                "crm-plugins/loader",
                "--target-dir",
            ])
            .arg(&target)
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the plugins failed");
        let out = target.join("debug");
        // Private copies: another test run may rebuild target/plugins while this one runs.
        let private = target
            .join("snapshots")
            .join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&private);
        std::fs::create_dir_all(&private).unwrap();
        let snap = |name: &str| {
            let to = private.join(name);
            std::fs::copy(out.join(name), &to).unwrap_or_else(|e| panic!("{name}: {e}"));
            to
        };
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let compile = |src: &Path, out: &Path, defines: &[&str]| {
            let status = Command::new(&cc)
                .args([
                    "-shared", "-fPIC", "-std=c99", "-Wall", "-Wextra", "-Werror",
                ])
                .arg("-I")
                .arg(root().join("include"))
                .args(defines)
                .arg("-o")
                .arg(out)
                .arg(src)
                .status()
                .expect("run the C compiler");
            assert!(status.success(), "compiling {} failed", src.display());
            out.to_path_buf()
        };
        let hello = compile(
            &root().join("examples/plugins/hello/hello.c"),
            &private.join("libhello.so"),
            &[],
        );
        let bad_src = root().join("tests/plugins/bad_plugin.c");
        let mut bad = std::collections::BTreeMap::new();
        for (name, defs) in [
            ("no_entry", &["-DNO_ENTRY"][..]),
            ("major2", &["-DTABLE_MAJOR=2"][..]),
            ("minor9", &["-DTABLE_MINOR=9"][..]),
            ("small_table", &["-DSMALL_TABLE"][..]),
            ("good_c", &[][..]),
        ] {
            bad.insert(
                name,
                compile(&bad_src, &private.join(format!("libbad_{name}.so")), defs),
            );
        }
        Artifacts {
            runner: snap("crm-plugin-runner"),
            probe: snap("libcrm_plugin_probe.so"),
            webhook: snap("libcrm_plugin_webhook.so"),
            accounting: snap("libcrm_plugin_accounting.so"),
            hello,
            bad,
        }
    })
}

/// Installs `library` as plugin `id` in `plugin_dir` with a manifest whose other lines are
/// `extra` (TOML), and returns the plugin's directory.
pub fn install(plugin_dir: &Path, id: &str, library: &Path, extra: &str) -> PathBuf {
    let dir = plugin_dir.join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let file = library.file_name().unwrap().to_string_lossy().into_owned();
    let bytes = std::fs::read(library).unwrap();
    std::fs::write(dir.join(&file), &bytes).unwrap();
    let manifest = format!(
        "id = \"{id}\"\nname = \"{id} plugin\"\nversion = \"0.1.0\"\nabi = \"1.0\"\nlibrary = \"{file}\"\nsha256 = \"{}\"\n{extra}\n",
        sha256_hex(&bytes)
    );
    std::fs::write(dir.join(MANIFEST_FILE), manifest).unwrap();
    dir
}

/// A CRM with two departments: the connector's user sees the sales department only.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub crm: Arc<Crm>,
    pub sys: Ctx,
    /// The user plugins act as (sales department, department-level rights).
    pub connector: UserId,
    /// A sales rep (sales department).
    pub rep: UserId,
    /// A user of another department, whose records the connector cannot see.
    pub outsider: UserId,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        let crm = Arc::new(Crm::open(dir.path().join("crm.db")).unwrap());
        let sys = crm.system_context("plugin tests").unwrap();
        let dept = |name: &str| {
            crm.create_department(
                &sys,
                &NewDepartment {
                    name: name.into(),
                    parent_id: None,
                },
            )
            .unwrap()
        };
        let sales = dept("Sales");
        let support = dept("Support");
        let user = |name: &str, d: &crm_core::model::Department| {
            crm.create_user(
                &sys,
                &NewUser {
                    name: name.into(),
                    email: format!("{}@example.com", name.to_lowercase()),
                    department_id: d.id,
                    admin: false,
                },
            )
            .unwrap()
            .id
        };
        let connector = user("Connector", &sales);
        let rep = user("Rep", &sales);
        let outsider = user("Outsider", &support);
        let grants: Vec<Grant> = EntityType::ALL
            .iter()
            .flat_map(|&entity| {
                [
                    Action::Read,
                    Action::Create,
                    Action::Update,
                    Action::ChangeStage,
                ]
                .map(|action| Grant {
                    entity,
                    action,
                    level: AccessLevel::Department,
                    include_open: false,
                })
            })
            .collect();
        let role = crm.create_role(&sys, "Department staff", &grants).unwrap();
        for d in [sales.id, support.id] {
            crm.assign_role(
                &sys,
                role.id,
                &RoleSubject::Department {
                    department_id: d,
                    include_subdepartments: true,
                },
            )
            .unwrap();
        }
        Fixture {
            dir,
            crm,
            sys,
            connector,
            rep,
            outsider,
        }
    }

    pub fn plugin_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    pub fn config(&self) -> HostConfig {
        HostConfig {
            plugin_dir: Some(self.plugin_dir()),
            runner: Some(artifacts().runner.clone()),
            poll_interval_ms: 20,
            retry_initial_ms: 20,
            retry_max_ms: 200,
            call_timeout_ms: 20_000,
            ..HostConfig::default()
        }
    }

    pub fn host(&self) -> PluginHost {
        PluginHost::new(self.crm.clone(), self.config()).unwrap()
    }

    /// Creates `n` clients as `user` (one event each); returns the new event ids.
    pub fn clients(&self, user: UserId, n: usize, prefix: &str) -> Vec<i64> {
        let ctx = self.crm.user_context(user).unwrap();
        let before = self.crm.outbox_head(&self.sys).unwrap();
        for i in 0..n {
            self.crm
                .create_client(&ctx, &NewClient::organization(format!("{prefix} {i}")))
                .unwrap();
        }
        let after = self.crm.outbox_head(&self.sys).unwrap();
        ((before + 1)..=after).collect()
    }
}

/// Polls `f` every 10 ms until it is true; panics with `what` after `secs` seconds.
pub fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Event ids recorded by the probe's sink file, in the order written.
pub fn sink_ids(path: &Path) -> Vec<i64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect()
}

/// Whether `path` is mapped into this process (Linux).
pub fn is_mapped(path: &Path) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let p = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    maps.contains(&*p.to_string_lossy())
}
