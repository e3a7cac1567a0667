//! The C ABI, tested from C.
//!
//! Builds libcrm (the `crm-ffi` crate, with its `testing` feature) and `crm-plugin-runner` into
//! their own target directory (`target/c-api`, so the nested cargo never waits for the build lock
//! held by the `cargo test` that runs this file), compiles the programs in `tests/c/` against the
//! committed `include/crm.h` and that library with the system C compiler, and runs them.
//!
//! `plugins.c` loads a real plugin through the C API: the C example connector
//! `examples/plugins/hello/hello.c`, compiled here with `cc` and installed into a scratch plugin
//! directory with `crm-plugin-runner package` (its manifest template plus the library's SHA-256),
//! beside two broken copies (a wrong checksum, no manifest).
//!
//! Environment:
//! - `CC` / `CXX`: the C and C++ compilers (default `cc` / `c++`).
//! - `CRM_C_TEST_RUNNER`: a command line to run each C program under, e.g.
//!   `valgrind --error-exitcode=1 --leak-check=full` (.ci/c-tests.sh does this).
//! - `CRM_C_API_PROFILE`: `debug` (default) or `release`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where the nested build puts its artifacts.
fn target_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let base = if base.is_absolute() {
        base
    } else {
        root().join(base)
    };
    base.join("c-api")
}

fn profile() -> String {
    std::env::var("CRM_C_API_PROFILE").unwrap_or_else(|_| "debug".into())
}

/// The directory holding libcrm.so and libcrm.a, built once per test process.
///
/// The nested build writes to `target/c-api/<profile>`; another `cargo test` running at the same
/// time (or a later edit) may rebuild it while this process still links and runs against it.
/// So the library is snapshotted (hard links, or copies) into a directory private to this
/// process, and the snapshot is checked to be a `testing` build.
fn lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let snapshots = target_dir().join("snapshots");
        remove_dead_snapshots(&snapshots);
        let private = snapshots.join(std::process::id().to_string());
        for attempt in 1..=3 {
            build_library();
            let built = target_dir().join(profile());
            let _ = std::fs::remove_dir_all(&private);
            std::fs::create_dir_all(&private).unwrap();
            let ok = ["libcrm.so", "libcrm.a", RUNNER].iter().all(|f| {
                let (from, to) = (built.join(f), private.join(f));
                std::fs::hard_link(&from, &to).is_ok() || std::fs::copy(&from, &to).is_ok()
            });
            let so = std::fs::read(private.join("libcrm.so")).unwrap_or_default();
            if ok && contains(&so, b"crm_testing_panic") {
                return private;
            }
            eprintln!(
                "libcrm changed under the test while snapshotting (attempt {attempt}); rebuilding"
            );
        }
        panic!(
            "could not get a stable build of libcrm in {:?}",
            target_dir()
        );
    })
}

/// The out-of-process plugin runner's file name.
const RUNNER: &str = "crm-plugin-runner";

