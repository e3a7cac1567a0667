/*
 * plugins.c -- the plugin host through the C API (ABI 1.2), with a real plugin: the C example
 * connector examples/plugins/hello/hello.c. tests/c_api.rs compiles it and installs it into
 * PLUGIN_DIR with `crm-plugin-runner package` (manifest template + library + SHA-256), beside
 * `tampered` (the same library, a manifest with a wrong SHA-256) and `nomanifest` (an empty
 * directory).
 *
 * Checked here: every crm_plugins_* function on its happy path (list, enable, call, status,
 * statuses, take_emitted, notify, disable, close), event delivery from the outbox to the plugin
 * as its CRM user, refusals with their status codes (no plugin directory, unknown id, bad
 * options and config JSON, wrong checksum, no manifest, already enabled, not enabled, a failing
 * plugin call, a reserved method), the plugin out of process through crm-plugin-runner, and the
 * lifetime rule: crm_db_close shuts down every plugin host opened on the database -- while
 * other threads are calling the plugin -- and the host then answers CRM_STATUS_DB_CLOSED until
 * crm_plugins_close frees it. Run under valgrind by .ci/c-tests.sh.
 *
 * Usage: plugins SCRATCH_DIR PLUGIN_DIR [RUNNER]
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <time.h>

#include "test_util.h"

static char cfg[8192];
static char opts[512];

static char sentinel_byte;
#define SENTINEL ((char *)&sentinel_byte)
/* An output no failing call may write. */
static char *o = SENTINEL;
static crm_plugins *o_plugins = (crm_plugins *)&sentinel_byte;

/* The connector user of the current database (the owner of the test's clients). */
static int64_t owner = 0;