fn build_library() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    for args in [
        &["-p", "crm-ffi", "--features", "testing"][..],
        // The runner, for out-of-process plugins and `crm-plugin-runner package`. Same features
        // of crm-plugins as crm-ffi uses, so it shares its build.
        &["-p", "crm-plugins", "--bin", RUNNER][..],
    ] {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(root())
            .arg("build")
            .args(args)
            .arg("--target-dir")
            .arg(target_dir());
        if profile() == "release" {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("run cargo build");
        assert!(
            out.status.success(),
            "cargo build {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Whether `needle` occurs as a NUL-terminated string (as symbol names do in a library).
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.split(|&b| b == 0).any(|s| s.ends_with(needle))
}

/// Removes the snapshots of test processes that have ended (Linux: no `/proc/<pid>`).
fn remove_dead_snapshots(snapshots: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(snapshots) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let pid = name.to_string_lossy();
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(&*pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn tool(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Where the compiled test programs go: private to this process, like the library.
fn bin_dir() -> PathBuf {
    let dir = lib_dir().join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const CFLAGS: &[&str] = &["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"];

/// Compiles `sources` into an executable linked against the shared library (with an rpath, so
/// it runs from anywhere) or, with `static_lib`, against libcrm.a.
fn compile(name: &str, sources: &[&str], static_lib: bool) -> PathBuf {
    let lib = lib_dir();
    let exe = bin_dir().join(name);
    let mut cmd = Command::new(tool("CC", "cc"));
    cmd.args(CFLAGS)
        .arg("-I")
        .arg(root().join("include"))
        .arg("-I")
        .arg(root().join("tests/c"));
    for s in sources {
        cmd.arg(root().join(s));
    }
    cmd.arg("-o").arg(&exe);
    if static_lib {
        cmd.arg(lib.join("libcrm.a"))
            .args(["-lpthread", "-ldl", "-lm"]);
    } else {
        cmd.arg("-L")
            .arg(lib)
            .arg("-lcrm")
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .arg("-lpthread");
    }
    let out = cmd.output().expect("run the C compiler");
    assert!(
        out.status.success(),
        "compiling {name} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Runs `cmd`, killing it after `limit`.
fn run_with_limit(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the test program");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect output");
            panic!(
                "timed out after {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a compiled C program with a fresh scratch directory as its argument (under
/// `CRM_C_TEST_RUNNER` when set) and asserts it exits with 0.
fn run(exe: &Path) {
    run_with(exe, |dir| dir.to_path_buf())
}

/// Like [`run`], with the argument made from the scratch directory by `arg`.
fn run_with(exe: &Path, arg: impl FnOnce(&Path) -> PathBuf) {
    run_with_args(exe, |dir| vec![arg(dir)])
}

/// Like [`run`], with the arguments made from the scratch directory by `args`.
fn run_with_args(exe: &Path, args: impl FnOnce(&Path) -> Vec<PathBuf>) {
    let scratch = tempfile::tempdir().unwrap();
    let runner = std::env::var("CRM_C_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    let mut cmd = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.args(args(scratch.path()));
    // `cargo test` puts target/debug/deps on LD_LIBRARY_PATH, which outranks the rpath: the
    // workspace's own libcrm.so (built without the `testing` feature) would be loaded instead.
    cmd.env_remove("LD_LIBRARY_PATH");
    let out = run_with_limit(cmd, Duration::from_secs(600));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "{} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        exe.display(),
        out.status
    );
    if !runner.is_empty() {
        // The runner's verdict (valgrind's summary), shown with --nocapture.
        let name = exe.file_name().unwrap_or_default().to_string_lossy();
        for line in stderr.lines().filter(|l| {
            l.contains("ERROR SUMMARY")
                || l.contains("definitely lost")
                || l.contains("indirectly lost")
        }) {
            eprintln!("{name}: {line}");
        }
    }
}

#[test]
fn basic_shared() {
    run(&compile("basic", &["tests/c/basic.c"], false));
}

#[test]
fn basic_static() {
    run(&compile("basic_static", &["tests/c/basic.c"], true));
}

#[test]
fn bad_input() {
    run(&compile("bad_input", &["tests/c/bad_input.c"], false));
}

#[test]
fn threads() {
    run(&compile("threads", &["tests/c/threads.c"], false));
}

/// The hello connector (`examples/plugins/hello/hello.c`), compiled once per test process the
/// way its header comment says.
fn hello_library() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let out = bin_dir().join("libhello.so");
        let status = Command::new(tool("CC", "cc"))
            .args(["-shared", "-fPIC", "-fvisibility=hidden", "-std=c99"])
            .args(["-Wall", "-Wextra", "-Werror", "-g"])
            .arg("-I")
            .arg(root().join("include"))
            .arg("-o")
            .arg(&out)
            .arg(root().join("examples/plugins/hello/hello.c"))
            .status()
            .expect("run the C compiler");
        assert!(status.success(), "compiling hello.c failed");
        out
    })
}

/// Makes `<scratch>/plugins` holding `hello` (installed by `crm-plugin-runner package` from
/// its manifest template), `tampered` (the same library under a manifest with a wrong SHA-256)
/// and `nomanifest` (an empty directory), and returns it.
fn plugin_dir(scratch: &Path) -> PathBuf {
    let dir = scratch.join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(lib_dir().join(RUNNER))
        .arg("package")
        .arg(root().join("examples/plugins/hello/crm-plugin.toml"))
        .arg(hello_library())
        .arg(&dir)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("run crm-plugin-runner package");
    assert!(
        out.status.success(),
        "crm-plugin-runner package failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hello = dir.join("hello");
    let manifest = std::fs::read_to_string(hello.join("crm-plugin.toml")).unwrap();
    assert!(manifest.contains("sha256 = \""), "{manifest}");
    let tampered = dir.join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    std::fs::copy(hello.join("libhello.so"), tampered.join("libhello.so")).unwrap();
    let wrong: String = manifest
        .lines()
        .map(|l| match l.split('=').next().map(str::trim) {
            Some("id") => "id = \"tampered\"".to_string(),
            Some("sha256") => format!("sha256 = \"{}\"", "0".repeat(64)),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(tampered.join("crm-plugin.toml"), wrong).unwrap();
    std::fs::create_dir_all(dir.join("nomanifest")).unwrap();
    dir
}

/// The plugin host through the C API, with the real hello connector in and out of process.
#[test]
fn plugins() {
    let exe = compile("plugins", &["tests/c/plugins.c"], false);
    run_with_args(&exe, |scratch| {
        vec![
            scratch.to_path_buf(),
            plugin_dir(scratch),
            lib_dir().join(RUNNER),
        ]
    });
}

#[test]
fn erp_example() {
    run_with(
        &compile("erp_demo", &["examples/c/erp_demo.c"], false),
        |dir| dir.join("erp.db"),
    );
}

/// The header compiles cleanly as C99 and as C++ (included twice in both, and beside
/// `crm_plugin.h`, the plugin ABI header: a program may be both a host and a connector).
#[test]
fn header_compiles_as_c99_and_cpp() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("twice.c");
    std::fs::write(
        &src,
        "#include \"crm.h\"\n#include \"crm.h\"\n#include \"crm_plugin.h\"\n\
         int main(void) { return crm_abi_version() >> 16 == CRM_ABI_VERSION_MAJOR \
         && sizeof(crm_plugin_host) > 0 && CRM_STATUS_PLUGIN_CALL != CRM_PLUGIN_OK ? 0 : 1; }\n",
    )
    .unwrap();
    let out = Command::new(tool("CC", "cc"))
        .args(CFLAGS)
        .arg("-I")
        .arg(root().join("include"))
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(dir.path().join("twice.o"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "crm.h as C99:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cxx = tool("CXX", "c++");
    if !have(&cxx) {
        eprintln!("no C++ compiler ({cxx}); skipping the C++ check");
        return;
    }
    let lib = lib_dir();
    for std in ["-std=c++11", "-std=c++17"] {
        let exe = bin_dir().join(format!("header_cpp{}", &std[8..]));
        let out = Command::new(&cxx)
            .args([std, "-Wall", "-Wextra", "-Werror", "-pedantic"])
            .arg("-I")
            .arg(root().join("include"))
            .arg(root().join("tests/c/header_cpp.cpp"))
            .arg("-o")
            .arg(&exe)
            .arg("-L")
            .arg(lib)
            .arg("-lcrm")
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "crm.h as C++ ({std}):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        run(&exe);
    }
}

/// The shared library exports nothing but `crm_*` (the bundled SQLite and Rust's runtime stay
/// hidden).
#[test]
fn shared_library_exports_only_crm_symbols() {
    if !have("nm") {
        eprintln!("no nm; skipping");
        return;
    }
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(lib_dir().join("libcrm.so"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let symbols: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let foreign: Vec<&&str> = symbols.iter().filter(|s| !s.starts_with("crm_")).collect();
    assert!(
        foreign.is_empty(),
        "exported symbols besides crm_*: {foreign:?}"
    );
    let declared = declared_functions();
    for f in &declared {
        assert!(
            symbols.contains(&f.name.as_str()),
            "{} is declared but not exported",
            f.name
        );
    }
}

struct Declared {
    name: String,
    takes_pointer: bool,
    /// Whether it returns a `crm_status` (destructors and the static-string functions do not).
    returns_status: bool,
    /// The names of its pointer parameters.
    pointer_params: Vec<String>,
}

/// The functions declared in crm.h, with whether any parameter is a pointer.
fn declared_functions() -> Vec<Declared> {
    let header = std::fs::read_to_string(root().join("include/crm.h")).unwrap();
    const STARTS: [&str; 4] = [
        "crm_status crm_",
        "void crm_",
        "const char *crm_",
        "uint32_t crm_",
    ];
    let mut out = Vec::new();
    let mut lines = header.lines();
    while let Some(line) = lines.next() {
        if !STARTS.iter().any(|s| line.starts_with(s)) {
            continue;
        }
        // A declaration may span several lines; it ends with ");".
        let mut decl = line.to_string();
        while !decl.contains(");") {
            decl.push_str(lines.next().expect("unterminated declaration"));
        }
        let open = decl.find('(').unwrap();
        let close = decl.rfind(')').unwrap();
        let name_start = decl[..open].rfind(' ').unwrap() + 1;
        // A parameter is a pointer when it has a `*` or is the callback typedef.
        let pointer_params = decl[open + 1..close]
            .split(',')
            .map(str::trim)
            .filter(|p| p.contains('*') || p.starts_with("crm_progress_fn "))
            .map(|p| {
                p.rsplit(|c: char| c == '*' || c.is_whitespace())
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        out.push(Declared {
            name: decl[name_start..open].trim_start_matches('*').to_string(),
            takes_pointer: decl[open..].contains('*'),
            returns_status: decl.starts_with("crm_status "),
            pointer_params,
        });
    }
    out
}

/// Every function of crm.h is called by the happy-path programs, and every function that takes
/// a pointer is called by bad_input.c (which passes NULL for each of them).
#[test]
fn every_declared_function_is_tested() {
    let read = |p: &str| std::fs::read_to_string(root().join(p)).unwrap();
    let happy = read("tests/c/basic.c") + &read("tests/c/threads.c") + &read("tests/c/plugins.c");
    let bad = read("tests/c/bad_input.c");
    let declared = declared_functions();
    assert!(
        declared.len() > 110,
        "parsed only {} declarations",
        declared.len()
    );
    let mut missing = BTreeSet::new();
    for f in &declared {
        let call = format!("{}(", f.name);
        if !happy.contains(&call) {
            missing.insert(format!("{} (happy path)", f.name));
        }
        if f.takes_pointer && !bad.contains(&call) {
            missing.insert(format!("{} (bad input)", f.name));
        }
    }
    assert!(missing.is_empty(), "untested functions: {missing:?}");
}

/// Pointer parameters that may be NULL (documented so in crm.h): `(function, parameter)`, `*`
/// for every function.
const NULLABLE: &[(&str, &str)] = &[
    ("crm_db_open", "options_json"),
    ("crm_plugins_open", "config_json"),
    ("crm_plugins_enable", "options_json"),
    ("crm_client_link_contact", "position"),
    ("*", "progress"),
    ("*", "user_data"),
];

/// Every pointer parameter of every fallible function that must not be NULL is passed as NULL
/// by bad_input.c, through its `NULL_ARG("name", function(...))` check, which also checks the
/// message names the parameter.
#[test]
fn every_pointer_parameter_is_tested_with_null() {
    let bad: String = std::fs::read_to_string(root().join("tests/c/bad_input.c"))
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut missing = BTreeSet::new();
    let mut checked = 0;
    for f in declared_functions().iter().filter(|f| f.returns_status) {
        for p in &f.pointer_params {
            let nullable = NULLABLE
                .iter()
                .any(|(func, param)| (*func == "*" || *func == f.name) && param == p);
            if nullable {
                continue;
            }
            checked += 1;
            if !bad.contains(&format!("NULL_ARG(\"{p}\",{}(", f.name)) {
                missing.insert(format!("{}({p})", f.name));
            }
        }
    }
    assert!(checked > 250, "checked only {checked} pointer parameters");
    assert!(
        missing.is_empty(),
        "pointer parameters never passed as NULL in bad_input.c: {missing:?}"
    );
}

/// The Python ctypes example runs against the library, with the hello plugin.
#[test]
fn python_example() {
    if !have("python3") {
        eprintln!("no python3; skipping");
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("python3");
    cmd.env_remove("LD_LIBRARY_PATH")
        .arg(root().join("examples/python/erp_demo.py"))
        .arg(scratch.path().join("erp.db"))
        .env("CRM_LIBRARY", lib_dir().join("libcrm.so"))
        .env("CRM_PLUGIN_DIR", plugin_dir(scratch.path()));
    let out = run_with_limit(cmd, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "python example failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