static void drop(char **s) {
    crm_string_free(*s);
    *s = NULL;
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static int count_of(const char *text, const char *needle) {
    int n = 0;
    const char *p = text;
    size_t len = strlen(needle);
    while (p && (p = strstr(p, needle)) != NULL) {
        n++;
        p += len;
    }
    return n;
}

/* A department, a connector user who may read every client, and the system context. Returns
 * the user's id. */
static int64_t setup(crm_db *db, crm_ctx **out_sys) {
    char *out = NULL;
    char req[256];
    int64_t dept, uid, role, asg;
    CHECK_OK(crm_ctx_new_system(db, "plugin test", out_sys));
    CHECK_OK(crm_department_create(*out_sys, "{\"name\":\"Integrations\"}", &out));
    dept = json_int(out, "id");
    drop(&out);
    snprintf(req, sizeof req,
             "{\"name\":\"Connector\",\"email\":\"connector@example.com\",\"department_id\":%lld}",
             (long long)dept);
    CHECK_OK(crm_user_create(*out_sys, req, &out));
    uid = json_int(out, "id");
    drop(&out);
    CHECK_OK(crm_role_create(*out_sys, "Reader",
                             "[{\"entity\":\"client\",\"action\":\"read\",\"level\":\"all\"}]", &out));
    role = json_int(out, "id");
    drop(&out);
    snprintf(req, sizeof req, "{\"kind\":\"user\",\"user_id\":%lld}", (long long)uid);
    CHECK_OK(crm_role_assign(*out_sys, role, req, &asg));
    owner = uid;
    return uid;
}

static void create_clients(crm_ctx *sys, int n, const char *prefix) {
    char req[160];
    char *out = NULL;
    int i;
    for (i = 0; i < n; i++) {
        snprintf(req, sizeof req, "{\"kind\":\"organization\",\"name\":\"%s %d\",\"owner_id\":%lld}",
                 prefix, i, (long long)owner);
        CHECK_OK(crm_client_create(sys, req, &out));
        drop(&out);
    }
}

/* Waits (up to 60 s: valgrind is slow) until the plugin acknowledged every event of the
 * outbox; returns the head. */
static int64_t wait_delivered(crm_plugins *p, crm_ctx *sys, const char *id) {
    int64_t head = 0, cursor = -1;
    char *st = NULL;
    int i;
    CHECK_OK(crm_outbox_head(sys, &head));
    for (i = 0; i < 3000; i++) {
        CHECK_OK(crm_plugins_notify(p));
        CHECK_OK(crm_plugins_status(p, id, &st));
        cursor = json_int(st, "cursor");
        drop(&st);
        if (cursor >= head) break;
        sleep_ms(20);
    }
    EXPECT(head > 0);
    if (cursor < head) T_FAIL("%s acknowledged up to %lld, outbox head %lld", id, (long long)cursor,
                              (long long)head);
    return head;
}

/* A host without a plugin directory: loading is off. Bad host configurations. */
static void test_disabled(crm_db *db) {
    crm_plugins *p = NULL;
    char *out = NULL;

    EXPECT_FAIL(CRM_STATUS_MALFORMED_JSON, "config_json", crm_plugins_open(db, "{", &o_plugins));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "unknown field `plugin_directory`",
                crm_plugins_open(db, "{\"plugin_directory\":\"/x\"}", &o_plugins));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "batch_size",
                crm_plugins_open(db, "{\"batch_size\":\"many\"}", &o_plugins));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_INVALID, "batch_size",
                crm_plugins_open(db, "{\"batch_size\":0}", &o_plugins));
    EXPECT(o_plugins == (crm_plugins *)&sentinel_byte);

    CHECK_OK(crm_plugins_open(db, NULL, &p));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_DISABLED, "no plugin directory", crm_plugins_list(p, &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_DISABLED, "no plugin directory",
                crm_plugins_enable(p, "hello", "{\"user_id\":1}", &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_DISABLED, "no plugin directory",
                crm_plugins_status(p, "hello", &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_NOT_ENABLED, "not enabled",
                crm_plugins_call(p, "hello", "hello", "{}", &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_NOT_ENABLED, "not enabled", crm_plugins_disable(p, "hello"));
    EXPECT(o == SENTINEL);
    CHECK_OK(crm_plugins_statuses(p, &out));
    EXPECT(strcmp(out, "[]") == 0);
    drop(&out);
    CHECK_OK(crm_plugins_notify(p));
    EXPECT(strcmp(crm_status_name(CRM_STATUS_PLUGIN_DISABLED), "CRM_STATUS_PLUGIN_DISABLED") == 0);
    EXPECT(strcmp(crm_status_name(CRM_STATUS_PLUGIN_IO), "CRM_STATUS_PLUGIN_IO") == 0);
    EXPECT(CRM_STATUS_PLUGIN_DISABLED == 60 && CRM_STATUS_PLUGIN_IO == 71);
    crm_plugins_close(p);
    crm_plugins_close(NULL);
}

/* hello in process: list, refusals, enable, calls, event delivery, status, disable. */
static void test_hello(crm_db *db, crm_ctx *sys, int64_t uid, const char *plugin_dir) {
    crm_plugins *p = NULL, *missing = NULL;
    char *out = NULL;
    int64_t head;

    /* A plugin directory that does not exist: listing it is an I/O error. */
    snprintf(cfg, sizeof cfg, "{\"plugin_dir\":\"%s/no-such-dir\"}", plugin_dir);
    CHECK_OK(crm_plugins_open(db, cfg, &missing));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_IO, "no-such-dir", crm_plugins_list(missing, &o));
    crm_plugins_close(missing);

    snprintf(cfg, sizeof cfg,
             "{\"plugin_dir\":\"%s\",\"poll_interval_ms\":20,\"retry_initial_ms\":20,"
             "\"log_lines\":50}",
             plugin_dir);
    CHECK_OK(crm_plugins_open(db, cfg, &p));

    /* Listing runs no plugin code: hello is valid, the two broken ones say why not. */
    CHECK_OK(crm_plugins_list(p, &out));
    EXPECT(json_array_len(out) == 3);
    EXPECT(has(out, "\"id\":\"hello\"") && has(out, "\"id\":\"tampered\"") &&
           has(out, "\"id\":\"nomanifest\""));
    EXPECT(count_of(out, "\"valid\":true") == 1 && count_of(out, "\"valid\":false") == 2);
    EXPECT(count_of(out, "\"enabled\":false") == 3);
    EXPECT(has(out, "\"kind\":\"checksum\"") && has(out, "\"kind\":\"manifest\""));
    EXPECT(has(out, "\"capabilities\":[\"log\",\"crm.read\"]"));
    EXPECT(has(out, "\"events\":[\"client.create\"]"));
    drop(&out);

    /* Refusals, each with its status; nothing gets enabled. */
    EXPECT_FAIL(CRM_STATUS_PLUGIN_INVALID, "user_id", crm_plugins_enable(p, "hello", NULL, &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_INVALID, "user_id", crm_plugins_enable(p, "hello", "{}", &o));
    EXPECT_FAIL(CRM_STATUS_MALFORMED_JSON, "options_json",
                crm_plugins_enable(p, "hello", "{\"user_id\":", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "unknown field `user`",
                crm_plugins_enable(p, "hello", "{\"user\":1}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "mode",
                crm_plugins_enable(p, "hello", "{\"user_id\":1,\"mode\":\"elsewhere\"}", &o));
    snprintf(opts, sizeof opts, "{\"user_id\":%lld,\"config\":[1]}", (long long)uid);
    EXPECT_FAIL(CRM_STATUS_PLUGIN_INVALID, "config", crm_plugins_enable(p, "hello", opts, &o));
    EXPECT_FAIL(CRM_STATUS_NOT_FOUND, "user", crm_plugins_enable(p, "hello", "{\"user_id\":99999}", &o));
    snprintf(opts, sizeof opts, "{\"user_id\":%lld}", (long long)uid);
    EXPECT_FAIL(CRM_STATUS_PLUGIN_NOT_FOUND, "\"nope\"", crm_plugins_enable(p, "nope", opts, &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_NOT_FOUND, "\"../hello\"",
                crm_plugins_enable(p, "../hello", opts, &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_CHECKSUM, "sha256", crm_plugins_enable(p, "tampered", opts, &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_MANIFEST, "crm-plugin.toml",
                crm_plugins_enable(p, "nomanifest", opts, &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_NOT_FOUND, "\"nope\"", crm_plugins_status(p, "nope", &o));
    EXPECT(o == SENTINEL);
    CHECK_OK(crm_plugins_statuses(p, &out));
    EXPECT(strcmp(out, "[]") == 0);
    drop(&out);

    /* Two events before the plugin is enabled: it gets them too (start_at_head is false). */
    create_clients(sys, 2, "Before");

    CHECK_OK(crm_plugins_enable(p, "hello", opts, &out));
    EXPECT(has(out, "\"id\":\"hello\"") && has(out, "\"enabled\":true"));
    EXPECT(has(out, "\"name\":\"hello\"") && has(out, "\"version\":\"1.0.0\""));
    EXPECT(has(out, "\"mode\":\"in_process\""));
    EXPECT(json_int(out, "user_id") == uid);
    drop(&out);
    EXPECT_FAIL(CRM_STATUS_PLUGIN_ALREADY_ENABLED, "already enabled",
                crm_plugins_enable(p, "hello", opts, &o));

    /* Calls: JSON in, JSON out. */
    CHECK_OK(crm_plugins_call(p, "hello", "hello", "{}", &out));
    EXPECT(has(out, "\"greeting\":\"Hello from C\""));
    EXPECT(json_int(out, "calls") == 1);
    drop(&out);
    CHECK_OK(crm_plugins_call(p, "hello", "whoami", "{\"ignored\":[1,2,3]}", &out));
    EXPECT(json_int(out, "user_id") == uid); /* the plugin's CRM calls act as its user */
    drop(&out);
    EXPECT_FAIL(CRM_STATUS_PLUGIN_CALL, "method \"nope\": unknown_method: ",
                crm_plugins_call(p, "hello", "nope", "{}", &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_CALL, "hello: unknown method \"nope\"",
                crm_plugins_call(p, "hello", "nope", "{}", &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_INVALID, "reserved for the host",
                crm_plugins_call(p, "hello", "crm.events", "{\"events\":[]}", &o));
    EXPECT_FAIL(CRM_STATUS_MALFORMED_JSON, "input_json",
                crm_plugins_call(p, "hello", "hello", "{", &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_NOT_ENABLED, "\"tampered\" is not enabled",
                crm_plugins_call(p, "tampered", "hello", "{}", &o));
    EXPECT(o == SENTINEL);

    /* Event delivery: the outbox reaches the plugin, in order, through its delivery thread. */
    create_clients(sys, 3, "After");
    head = wait_delivered(p, sys, "hello");
    CHECK_OK(crm_plugins_call(p, "hello", "events_seen", "{}", &out));
    EXPECT(json_int(out, "events") == 5);
    drop(&out);
    CHECK_OK(crm_plugins_status(p, "hello", &out));
    EXPECT(json_int(out, "delivered") == 5);
    EXPECT(json_int(out, "head") == head);
    EXPECT(json_int(out, "failures") == 0);
    EXPECT(has(out, "\"message\":\"hello: created\""));
    EXPECT(has(out, "\"restarts\":0"));
    printf("hello status: %s\n", out);
    drop(&out);
    CHECK_OK(crm_plugins_statuses(p, &out));
    EXPECT(json_array_len(out) == 1 && has(out, "\"id\":\"hello\""));
    drop(&out);
    CHECK_OK(crm_plugins_status(p, "tampered", &out));
    EXPECT(has(out, "\"enabled\":false"));
    drop(&out);
    CHECK_OK(crm_plugins_take_emitted(p, "hello", &out));
    EXPECT(strcmp(out, "[]") == 0); /* hello emits nothing */
    drop(&out);
    CHECK_OK(crm_plugins_list(p, &out));
    EXPECT(count_of(out, "\"enabled\":true") == 1);
    drop(&out);

    /* Disable: the instance is destroyed, the cursor stays in the database. */
    CHECK_OK(crm_plugins_disable(p, "hello"));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_NOT_ENABLED, "not enabled", crm_plugins_disable(p, "hello"));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_NOT_ENABLED, "not enabled",
                crm_plugins_call(p, "hello", "hello", "{}", &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_NOT_ENABLED, "not enabled",
                crm_plugins_take_emitted(p, "hello", &o));
    CHECK_OK(crm_plugins_status(p, "hello", &out));
    EXPECT(has(out, "\"enabled\":false") && has(out, "\"state\":\"stopped\""));
    EXPECT(json_int(out, "cursor") == head);
    drop(&out);
    CHECK_OK(crm_plugins_statuses(p, &out));
    EXPECT(strcmp(out, "[]") == 0);
    drop(&out);

    /* Enabled again (the library stays mapped and is reused): a new instance, same cursor,
     * nothing delivered twice. Then the host is closed with the plugin enabled. */
    CHECK_OK(crm_plugins_enable(p, "hello", opts, &out));
    drop(&out);
    CHECK_OK(crm_plugins_call(p, "hello", "hello", "{}", &out));
    EXPECT(json_int(out, "calls") == 1);
    drop(&out);
    create_clients(sys, 1, "Again");
    wait_delivered(p, sys, "hello");
    CHECK_OK(crm_plugins_call(p, "hello", "events_seen", "{}", &out));
    EXPECT(json_int(out, "events") == 1);
    drop(&out);
    crm_plugins_close(p);
    /* A closed handle is detected. */
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "not a live crm_plugins", crm_plugins_list(p, &o));
    crm_plugins_close(p);
    EXPECT(crm_last_error_code() == CRM_STATUS_INVALID_HANDLE);
}

/* hello in a crm-plugin-runner child process. */
static void test_out_of_process(crm_db *db, crm_ctx *sys, int64_t uid, const char *plugin_dir,
                                const char *runner) {
    crm_plugins *p = NULL;
    char *out = NULL;

    snprintf(cfg, sizeof cfg,
             "{\"plugin_dir\":\"%s\",\"runner\":\"%s\",\"poll_interval_ms\":20,"
             "\"call_timeout_ms\":60000}",
             plugin_dir, runner);
    CHECK_OK(crm_plugins_open(db, cfg, &p));
    snprintf(opts, sizeof opts, "{\"user_id\":%lld,\"mode\":\"out_of_process\",\"start_at_head\":true}",
             (long long)uid);
    CHECK_OK(crm_plugins_enable(p, "hello", opts, &out));
    EXPECT(has(out, "\"mode\":\"out_of_process\"") && has(out, "\"name\":\"hello\""));
    drop(&out);
    CHECK_OK(crm_plugins_call(p, "hello", "hello", "{}", &out));
    EXPECT(has(out, "Hello from C") && json_int(out, "calls") == 1);
    drop(&out);
    CHECK_OK(crm_plugins_call(p, "hello", "whoami", "{}", &out));
    EXPECT(json_int(out, "user_id") == uid);
    drop(&out);
    EXPECT_FAIL(CRM_STATUS_PLUGIN_CALL, "method \"nope\": unknown_method: ",
                crm_plugins_call(p, "hello", "nope", "{}", &o));
    create_clients(sys, 2, "Remote");
    wait_delivered(p, sys, "hello");
    CHECK_OK(crm_plugins_call(p, "hello", "events_seen", "{}", &out));
    EXPECT(json_int(out, "events") == 2);
    drop(&out);
    CHECK_OK(crm_plugins_status(p, "hello", &out));
    EXPECT(has(out, "\"restarts\":0"));
    drop(&out);
    CHECK_OK(crm_plugins_disable(p, "hello"));
    crm_plugins_close(p);
}

/* Threads calling the plugin while the database is closed under them. */
struct caller {
    crm_plugins *p;
    int ok, closed, other;
};

static void *call_loop(void *arg) {
    struct caller *c = arg;
    char *out = NULL;
    int i;
    for (i = 0; i < 100000; i++) {
        crm_status st = crm_plugins_call(c->p, "hello", "hello", "{}", &out);
        if (st == CRM_STATUS_OK) {
            c->ok++;
            drop(&out);
        } else if (st == CRM_STATUS_DB_CLOSED) {
            c->closed++;
            break;
        } else {
            c->other++;
            fprintf(stderr, "unexpected %s: %s\n", crm_status_name(st), crm_last_error_message());
            break;
        }
    }
    return NULL;
}

#define THREADS 3

/* crm_db_close shuts down every plugin host of the database -- waiting for the calls in flight
 * -- and the hosts then answer CRM_STATUS_DB_CLOSED until crm_plugins_close. */
static void test_db_closed_first(const char *dir, const char *plugin_dir) {
    crm_db *db = NULL;
    crm_ctx *sys = NULL;
    crm_plugins *p = NULL, *idle = NULL;
    char *out = NULL;
    int64_t uid, acked = 0;
    pthread_t th[THREADS];
    struct caller callers[THREADS];
    int i;

    CHECK_OK(crm_db_open(db_path(dir, "closed-first.db"), NULL, &db));
    uid = setup(db, &sys);
    snprintf(cfg, sizeof cfg, "{\"plugin_dir\":\"%s\",\"poll_interval_ms\":20}", plugin_dir);
    CHECK_OK(crm_plugins_open(db, cfg, &p));
    CHECK_OK(crm_plugins_open(db, NULL, &idle)); /* a second host on the same database */
    snprintf(opts, sizeof opts, "{\"user_id\":%lld}", (long long)uid);
    CHECK_OK(crm_plugins_enable(p, "hello", opts, &out));
    drop(&out);
    create_clients(sys, 2, "Closing");
    wait_delivered(p, sys, "hello");

    for (i = 0; i < THREADS; i++) {
        callers[i].p = p;
        callers[i].ok = callers[i].closed = callers[i].other = 0;
        EXPECT(pthread_create(&th[i], NULL, call_loop, &callers[i]) == 0);
    }
    sleep_ms(200);
    crm_db_close(db); /* with the plugin enabled, its delivery thread alive, calls in flight */
    for (i = 0; i < THREADS; i++) {
        EXPECT(pthread_join(th[i], NULL) == 0);
        EXPECT(callers[i].closed == 1 && callers[i].other == 0);
        printf("caller %d: %d calls before the close\n", i, callers[i].ok);
    }

    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed with crm_db_close",
                crm_plugins_call(p, "hello", "hello", "{}", &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_list(p, &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_enable(p, "hello", opts, &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_disable(p, "hello"));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_status(p, "hello", &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_statuses(p, &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_take_emitted(p, "hello", &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_notify(p));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_statuses(idle, &o));
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "not a live crm_db", crm_plugins_open(db, NULL, &o_plugins));
    EXPECT(o == SENTINEL && o_plugins == (crm_plugins *)&sentinel_byte);
    crm_plugins_close(idle);
    crm_plugins_close(p);
    crm_ctx_free(sys);

    /* The file was really closed and the plugin's cursor kept: reopen it. */
    CHECK_OK(crm_db_open(db_path(dir, "closed-first.db"), NULL, &db));
    CHECK_OK(crm_ctx_new_system(db, "reopen", &sys));
    CHECK_OK(crm_outbox_acked(sys, "hello", &acked));
    EXPECT(acked >= 2);
    crm_ctx_free(sys);
    crm_db_close(db);
}

int main(int argc, char **argv) {
    crm_db *db = NULL;
    crm_ctx *sys = NULL;
    int64_t uid;

    if (argc < 3) {
        fprintf(stderr, "usage: %s SCRATCH_DIR PLUGIN_DIR [RUNNER]\n", argv[0]);
        return 2;
    }
    EXPECT(crm_abi_version() >= ((1u << 16) | 2u));
    CHECK_OK(crm_db_open(db_path(argv[1], "plugins.db"), NULL, &db));
    uid = setup(db, &sys);

    test_disabled(db);
    test_hello(db, sys, uid, argv[2]);
    if (argc > 3) {
        test_out_of_process(db, sys, uid, argv[2], argv[3]);
    } else {
        printf("no runner given: out-of-process mode not tested\n");
    }
    crm_ctx_free(sys);
    crm_db_close(db);

    test_db_closed_first(argv[1], argv[2]);
    return t_finish("plugins");
}
