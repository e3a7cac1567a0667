/*
 * bad_input.c -- every kind of bad input from C is answered with its status and a message,
 * never a crash, and outputs are left untouched:
 *   NULL for every pointer argument, invalid UTF-8, malformed JSON, JSON of the wrong shape,
 *   engine validation errors, unknown enum integers and flags, handles already closed or of the
 *   wrong type, contexts and cursors used after their database was closed, storage errors, a
 *   database from a newer engine, and a panic inside the library.
 *
 * The functions of ABI 1.1 get the same treatment, plus bad timestamps, dates, currencies and
 * rates, files that cannot be read or written, and progress callbacks that cancel: an
 * all-or-nothing import then writes nothing, and an export or a backup leaves no file.
 *
 * The plugin host of ABI 1.2 (crm_plugins): NULL for every pointer argument, invalid UTF-8, bad
 * configuration and options JSON, an unknown plugin, handles closed or of the wrong type, and a
 * host used after its database was closed. (tests/c/plugins.c loads a real plugin.)
 *
 * Usage: bad_input SCRATCH_DIR
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <sys/stat.h>

#include "test_util.h"

/* Exported only by a build with the `testing` feature (tests/c_api.rs builds it so). */
crm_status crm_testing_panic(int32_t really);

static char sentinel_byte;
#define SENTINEL ((char *)&sentinel_byte)

/* Outputs that no failing call may write. */
static char *o = SENTINEL;
static crm_db *o_db = (crm_db *)&sentinel_byte;
static crm_ctx *o_ctx = (crm_ctx *)&sentinel_byte;
static crm_cursor *o_cur = (crm_cursor *)&sentinel_byte;
static crm_plugins *o_plugins = (crm_plugins *)&sentinel_byte;
static int64_t o_i64 = 777;
static uint64_t o_u64 = 777;
static int32_t o_i32 = 777;
static size_t o_len = 777;

static void outputs_untouched(const char *where) {
    t_checks++;
    if (o != SENTINEL || o_db != (crm_db *)&sentinel_byte || o_ctx != (crm_ctx *)&sentinel_byte ||
        o_cur != (crm_cursor *)&sentinel_byte || o_plugins != (crm_plugins *)&sentinel_byte ||
        o_i64 != 777 || o_u64 != 777 || o_i32 != 777 ||
        o_len != 777)
        T_FAIL("a failing call wrote an output (%s)", where);
}

#define NULL_ARG(name, call) EXPECT_FAIL(CRM_STATUS_NULL_ARGUMENT, "`" name "` is NULL", call)

static const char *CLIENT = "{\"kind\":\"organization\",\"name\":\"Acme\"}";
static const char *GRANTS = "[{\"entity\":\"client\",\"action\":\"read\",\"level\":\"all\"}]";
static const char *SUBJECT = "{\"kind\":\"user\",\"user_id\":1}";
static const char *RULE = "{\"subject\":{\"kind\":\"user\",\"user_id\":1},\"entity\":\"client\","
                          "\"action\":\"delete\",\"target\":{\"kind\":\"all_records\"}}";
static const char *FIELD = "{\"entity\":\"client\",\"key\":\"k\",\"label\":\"K\",\"field_type\":\"text\"}";

static void null_arguments(const char *dir, crm_db *db, crm_ctx *c) {
    crm_cursor *cur = NULL;
    CHECK_OK(crm_client_list_cursor(c, "{}", &cur));

    NULL_ARG("path", crm_db_open(NULL, NULL, &o_db));
    NULL_ARG("out_db", crm_db_open(db_path(dir, "never.db"), NULL, NULL));
    NULL_ARG("db", crm_db_path(NULL, &o));
    NULL_ARG("out_path", crm_db_path(db, NULL));

    NULL_ARG("db", crm_ctx_new_user(NULL, 1, &o_ctx));
    NULL_ARG("out_ctx", crm_ctx_new_user(db, 1, NULL));
    NULL_ARG("db", crm_ctx_new_system(NULL, "r", &o_ctx));
    NULL_ARG("reason", crm_ctx_new_system(db, NULL, &o_ctx));
    NULL_ARG("out_ctx", crm_ctx_new_system(db, "r", NULL));
    NULL_ARG("ctx", crm_ctx_actor(NULL, &o));
    NULL_ARG("out_json", crm_ctx_actor(c, NULL));

    NULL_ARG("ctx", crm_client_create(NULL, CLIENT, &o));
    NULL_ARG("client_json", crm_client_create(c, NULL, &o));
    NULL_ARG("out_json", crm_client_create(c, CLIENT, NULL));
    NULL_ARG("ctx", crm_client_create_batch(NULL, "[]", &o));
    NULL_ARG("clients_json", crm_client_create_batch(c, NULL, &o));
    NULL_ARG("out_json", crm_client_create_batch(c, "[]", NULL));
    NULL_ARG("ctx", crm_client_get(NULL, 1, &o));
    NULL_ARG("out_json", crm_client_get(c, 1, NULL));
    NULL_ARG("ctx", crm_client_update(NULL, 1, 1, "{}", &o));
    NULL_ARG("update_json", crm_client_update(c, 1, 1, NULL, &o));
    NULL_ARG("out_json", crm_client_update(c, 1, 1, "{}", NULL));
    NULL_ARG("ctx", crm_client_archive(NULL, 1, 1, &o));
    NULL_ARG("out_json", crm_client_archive(c, 1, 1, NULL));
    NULL_ARG("ctx", crm_client_restore(NULL, 1, 1, &o));
    NULL_ARG("out_json", crm_client_restore(c, 1, 1, NULL));
    NULL_ARG("ctx", crm_client_delete(NULL, 1, 1));
    NULL_ARG("ctx", crm_client_assign(NULL, 1, 1, 1, &o));
    NULL_ARG("out_json", crm_client_assign(c, 1, 1, 1, NULL));
    NULL_ARG("ctx", crm_client_link_contact(NULL, 1, 2, "CFO"));
    NULL_ARG("ctx", crm_client_unlink_contact(NULL, 1, 2));
    NULL_ARG("ctx", crm_client_contacts(NULL, 1, &o));
    NULL_ARG("out_json", crm_client_contacts(c, 1, NULL));
    NULL_ARG("ctx", crm_client_organizations(NULL, 1, &o));
    NULL_ARG("out_json", crm_client_organizations(c, 1, NULL));
    NULL_ARG("ctx", crm_client_list(NULL, "{}", &o));
    NULL_ARG("query_json", crm_client_list(c, NULL, &o));
    NULL_ARG("out_json", crm_client_list(c, "{}", NULL));
    NULL_ARG("ctx", crm_client_count(NULL, "{}", 10, &o_u64, &o_i32));
    NULL_ARG("query_json", crm_client_count(c, NULL, 10, &o_u64, &o_i32));
    NULL_ARG("out_count", crm_client_count(c, "{}", 10, NULL, &o_i32));
    NULL_ARG("out_exact", crm_client_count(c, "{}", 10, &o_u64, NULL));
    NULL_ARG("ctx", crm_client_search(NULL, "{\"text\":\"a\"}", &o));
    NULL_ARG("query_json", crm_client_search(c, NULL, &o));
    NULL_ARG("out_json", crm_client_search(c, "{\"text\":\"a\"}", NULL));
    NULL_ARG("ctx", crm_client_duplicates(NULL, 1, &o));
    NULL_ARG("out_json", crm_client_duplicates(c, 1, NULL));
    NULL_ARG("ctx", crm_client_find_duplicates(NULL, CLIENT, &o));
    NULL_ARG("client_json", crm_client_find_duplicates(c, NULL, &o));
    NULL_ARG("out_json", crm_client_find_duplicates(c, CLIENT, NULL));

    NULL_ARG("ctx", crm_client_list_cursor(NULL, "{}", &o_cur));
    NULL_ARG("query_json", crm_client_list_cursor(c, NULL, &o_cur));
    NULL_ARG("out_cursor", crm_client_list_cursor(c, "{}", NULL));
    NULL_ARG("ctx", crm_client_search_cursor(NULL, "{\"text\":\"a\"}", &o_cur));
    NULL_ARG("query_json", crm_client_search_cursor(c, NULL, &o_cur));
    NULL_ARG("out_cursor", crm_client_search_cursor(c, "{\"text\":\"a\"}", NULL));
    NULL_ARG("ctx", crm_audit_entries_cursor(NULL, "{}", &o_cur));
    NULL_ARG("query_json", crm_audit_entries_cursor(c, NULL, &o_cur));
    NULL_ARG("out_cursor", crm_audit_entries_cursor(c, "{}", NULL));
    NULL_ARG("cursor", crm_cursor_next(NULL, &o));
    NULL_ARG("out_json", crm_cursor_next(cur, NULL));

    NULL_ARG("ctx", crm_custom_field_define(NULL, FIELD, &o));
    NULL_ARG("field_json", crm_custom_field_define(c, NULL, &o));
    NULL_ARG("out_json", crm_custom_field_define(c, FIELD, NULL));
    NULL_ARG("ctx", crm_custom_field_list(NULL, CRM_ENTITY_CLIENT, &o));
    NULL_ARG("out_json", crm_custom_field_list(c, CRM_ENTITY_CLIENT, NULL));
    NULL_ARG("ctx", crm_custom_field_delete(NULL, CRM_ENTITY_CLIENT, 1));

    NULL_ARG("ctx", crm_department_create(NULL, "{\"name\":\"D\"}", &o));
    NULL_ARG("department_json", crm_department_create(c, NULL, &o));
    NULL_ARG("out_json", crm_department_create(c, "{\"name\":\"D\"}", NULL));
    NULL_ARG("ctx", crm_department_rename(NULL, 1, "D"));
    NULL_ARG("name", crm_department_rename(c, 1, NULL));
    NULL_ARG("ctx", crm_department_move(NULL, 1, CRM_NO_ID));
    NULL_ARG("ctx", crm_department_set_head(NULL, 1, CRM_NO_ID));
    NULL_ARG("ctx", crm_department_delete(NULL, 1));
    NULL_ARG("ctx", crm_department_list(NULL, &o));
    NULL_ARG("out_json", crm_department_list(c, NULL));

    NULL_ARG("ctx", crm_user_create(NULL, "{}", &o));
    NULL_ARG("user_json", crm_user_create(c, NULL, &o));
    NULL_ARG("out_json", crm_user_create(c, "{\"name\":\"N\",\"email\":\"n@example.com\",\"department_id\":1}", NULL));
    NULL_ARG("ctx", crm_user_get(NULL, 1, &o));
    NULL_ARG("out_json", crm_user_get(c, 1, NULL));
    NULL_ARG("ctx", crm_user_list(NULL, &o));
    NULL_ARG("out_json", crm_user_list(c, NULL));
    NULL_ARG("ctx", crm_user_set_active(NULL, 1, 1));
    NULL_ARG("ctx", crm_user_set_admin(NULL, 1, 1));
    NULL_ARG("ctx", crm_user_move(NULL, 1, 1, &o_u64));
    NULL_ARG("out_restamped", crm_user_move(c, 1, 1, NULL));

    NULL_ARG("ctx", crm_role_create(NULL, "R", GRANTS, &o));
    NULL_ARG("name", crm_role_create(c, NULL, GRANTS, &o));
    NULL_ARG("grants_json", crm_role_create(c, "R", NULL, &o));
    NULL_ARG("out_json", crm_role_create(c, "R", GRANTS, NULL));
    NULL_ARG("ctx", crm_role_set_grants(NULL, 1, GRANTS));
    NULL_ARG("grants_json", crm_role_set_grants(c, 1, NULL));
    NULL_ARG("ctx", crm_role_delete(NULL, 1));
    NULL_ARG("ctx", crm_role_list(NULL, &o));
    NULL_ARG("out_json", crm_role_list(c, NULL));
    NULL_ARG("ctx", crm_role_assign(NULL, 1, SUBJECT, &o_i64));
    NULL_ARG("subject_json", crm_role_assign(c, 1, NULL, &o_i64));
    NULL_ARG("out_assignment_id", crm_role_assign(c, 1, SUBJECT, NULL));
    NULL_ARG("ctx", crm_role_unassign(NULL, 1));
    NULL_ARG("ctx", crm_role_assignment_list(NULL, &o));
    NULL_ARG("out_json", crm_role_assignment_list(c, NULL));
    NULL_ARG("ctx", crm_forbid_add(NULL, RULE, &o_i64));
    NULL_ARG("rule_json", crm_forbid_add(c, NULL, &o_i64));
    NULL_ARG("out_forbid_id", crm_forbid_add(c, RULE, NULL));
    NULL_ARG("ctx", crm_forbid_remove(NULL, 1));
    NULL_ARG("ctx", crm_forbid_list(NULL, &o));
    NULL_ARG("out_json", crm_forbid_list(c, NULL));

    NULL_ARG("ctx", crm_access_explain(NULL, 1, CRM_ACTION_READ, 1, &o));
    NULL_ARG("out_json", crm_access_explain(c, 1, CRM_ACTION_READ, 1, NULL));
    NULL_ARG("ctx", crm_access_can(NULL, CRM_ACTION_READ, 1, &o_i32));
    NULL_ARG("out_allowed", crm_access_can(c, CRM_ACTION_READ, 1, NULL));

    NULL_ARG("ctx", crm_audit_verify(NULL, &o));
    NULL_ARG("out_json", crm_audit_verify(c, NULL));
    NULL_ARG("ctx", crm_audit_entries(NULL, "{}", &o));
    NULL_ARG("query_json", crm_audit_entries(c, NULL, &o));
    NULL_ARG("out_json", crm_audit_entries(c, "{}", NULL));

    /* Destructors and crm_string_free accept NULL without touching the last error. */
    crm_string_free(NULL);
    crm_db_close(NULL);
    crm_ctx_free(NULL);
    crm_cursor_free(NULL);
    EXPECT(crm_last_error_code() == CRM_STATUS_NULL_ARGUMENT);
    crm_cursor_free(cur);
    outputs_untouched("NULL arguments");
}

static void bad_strings_and_json(const char *dir, crm_db *db, crm_ctx *c) {
    /* Invalid UTF-8 in every kind of string argument. */
    EXPECT_FAIL(CRM_STATUS_INVALID_UTF8, "`path` is not valid UTF-8",
                crm_db_open("/tmp/\xff\xfe.db", NULL, &o_db));
    EXPECT_FAIL(CRM_STATUS_INVALID_UTF8, "`client_json`",
                crm_client_create(c, "{\"kind\":\"person\",\"name\":\"\xc3\x28\"}", &o));
    EXPECT_FAIL(CRM_STATUS_INVALID_UTF8, "offset 2", crm_department_rename(c, 1, "ok\xe2\x82"));
    EXPECT_FAIL(CRM_STATUS_INVALID_UTF8, "`position`", crm_client_link_contact(c, 1, 2, "\x80"));
    EXPECT_FAIL(CRM_STATUS_INVALID_UTF8, "`query_json`", crm_client_list(c, "\xf5{}", &o));

    /* Malformed JSON: the message gives line and column. */
    EXPECT_FAIL(CRM_STATUS_MALFORMED_JSON, "`client_json` is not valid JSON",
                crm_client_create(c, "{\"kind\":", &o));
    EXPECT_FAIL(CRM_STATUS_MALFORMED_JSON, "line 2 column", crm_client_list(c, "{\n  limit: 5}", &o));
    EXPECT_FAIL(CRM_STATUS_MALFORMED_JSON, "EOF", crm_client_list(c, "", &o));
    EXPECT_FAIL(CRM_STATUS_MALFORMED_JSON, "trailing", crm_client_list(c, "{} {}", &o));
    EXPECT_FAIL(CRM_STATUS_MALFORMED_JSON, "`options_json`",
                crm_db_open(db_path(dir, "x.db"), "{durability}", &o_db));

    /* JSON of the wrong shape: the message gives the path. */
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "missing field `name`",
                crm_client_create(c, "{\"kind\":\"organization\"}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `kind`: unknown variant `robot`",
                crm_client_create(c, "{\"kind\":\"robot\",\"name\":\"R2\"}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `emails[0].kind`",
                crm_client_create(c,
                                  "{\"kind\":\"person\",\"name\":\"A\",\"emails\":"
                                  "[{\"kind\":\"pager\",\"address\":\"a@example.com\"}]}",
                                  &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `kind`: a value of the wrong type",
                crm_client_create(c, "{\"kind\":5,\"name\":\"R2\"}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at the top level",
                crm_client_create(c, "\"Acme\"", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `[1].name`",
                crm_client_create_batch(c, "[{\"kind\":\"person\",\"name\":\"A\"},{\"kind\":\"person\",\"name\":7}]", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `limit`", crm_client_list(c, "{\"limit\":-1}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `[0].action`",
                crm_role_create(c, "R", "[{\"entity\":\"client\",\"action\":\"fly\",\"level\":\"all\"}]", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "unknown variant `team`",
                crm_role_assign(c, 1, "{\"kind\":\"team\",\"team_id\":1}", &o_i64));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `target`",
                crm_forbid_add(c, "{\"subject\":{\"kind\":\"user\",\"user_id\":1},\"entity\":\"client\",\"action\":\"read\",\"target\":7}", &o_i64));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "unknown field `bogus`",
                crm_db_open(db_path(dir, "x.db"), "{\"bogus\":1}", &o_db));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `durability`",
                crm_db_open(db_path(dir, "x.db"), "{\"durability\":\"sometimes\"}", &o_db));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "missing field `text`", crm_client_search(c, "{}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `before`", crm_audit_entries(c, "{\"before\":\"x\"}", &o));

    /* Well-formed input the engine refuses: the message names the field. */
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "emails[0].address",
                crm_client_create(c,
                                  "{\"kind\":\"person\",\"name\":\"A\",\"owner_id\":1,"
                                  "\"emails\":[{\"address\":\"not an address\"}]}",
                                  &o));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "[1].name",
                crm_client_create_batch(c,
                                        "[{\"kind\":\"person\",\"name\":\"A\",\"owner_id\":1},"
                                        "{\"kind\":\"person\",\"name\":\"  \",\"owner_id\":1}]",
                                        &o));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "limit", crm_client_list(c, "{\"limit\":0}", &o));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "text", crm_client_search(c, "{\"text\":\"  \"}", &o));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "reason", crm_ctx_new_system(db, "", &o_ctx));
    outputs_untouched("strings and JSON");
}

static void bad_enums(crm_ctx *c, int64_t client) {
    EXPECT_FAIL(CRM_STATUS_UNKNOWN_ENUM, "`action` is 0", crm_access_can(c, 0, client, &o_i32));
    EXPECT_FAIL(CRM_STATUS_UNKNOWN_ENUM, "`action` is 8", crm_access_can(c, 8, client, &o_i32));
    EXPECT_FAIL(CRM_STATUS_UNKNOWN_ENUM, "`action` is -1",
                crm_access_explain(c, 1, -1, client, &o));
    EXPECT_FAIL(CRM_STATUS_UNKNOWN_ENUM, "CRM_ENTITY_",
                crm_custom_field_list(c, 0, &o));
    EXPECT_FAIL(CRM_STATUS_UNKNOWN_ENUM, "`entity` is 4", crm_custom_field_delete(c, 4, 1));
    EXPECT_FAIL(CRM_STATUS_UNKNOWN_ENUM, "CRM_ENTITY_* constant (1-3)",
                crm_custom_field_list(c, -3, &o));
    EXPECT_FAIL(CRM_STATUS_UNKNOWN_ENUM, "`active` is 2, which is not 0 or 1",
                crm_automation_rule_set_active(c, 1, 2));
    EXPECT_FAIL(CRM_STATUS_UNKNOWN_ENUM, "`active` is -1", crm_automation_rule_set_active(c, 1, -1));
    EXPECT_FAIL(CRM_STATUS_UNKNOWN_ENUM, "`active` is 2, which is not 0 or 1",
                crm_user_set_active(c, 1, 2));
    EXPECT_FAIL(CRM_STATUS_UNKNOWN_ENUM, "`admin` is -1", crm_user_set_admin(c, 1, -1));
    outputs_untouched("enums");
}

/* Engine errors leave outputs untouched too, and a later success does not clear the error. */
static void engine_errors(crm_ctx *c) {
    char *ok = NULL;
    EXPECT_FAIL(CRM_STATUS_NOT_FOUND, "client 424242 not found", crm_client_get(c, 424242, &o));
    EXPECT_FAIL(CRM_STATUS_NOT_FOUND, "role_assignment 99", crm_role_unassign(c, 99));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "parent_id", crm_department_create(c, "{\"name\":\"X\",\"parent_id\":999}", &o));
    CHECK_OK(crm_department_list(c, &ok));
    crm_string_free(ok);
    EXPECT(crm_last_error_code() == CRM_STATUS_VALIDATION);
    EXPECT(has(crm_last_error_message(), "parent_id"));
    outputs_untouched("engine errors");
}

static void bad_handles(const char *dir) {
    crm_db *db = NULL, *db2 = NULL;
    crm_ctx *c = NULL, *freed = NULL, *user = NULL;
    crm_cursor *cur = NULL, *audit = NULL;
    char *page = NULL, *ok = NULL;
    int64_t dept, uid;
    char buf[256];
    int on_stack = 0;

    CHECK_OK(crm_db_open(db_path(dir, "handles.db"), NULL, &db));
    CHECK_OK(crm_ctx_new_system(db, "handles", &c));
    CHECK_OK(crm_department_create(c, "{\"name\":\"D\"}", &ok));
    dept = json_int(ok, "id");
    crm_string_free(ok);
    snprintf(buf, sizeof buf, "{\"name\":\"U\",\"email\":\"u@example.com\",\"department_id\":%lld}",
             (long long)dept);
    CHECK_OK(crm_user_create(c, buf, &ok));
    uid = json_int(ok, "id");
    crm_string_free(ok);
    snprintf(buf, sizeof buf, "{\"kind\":\"organization\",\"name\":\"Org\",\"owner_id\":%lld}",
             (long long)uid);
    CHECK_OK(crm_client_create(c, buf, &ok));
    crm_string_free(ok);
    CHECK_OK(crm_ctx_new_user(db, uid, &user));
    crm_ctx_free(user);
    CHECK_OK(crm_ctx_new_system(db, "cursor owner", &user));

    /* A handle of the wrong type, and a pointer that is no handle at all. */
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "is a crm_db, not a crm_ctx",
                crm_client_get((const crm_ctx *)db, 1, &o));
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "is a crm_ctx, not a crm_cursor",
                crm_cursor_next((crm_cursor *)c, &o));
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "not a live crm_db",
                crm_db_path((const crm_db *)&on_stack, &o));
    crm_ctx_free((crm_ctx *)db); /* refused: db stays open */
    EXPECT(crm_last_error_code() == CRM_STATUS_INVALID_HANDLE);
    CHECK_OK(crm_db_path(db, &ok));
    crm_string_free(ok);

    /* A context freed, then used and freed again. */
    CHECK_OK(crm_ctx_new_system(db, "short-lived", &freed));
    crm_ctx_free(freed);
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "already closed", crm_client_get(freed, 1, &o));
    crm_ctx_free(freed);
    EXPECT(crm_last_error_code() == CRM_STATUS_INVALID_HANDLE);

    /* A cursor keeps working when its context is freed... */
    CHECK_OK(crm_client_list_cursor(user, "{\"limit\":1}", &cur));
    CHECK_OK(crm_audit_entries_cursor(c, "{\"limit\":2}", &audit));
    crm_ctx_free(user);
    CHECK_OK(crm_cursor_next(cur, &page));
    EXPECT(json_array_len(page) == 1);
    crm_string_free(page);
    page = NULL;

    /* ...and after its database is closed answers CRM_STATUS_DB_CLOSED, as do contexts. */
    crm_db_close(db);
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_cursor_next(audit, &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_cursor_next(audit, &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_client_list(c, "{}", &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_ctx_actor(c, &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_client_list_cursor(c, "{}", &o_cur));
    /* The closed database handle itself is gone. */
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "not a live crm_db", crm_ctx_new_system(db, "again", &o_ctx));
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "not a live crm_db", crm_db_path(db, &o));
    crm_db_close(db); /* a second close is detected and ignored */
    EXPECT(crm_last_error_code() == CRM_STATUS_INVALID_HANDLE);
    crm_cursor_free(cur);
    crm_cursor_free(audit);
    crm_ctx_free(c);

    /* The file is intact: reopen it. */
    CHECK_OK(crm_db_open(db_path(dir, "handles.db"), NULL, &db2));
    CHECK_OK(crm_ctx_new_system(db2, "reopen", &c));
    CHECK_OK(crm_audit_verify(c, &ok));
    EXPECT(has(ok, "\"ok\":true"));
    crm_string_free(ok);
    crm_ctx_free(c);
    crm_db_close(db2);
    outputs_untouched("handles");
}

/* Sets PRAGMA user_version in a closed database file (big-endian at offset 60). */
static int set_user_version(const char *path, uint32_t v) {
    unsigned char b[4];
    FILE *f = fopen(path, "r+b");
    if (!f) return 0;
    b[0] = (unsigned char)(v >> 24);
    b[1] = (unsigned char)(v >> 16);
    b[2] = (unsigned char)(v >> 8);
    b[3] = (unsigned char)v;
    if (fseek(f, 60, SEEK_SET) != 0 || fwrite(b, 1, 4, f) != 4) {
        fclose(f);
        return 0;
    }
    return fclose(f) == 0;
}

static void storage_errors(const char *dir) {
    crm_db *db = NULL;
    FILE *f;
    char path[4096];

    EXPECT_FAIL(CRM_STATUS_STORAGE, "unable to open",
                crm_db_open(db_path(dir, "no/such/dir/x.db"), NULL, &o_db));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "path", crm_db_open("", NULL, &o_db));
    snprintf(path, sizeof path, "%s", db_path(dir, "not-a-db.db"));
    f = fopen(path, "wb");
    EXPECT(f != NULL);
    if (f) {
        fputs("this is a text file, not a database, and it is long enough to have a header....\n", f);
        fputs("more text so that SQLite reads a full header and rejects it as not a database.\n", f);
        fclose(f);
    }
    EXPECT_FAIL(CRM_STATUS_STORAGE, "not a database", crm_db_open(path, NULL, &o_db));

    /* A database written by a newer engine. */
    snprintf(path, sizeof path, "%s", db_path(dir, "newer.db"));
    CHECK_OK(crm_db_open(path, NULL, &db));
    crm_db_close(db);
    EXPECT(set_user_version(path, 9999));
    EXPECT_FAIL(CRM_STATUS_SCHEMA_TOO_NEW, "9999", crm_db_open(path, NULL, &o_db));
    outputs_untouched("storage");
}

static void panics(crm_ctx *c) {
    char *ok = NULL;
    EXPECT_FAIL(CRM_STATUS_PANIC, "crm_testing_panic was asked to panic", crm_testing_panic(1));
    EXPECT(crm_testing_panic(0) == CRM_STATUS_OK);
    /* The process and the handles go on. */
    CHECK_OK(crm_department_list(c, &ok));
    crm_string_free(ok);
    EXPECT(crm_last_error_code() == CRM_STATUS_PANIC);
}


/* ---------------------------------------------------------------------------------------- */
/* ABI 1.1                                                                                  */
/* ---------------------------------------------------------------------------------------- */

static const char *PIPELINE = "{\"name\":\"P\",\"stages\":[{\"name\":\"A\",\"probability\":10}]}";
static const char *PIPELINE_UPDATE = "{\"stages\":[{\"name\":\"A\",\"probability\":10}]}";
static const char *DEAL = "{\"title\":\"T\",\"pipeline_id\":1,\"currency\":\"EUR\"}";
static const char *MOVE = "{\"stage_id\":1}";
static const char *ACTIVITY = "{\"kind\":\"task\",\"subject\":\"S\",\"client_id\":1}";
static const char *FUNNEL = "{\"pipeline_id\":1,\"from\":\"2026-01-01\",\"to\":\"2027-01-01\"}";
static const char *RULE_JSON = "{\"trigger\":{\"kind\":\"deal_rotting\"},\"task_subject\":\"S\"}";
static const char *IMPORT = "{\"records\":\"clients\"}";
static const char *EXPORT = "{\"records\":\"clients\"}";
static const char *MERGE = "{\"survivor_id\":1,\"duplicate_id\":2}";
static const char *TARGET = "{\"kind\":\"current\"}";
static const char *NOW = "2026-11-25T09:30:00Z";

static int32_t cancel_calls = 0;

/* A progress callback that cancels at once. */
static int32_t cancel_now(void *user_data, uint64_t done, uint64_t total_or_zero) {
    (void)done;
    (void)total_or_zero;
    (*(int32_t *)user_data)++;
    return 0;
}

/* A progress callback that must never run (the call fails before any work). */
static int32_t must_not_run(void *user_data, uint64_t done, uint64_t total_or_zero) {
    (void)user_data;
    (void)done;
    (void)total_or_zero;
    T_FAIL("a progress callback ran in a call that should have failed first");
    return 1;
}

static int count_files(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (d == NULL) return -1;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, part) != NULL) n++;
    closedir(d);
    return n;
}

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static uint64_t client_count(crm_ctx *c) {
    uint64_t n = 0;
    int32_t exact = 0;
    CHECK_OK(crm_client_count(c, "{\"archive\":\"active\"}", 1000000, &n, &exact));
    return n;
}

static void null_arguments_1_1(const char *dir, crm_ctx *c) {
    const char *file = db_path(dir, "never.csv");
    static const uint8_t bytes[] = "name\nA\n";
    (void)dir;

    NULL_ARG("ctx", crm_pipeline_create(NULL, PIPELINE, &o));
    NULL_ARG("pipeline_json", crm_pipeline_create(c, NULL, &o));
    NULL_ARG("out_json", crm_pipeline_create(c, PIPELINE, NULL));
    NULL_ARG("ctx", crm_pipeline_update(NULL, 1, PIPELINE_UPDATE, &o));
    NULL_ARG("update_json", crm_pipeline_update(c, 1, NULL, &o));
    NULL_ARG("out_json", crm_pipeline_update(c, 1, PIPELINE_UPDATE, NULL));
    NULL_ARG("ctx", crm_pipeline_get(NULL, 1, &o));
    NULL_ARG("out_json", crm_pipeline_get(c, 1, NULL));
    NULL_ARG("ctx", crm_pipeline_list(NULL, &o));
    NULL_ARG("out_json", crm_pipeline_list(c, NULL));

    NULL_ARG("ctx", crm_deal_create(NULL, DEAL, &o));
    NULL_ARG("deal_json", crm_deal_create(c, NULL, &o));
    NULL_ARG("out_json", crm_deal_create(c, DEAL, NULL));
    NULL_ARG("ctx", crm_deal_get(NULL, 1, &o));
    NULL_ARG("out_json", crm_deal_get(c, 1, NULL));
    NULL_ARG("ctx", crm_deal_update(NULL, 1, 1, "{}", &o));
    NULL_ARG("update_json", crm_deal_update(c, 1, 1, NULL, &o));
    NULL_ARG("out_json", crm_deal_update(c, 1, 1, "{}", NULL));
    NULL_ARG("ctx", crm_deal_move(NULL, 1, 1, MOVE, &o));
    NULL_ARG("move_json", crm_deal_move(c, 1, 1, NULL, &o));
    NULL_ARG("out_json", crm_deal_move(c, 1, 1, MOVE, NULL));
    NULL_ARG("ctx", crm_deal_assign(NULL, 1, 1, 1, &o));
    NULL_ARG("out_json", crm_deal_assign(c, 1, 1, 1, NULL));
    NULL_ARG("ctx", crm_deal_delete(NULL, 1, 1));
    NULL_ARG("ctx", crm_deal_list(NULL, "{}", &o));
    NULL_ARG("query_json", crm_deal_list(c, NULL, &o));
    NULL_ARG("out_json", crm_deal_list(c, "{}", NULL));
    NULL_ARG("ctx", crm_deal_list_cursor(NULL, "{}", &o_cur));
    NULL_ARG("query_json", crm_deal_list_cursor(c, NULL, &o_cur));
    NULL_ARG("out_cursor", crm_deal_list_cursor(c, "{}", NULL));
    NULL_ARG("ctx", crm_deal_history(NULL, 1, &o));
    NULL_ARG("out_json", crm_deal_history(c, 1, NULL));

    NULL_ARG("ctx", crm_activity_create(NULL, ACTIVITY, &o));
    NULL_ARG("activity_json", crm_activity_create(c, NULL, &o));
    NULL_ARG("out_json", crm_activity_create(c, ACTIVITY, NULL));
    NULL_ARG("ctx", crm_activity_get(NULL, 1, &o));
    NULL_ARG("out_json", crm_activity_get(c, 1, NULL));
    NULL_ARG("ctx", crm_activity_update(NULL, 1, 1, "{}", &o));
    NULL_ARG("update_json", crm_activity_update(c, 1, 1, NULL, &o));
    NULL_ARG("out_json", crm_activity_update(c, 1, 1, "{}", NULL));
    NULL_ARG("ctx", crm_activity_assign(NULL, 1, 1, 1, &o));
    NULL_ARG("out_json", crm_activity_assign(c, 1, 1, 1, NULL));
    NULL_ARG("ctx", crm_activity_delete(NULL, 1, 1));
    NULL_ARG("ctx", crm_activity_due_reminders(NULL, NOW, &o));
    NULL_ARG("now", crm_activity_due_reminders(c, NULL, &o));
    NULL_ARG("out_json", crm_activity_due_reminders(c, NOW, NULL));
    NULL_ARG("ctx", crm_activity_overdue(NULL, 1, NOW, &o));
    NULL_ARG("now", crm_activity_overdue(c, 1, NULL, &o));
    NULL_ARG("out_json", crm_activity_overdue(c, 1, NOW, NULL));

    NULL_ARG("ctx", crm_client_timeline(NULL, 1, "{}", &o));
    NULL_ARG("query_json", crm_client_timeline(c, 1, NULL, &o));
    NULL_ARG("out_json", crm_client_timeline(c, 1, "{}", NULL));
    NULL_ARG("ctx", crm_client_timeline_cursor(NULL, 1, "{}", &o_cur));
    NULL_ARG("query_json", crm_client_timeline_cursor(c, 1, NULL, &o_cur));
    NULL_ARG("out_cursor", crm_client_timeline_cursor(c, 1, "{}", NULL));

    NULL_ARG("ctx", crm_funnel_report(NULL, FUNNEL, &o));
    NULL_ARG("query_json", crm_funnel_report(c, NULL, &o));
    NULL_ARG("out_json", crm_funnel_report(c, FUNNEL, NULL));
    NULL_ARG("ctx", crm_funnel_report_svg(NULL, FUNNEL, &o));
    NULL_ARG("query_json", crm_funnel_report_svg(c, NULL, &o));
    NULL_ARG("out_svg", crm_funnel_report_svg(c, FUNNEL, NULL));
    NULL_ARG("ctx", crm_funnel_pivot(NULL, FUNNEL, &o));
    NULL_ARG("query_json", crm_funnel_pivot(c, NULL, &o));
    NULL_ARG("out_json", crm_funnel_pivot(c, FUNNEL, NULL));

    NULL_ARG("ctx", crm_report_time_zone_get(NULL, &o));
    NULL_ARG("out_tz", crm_report_time_zone_get(c, NULL));
    NULL_ARG("ctx", crm_report_time_zone_set(NULL, "UTC"));
    NULL_ARG("tz", crm_report_time_zone_set(c, NULL));
    NULL_ARG("ctx", crm_exchange_rate_set(NULL, "USD", "EUR", "2026-01-01", "0.9"));
    NULL_ARG("currency", crm_exchange_rate_set(c, NULL, "EUR", "2026-01-01", "0.9"));
    NULL_ARG("quote", crm_exchange_rate_set(c, "USD", NULL, "2026-01-01", "0.9"));
    NULL_ARG("day", crm_exchange_rate_set(c, "USD", "EUR", NULL, "0.9"));
    NULL_ARG("rate", crm_exchange_rate_set(c, "USD", "EUR", "2026-01-01", NULL));
    NULL_ARG("ctx", crm_exchange_rate_get(NULL, "USD", "EUR", "2026-01-01", &o));
    NULL_ARG("currency", crm_exchange_rate_get(c, NULL, "EUR", "2026-01-01", &o));
    NULL_ARG("quote", crm_exchange_rate_get(c, "USD", NULL, "2026-01-01", &o));
    NULL_ARG("day", crm_exchange_rate_get(c, "USD", "EUR", NULL, &o));
    NULL_ARG("out_rate", crm_exchange_rate_get(c, "USD", "EUR", "2026-01-01", NULL));

    NULL_ARG("ctx", crm_automation_rule_create(NULL, RULE_JSON, &o));
    NULL_ARG("rule_json", crm_automation_rule_create(c, NULL, &o));
    NULL_ARG("out_json", crm_automation_rule_create(c, RULE_JSON, NULL));
    NULL_ARG("ctx", crm_automation_rule_list(NULL, &o));
    NULL_ARG("out_json", crm_automation_rule_list(c, NULL));
    NULL_ARG("ctx", crm_automation_rule_set_active(NULL, 1, 1));
    NULL_ARG("ctx", crm_automation_rule_delete(NULL, 1));
    NULL_ARG("ctx", crm_automation_run_due(NULL, NOW, &o));
    NULL_ARG("now", crm_automation_run_due(c, NULL, &o));
    NULL_ARG("out_json", crm_automation_run_due(c, NOW, NULL));

    NULL_ARG("ctx", crm_import_file(NULL, IMPORT, file, must_not_run, NULL, &o));
    NULL_ARG("spec_json", crm_import_file(c, NULL, file, must_not_run, NULL, &o));
    NULL_ARG("path", crm_import_file(c, IMPORT, NULL, must_not_run, NULL, &o));
    NULL_ARG("out_report_json", crm_import_file(c, IMPORT, file, must_not_run, NULL, NULL));
    NULL_ARG("ctx", crm_import_buffer(NULL, IMPORT, bytes, sizeof bytes - 1, must_not_run, NULL, &o));
    NULL_ARG("spec_json", crm_import_buffer(c, NULL, bytes, sizeof bytes - 1, must_not_run, NULL, &o));
    NULL_ARG("data", crm_import_buffer(c, IMPORT, NULL, 5, must_not_run, NULL, &o));
    NULL_ARG("out_report_json",
             crm_import_buffer(c, IMPORT, bytes, sizeof bytes - 1, must_not_run, NULL, NULL));
    NULL_ARG("ctx", crm_export_file(NULL, EXPORT, file, must_not_run, NULL, &o_u64));
    NULL_ARG("spec_json", crm_export_file(c, NULL, file, must_not_run, NULL, &o_u64));
    NULL_ARG("path", crm_export_file(c, EXPORT, NULL, must_not_run, NULL, &o_u64));
    NULL_ARG("out_count", crm_export_file(c, EXPORT, file, must_not_run, NULL, NULL));
    EXPECT(!file_exists(file));
    NULL_ARG("ctx", crm_export_buffer(NULL, EXPORT, must_not_run, NULL, &o, &o_len));
    NULL_ARG("spec_json", crm_export_buffer(c, NULL, must_not_run, NULL, &o, &o_len));
    NULL_ARG("out_data", crm_export_buffer(c, EXPORT, must_not_run, NULL, NULL, &o_len));
    NULL_ARG("out_len", crm_export_buffer(c, EXPORT, must_not_run, NULL, &o, NULL));

    NULL_ARG("ctx", crm_client_merge(NULL, MERGE, &o));
    NULL_ARG("request_json", crm_client_merge(c, NULL, &o));
    NULL_ARG("out_json", crm_client_merge(c, MERGE, NULL));
    NULL_ARG("ctx", crm_client_merge_undo(NULL, 1, &o));
    NULL_ARG("out_json", crm_client_merge_undo(c, 1, NULL));

    NULL_ARG("ctx", crm_backup_create(NULL, file, must_not_run, NULL));
    NULL_ARG("path", crm_backup_create(c, NULL, must_not_run, NULL));
    NULL_ARG("ctx", crm_backup_verify(NULL, file, &o));
    NULL_ARG("path", crm_backup_verify(c, NULL, &o));
    NULL_ARG("out_json", crm_backup_verify(c, file, NULL));
    NULL_ARG("ctx", crm_backup_restore(NULL, file, TARGET, must_not_run, NULL, &o));
    NULL_ARG("path", crm_backup_restore(c, NULL, TARGET, must_not_run, NULL, &o));
    NULL_ARG("target_json", crm_backup_restore(c, file, NULL, must_not_run, NULL, &o));
    NULL_ARG("out_json", crm_backup_restore(c, file, TARGET, must_not_run, NULL, NULL));
    NULL_ARG("ctx", crm_backup_rotate(NULL, dir, 2, must_not_run, NULL, &o));
    NULL_ARG("dir", crm_backup_rotate(c, NULL, 2, must_not_run, NULL, &o));
    NULL_ARG("out_path", crm_backup_rotate(c, dir, 2, must_not_run, NULL, NULL));
    EXPECT(count_files(dir, "crm-backup-") == 0);

    NULL_ARG("ctx", crm_outbox_events(NULL, 0, "[]", 10, &o));
    NULL_ARG("types_json", crm_outbox_events(c, 0, NULL, 10, &o));
    NULL_ARG("out_json", crm_outbox_events(c, 0, "[]", 10, NULL));
    NULL_ARG("ctx", crm_outbox_head(NULL, &o_i64));
    NULL_ARG("out_event_id", crm_outbox_head(c, NULL));
    NULL_ARG("ctx", crm_outbox_acked(NULL, "erp", &o_i64));
    NULL_ARG("consumer", crm_outbox_acked(c, NULL, &o_i64));
    NULL_ARG("out_event_id", crm_outbox_acked(c, "erp", NULL));
    NULL_ARG("ctx", crm_outbox_ack(NULL, "erp", 1, &o_i64));
    NULL_ARG("consumer", crm_outbox_ack(c, NULL, 1, &o_i64));
    NULL_ARG("out_event_id", crm_outbox_ack(c, "erp", 1, NULL));
    NULL_ARG("ctx", crm_outbox_prune(NULL, &o_u64));
    NULL_ARG("out_deleted", crm_outbox_prune(c, NULL));
    outputs_untouched("NULL arguments (ABI 1.1)");
}

static void bad_values_1_1(const char *dir, crm_ctx *c, crm_ctx *user) {
    /* Malformed JSON and JSON of the wrong shape in the new documents. */
    EXPECT_FAIL(CRM_STATUS_MALFORMED_JSON, "`pipeline_json` is not valid JSON",
                crm_pipeline_create(c, "{\"name\":", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "missing field `stages`",
                crm_pipeline_create(c, "{\"name\":\"P\"}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `stages[0].kind`: unknown variant `maybe`",
                crm_pipeline_create(c, "{\"name\":\"P\",\"stages\":[{\"name\":\"A\",\"probability\":1,\"kind\":\"maybe\"}]}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "unknown field `colour`",
                crm_pipeline_update(c, 1, "{\"stages\":[],\"colour\":\"red\"}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `currency`",
                crm_deal_create(c, "{\"title\":\"T\",\"pipeline_id\":1,\"currency\":\"EURO\"}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "missing field `pipeline_id`",
                crm_deal_create(c, "{\"title\":\"T\",\"currency\":\"EUR\"}", &o));
    EXPECT_FAIL(CRM_STATUS_MALFORMED_JSON, "`update_json`", crm_deal_update(c, 1, 1, "{", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `stage_id`", crm_deal_move(c, 1, 1, "{\"stage_id\":\"won\"}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `status`", crm_deal_list(c, "{\"status\":\"pending\"}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `kind`: unknown variant `fax`",
                crm_activity_create(c, "{\"kind\":\"fax\",\"subject\":\"S\",\"client_id\":1}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `due_at`",
                crm_activity_update(c, 1, 1, "{\"due_at\":\"tomorrow\"}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "unknown field `page`", crm_client_timeline(c, 1, "{\"page\":2}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `grouping`",
                crm_funnel_report(c, "{\"pipeline_id\":1,\"from\":\"2026-01-01\",\"to\":\"2027-01-01\",\"grouping\":\"year\"}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `from`",
                crm_funnel_report_svg(c, "{\"pipeline_id\":1,\"from\":\"01.01.2026\",\"to\":\"2027-01-01\"}", &o));
    EXPECT_FAIL(CRM_STATUS_MALFORMED_JSON, "`query_json`", crm_funnel_pivot(c, "[", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `trigger.kind`",
                crm_automation_rule_create(c, "{\"trigger\":{\"kind\":\"full_moon\"},\"task_subject\":\"S\"}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `records`",
                crm_import_buffer(c, "{\"records\":\"invoices\"}", (const uint8_t *)"a", 1, must_not_run, NULL, &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `mode`",
                crm_import_file(c, "{\"records\":\"clients\",\"mode\":\"most\"}", "x.csv", must_not_run, NULL, &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `format`",
                crm_export_file(c, "{\"records\":\"clients\",\"format\":\"xlsx\"}", db_path(dir, "x.xlsx"), must_not_run, NULL, &o_u64));
    EXPECT_FAIL(CRM_STATUS_MALFORMED_JSON, "`spec_json`",
                crm_export_buffer(c, "records", must_not_run, NULL, &o, &o_len));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `choices.name`",
                crm_client_merge(c, "{\"survivor_id\":1,\"duplicate_id\":2,\"choices\":{\"name\":\"mine\"}}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "unknown variant `cloud`",
                crm_backup_restore(c, "b.db", "{\"kind\":\"cloud\"}", must_not_run, NULL, &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at the top level", crm_outbox_events(c, 0, "\"deal.create\"", 10, &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at `[0]`", crm_outbox_events(c, 0, "[7]", 10, &o));

    /* Timestamps, dates, currencies, rates, time zones: validation errors naming the argument. */
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "invalid now: \"yesterday\" is not an RFC 3339 timestamp",
                crm_activity_due_reminders(c, "yesterday", &o));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "invalid now", crm_activity_overdue(c, 1, "2026-11-25", &o));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "invalid now", crm_automation_run_due(c, "", &o));
    EXPECT_FAIL(CRM_STATUS_INVALID_UTF8, "`now`", crm_automation_run_due(c, "2026\xff", &o));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "invalid day", crm_exchange_rate_set(c, "USD", "EUR", "2026-02-30", "1.1"));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "invalid currency", crm_exchange_rate_set(c, "usd", "EUR", "2026-01-01", "1.1"));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "invalid quote", crm_exchange_rate_get(c, "USD", "XYZ", "2026-01-01", &o));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "invalid rate", crm_exchange_rate_set(c, "USD", "EUR", "2026-01-01", "1,1"));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "invalid rate", crm_exchange_rate_set(c, "USD", "EUR", "2026-01-01", "-2"));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "invalid quote: must differ",
                crm_exchange_rate_set(c, "EUR", "EUR", "2026-01-01", "1"));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "invalid tz", crm_report_time_zone_set(c, "Mars/Olympus"));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "invalid limit", crm_outbox_events(c, 0, "[]", 0, &o));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "invalid consumer", crm_outbox_ack(c, "  ", 1, &o_i64));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "invalid keep", crm_backup_rotate(c, dir, 0, must_not_run, NULL, &o));
    EXPECT_FAIL(CRM_STATUS_VALIDATION, "invalid stages", crm_pipeline_create(c, "{\"name\":\"P\",\"stages\":[]}", &o));

    /* Engine refusals of the new calls. */
    EXPECT_FAIL(CRM_STATUS_NOT_FOUND, "deal 4242 not found", crm_deal_get(c, 4242, &o));
    EXPECT_FAIL(CRM_STATUS_NOT_FOUND, "pipeline 4242 not found", crm_pipeline_get(c, 4242, &o));
    EXPECT_FAIL(CRM_STATUS_NOT_FOUND, "activity 4242 not found", crm_activity_get(c, 4242, &o));
    EXPECT_FAIL(CRM_STATUS_NOT_FOUND, "merge 4242", crm_client_merge_undo(c, 4242, &o));
    EXPECT_FAIL(CRM_STATUS_NOT_FOUND, "automation_rule 4242", crm_automation_rule_delete(c, 4242));
    EXPECT_FAIL(CRM_STATUS_PERMISSION_DENIED, "run_due", crm_automation_run_due(user, NOW, &o));
    EXPECT_FAIL(CRM_STATUS_PERMISSION_DENIED, "needs an administrator",
                crm_pipeline_create(user, PIPELINE, &o));
    EXPECT_FAIL(CRM_STATUS_PERMISSION_DENIED, "backup",
                crm_backup_create(user, db_path(dir, "user-backup.db"), must_not_run, NULL));
    EXPECT(!file_exists(db_path(dir, "user-backup.db")));

    /* Files that cannot be read or written: CRM_STATUS_IO, naming the path. */
    EXPECT_FAIL(CRM_STATUS_IO, "no-such.csv", crm_import_file(c, IMPORT, db_path(dir, "no-such.csv"), must_not_run, NULL, &o));
    EXPECT_FAIL(CRM_STATUS_IO, "no/such/dir/out.csv",
                crm_export_file(c, EXPORT, db_path(dir, "no/such/dir/out.csv"), must_not_run, NULL, &o_u64));
    EXPECT_FAIL(CRM_STATUS_IO, "no-such.db", crm_backup_verify(c, db_path(dir, "no-such.db"), &o));
    EXPECT_FAIL(CRM_STATUS_IO, "bad.db: already exists",
                crm_backup_create(c, db_path(dir, "bad.db"), must_not_run, NULL));
    outputs_untouched("bad values (ABI 1.1)");
}

/* Progress callbacks that cancel: CRM_STATUS_CANCELLED, and nothing written. */
static void cancelled_1_1(const char *dir, crm_ctx *c) {
    const char *csv = db_path(dir, "many.csv");
    char path[4096], *batch, *p;
    uint64_t before, after;
    FILE *f;
    int i;

    /* An all-or-nothing import of 1,500 rows, cancelled at the first report (row 1,000). */
    snprintf(path, sizeof path, "%s", csv);
    f = fopen(path, "wb");
    EXPECT(f != NULL);
    if (f == NULL) return;
    fputs("external_id,name\n", f);
    for (i = 1; i <= 1500; i++) fprintf(f, "X%d,Imported client %d\n", i, i);
    fclose(f);
    before = client_count(c);
    cancel_calls = 0;
    EXPECT_FAIL(CRM_STATUS_CANCELLED, "cancelled",
                crm_import_file(c, "{\"records\":\"clients\",\"defaults\":{\"owner_email\":\"u@example.com\"}}",
                                path, cancel_now, &cancel_calls, &o));
    EXPECT(cancel_calls == 1);
    after = client_count(c);
    EXPECT(after == before);

    /* In skip_invalid mode the batches committed before the cancel stay (here 2 of 400). */
    cancel_calls = 0;
    EXPECT_FAIL(CRM_STATUS_CANCELLED, "cancelled",
                crm_import_file(c, "{\"records\":\"clients\",\"mode\":\"skip_invalid\",\"batch_size\":400,"
                                   "\"defaults\":{\"owner_email\":\"u@example.com\"}}",
                                path, cancel_now, &cancel_calls, &o));
    EXPECT(cancel_calls == 1);
    after = client_count(c);
    EXPECT(after == before + 800);

    /* Over 1,000 clients now: an export reports progress, and a cancel leaves no file. */
    batch = malloc(300 * 80 + 16);
    EXPECT(batch != NULL);
    if (batch == NULL) return;
    p = batch;
    *p++ = '[';
    for (i = 0; i < 300; i++)
        p += sprintf(p, "%s{\"kind\":\"person\",\"name\":\"Batch %d\",\"owner_id\":1}", i ? "," : "", i);
    *p++ = ']';
    *p = '\0';
    CHECK_OK(crm_client_create_batch(c, batch, &p));
    crm_string_free(p);
    free(batch);
    snprintf(path, sizeof path, "%s", db_path(dir, "cancelled.csv"));
    cancel_calls = 0;
    EXPECT_FAIL(CRM_STATUS_CANCELLED, "cancelled",
                crm_export_file(c, EXPORT, path, cancel_now, &cancel_calls, &o_u64));
    EXPECT(cancel_calls == 1 && !file_exists(path) && count_files(dir, "crm-partial") == 0);
    /* An existing file is left as it was. */
    f = fopen(path, "wb");
    if (f) {
        fputs("keep me\n", f);
        fclose(f);
    }
    EXPECT_FAIL(CRM_STATUS_CANCELLED, "cancelled",
                crm_export_file(c, EXPORT, path, cancel_now, &cancel_calls, &o_u64));
    f = fopen(path, "rb");
    EXPECT(f != NULL);
    if (f) {
        char line[32] = "";
        EXPECT(fgets(line, sizeof line, f) != NULL && strcmp(line, "keep me\n") == 0);
        fclose(f);
    }
    EXPECT(count_files(dir, "crm-partial") == 0);
    EXPECT_FAIL(CRM_STATUS_CANCELLED, "cancelled",
                crm_export_buffer(c, EXPORT, cancel_now, &cancel_calls, &o, &o_len));

    /* A cancelled backup or restore leaves no file. */
    snprintf(path, sizeof path, "%s", db_path(dir, "cancelled.db"));
    cancel_calls = 0;
    EXPECT_FAIL(CRM_STATUS_CANCELLED, "cancelled", crm_backup_create(c, path, cancel_now, &cancel_calls));
    EXPECT(cancel_calls == 1 && !file_exists(path));
    CHECK_OK(crm_backup_create(c, path, NULL, NULL));
    {
        char target[4200];
        snprintf(target, sizeof target, "{\"kind\":\"new_file\",\"path\":\"%s\"}",
                 db_path(dir, "restored-cancelled.db"));
        EXPECT_FAIL(CRM_STATUS_CANCELLED, "cancelled",
                    crm_backup_restore(c, path, target, cancel_now, &cancel_calls, &o));
        EXPECT(!file_exists(db_path(dir, "restored-cancelled.db")));
    }
    EXPECT_FAIL(CRM_STATUS_CANCELLED, "cancelled",
                crm_backup_rotate(c, db_path(dir, "rotated"), 1, cancel_now, &cancel_calls, &o));
    EXPECT(count_files(db_path(dir, "rotated"), "crm-backup-") == 0);
    outputs_untouched("cancelled (ABI 1.1)");
}

/* Contexts and cursors of ABI 1.1 calls after crm_db_close. */
static void closed_1_1(const char *dir) {
    crm_db *db = NULL;
    crm_ctx *c = NULL;
    crm_cursor *deals = NULL, *timeline = NULL;
    char *ok = NULL;
    int64_t client;

    CHECK_OK(crm_db_open(db_path(dir, "closed-1-1.db"), NULL, &db));
    CHECK_OK(crm_ctx_new_system(db, "closing", &c));
    CHECK_OK(crm_department_create(c, "{\"name\":\"D\"}", &ok));
    crm_string_free(ok);
    CHECK_OK(crm_user_create(c, "{\"name\":\"U\",\"email\":\"u@example.com\",\"department_id\":1}", &ok));
    crm_string_free(ok);
    CHECK_OK(crm_client_create(c, "{\"kind\":\"person\",\"name\":\"P\",\"owner_id\":1}", &ok));
    client = json_int(ok, "id");
    crm_string_free(ok);
    CHECK_OK(crm_deal_list_cursor(c, "{}", &deals));
    CHECK_OK(crm_client_timeline_cursor(c, client, "{}", &timeline));
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "is a crm_cursor, not a crm_ctx",
                crm_deal_list((const crm_ctx *)deals, "{}", &o));
    crm_db_close(db);
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_cursor_next(deals, &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_cursor_next(timeline, &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_pipeline_list(c, &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_export_buffer(c, EXPORT, must_not_run, NULL, &o, &o_len));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_backup_create(c, db_path(dir, "closed.db"), must_not_run, NULL));
    EXPECT(!file_exists(db_path(dir, "closed.db")));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_deal_list_cursor(c, "{}", &o_cur));
    crm_cursor_free(deals);
    crm_cursor_free(timeline);
    crm_ctx_free(c);
    outputs_untouched("closed (ABI 1.1)");
}

/* ---------------------------------------------------------------------------------------- */
/* ABI 1.2: the plugin host                                                                 */
/* ---------------------------------------------------------------------------------------- */

static void plugins_1_2(const char *dir, crm_db *db, crm_ctx *c) {
    crm_plugins *p = NULL, *off = NULL;
    crm_db *db2 = NULL;
    crm_ctx *c2 = NULL;
    char cfg[4200], empty[4096];
    char *ok = NULL;
    int on_stack = 0;
    const char *bad_utf8 = "h\xffllo";

    /* An empty plugin directory: listing works, every id is unknown. */
    snprintf(empty, sizeof empty, "%s", db_path(dir, "plugins-empty"));
    EXPECT(mkdir(empty, 0700) == 0);
    snprintf(cfg, sizeof cfg, "{\"plugin_dir\":\"%s\"}", empty);
    CHECK_OK(crm_plugins_open(db, cfg, &p));
    CHECK_OK(crm_plugins_open(db, NULL, &off));

    NULL_ARG("db", crm_plugins_open(NULL, NULL, &o_plugins));
    NULL_ARG("out_plugins", crm_plugins_open(db, NULL, NULL));
    NULL_ARG("plugins", crm_plugins_list(NULL, &o));
    NULL_ARG("out_json", crm_plugins_list(p, NULL));
    NULL_ARG("plugins", crm_plugins_enable(NULL, "hello", NULL, &o));
    NULL_ARG("id", crm_plugins_enable(p, NULL, NULL, &o));
    NULL_ARG("out_status_json", crm_plugins_enable(p, "hello", NULL, NULL));
    NULL_ARG("plugins", crm_plugins_disable(NULL, "hello"));
    NULL_ARG("id", crm_plugins_disable(p, NULL));
    NULL_ARG("plugins", crm_plugins_call(NULL, "hello", "hello", "{}", &o));
    NULL_ARG("id", crm_plugins_call(p, NULL, "hello", "{}", &o));
    NULL_ARG("method", crm_plugins_call(p, "hello", NULL, "{}", &o));
    NULL_ARG("input_json", crm_plugins_call(p, "hello", "hello", NULL, &o));
    NULL_ARG("out_json", crm_plugins_call(p, "hello", "hello", "{}", NULL));
    NULL_ARG("plugins", crm_plugins_status(NULL, "hello", &o));
    NULL_ARG("id", crm_plugins_status(p, NULL, &o));
    NULL_ARG("out_json", crm_plugins_status(p, "hello", NULL));
    NULL_ARG("plugins", crm_plugins_statuses(NULL, &o));
    NULL_ARG("out_json", crm_plugins_statuses(p, NULL));
    NULL_ARG("plugins", crm_plugins_take_emitted(NULL, "hello", &o));
    NULL_ARG("id", crm_plugins_take_emitted(p, NULL, &o));
    NULL_ARG("out_json", crm_plugins_take_emitted(p, "hello", NULL));
    NULL_ARG("plugins", crm_plugins_notify(NULL));
    crm_plugins_close(NULL); /* ignored */

    /* Bad strings and JSON. */
    EXPECT_FAIL(CRM_STATUS_INVALID_UTF8, "`config_json`", crm_plugins_open(db, bad_utf8, &o_plugins));
    EXPECT_FAIL(CRM_STATUS_MALFORMED_JSON, "`config_json` is not valid JSON",
                crm_plugins_open(db, "{\"plugin_dir\":", &o_plugins));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "expected an object", crm_plugins_open(db, "[]", &o_plugins));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at the top level", crm_plugins_open(db, "null", &o_plugins));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "`poll_interval_ms`",
                crm_plugins_open(db, "{\"poll_interval_ms\":-1}", &o_plugins));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_INVALID, "batch_size",
                crm_plugins_open(db, "{\"batch_size\":10001}", &o_plugins));
    EXPECT_FAIL(CRM_STATUS_INVALID_UTF8, "`id`", crm_plugins_enable(p, bad_utf8, NULL, &o));
    EXPECT_FAIL(CRM_STATUS_INVALID_UTF8, "`options_json`", crm_plugins_enable(p, "hello", bad_utf8, &o));
    EXPECT_FAIL(CRM_STATUS_MALFORMED_JSON, "`options_json`", crm_plugins_enable(p, "hello", "{", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "`user_id`",
                crm_plugins_enable(p, "hello", "{\"user_id\":\"seven\"}", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "expected an object", crm_plugins_enable(p, "hello", " []", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "at the top level", crm_plugins_enable(p, "hello", "7", &o));
    EXPECT_FAIL(CRM_STATUS_JSON_SHAPE, "unknown field",
                crm_plugins_enable(p, "hello", "{\"users\":[1]}", &o));
    EXPECT_FAIL(CRM_STATUS_INVALID_UTF8, "`id`", crm_plugins_disable(p, bad_utf8));
    EXPECT_FAIL(CRM_STATUS_INVALID_UTF8, "`method`", crm_plugins_call(p, "hello", bad_utf8, "{}", &o));
    EXPECT_FAIL(CRM_STATUS_INVALID_UTF8, "`input_json`", crm_plugins_call(p, "hello", "m", bad_utf8, &o));
    EXPECT_FAIL(CRM_STATUS_MALFORMED_JSON, "`input_json`", crm_plugins_call(p, "hello", "m", "{} x", &o));
    EXPECT_FAIL(CRM_STATUS_INVALID_UTF8, "`id`", crm_plugins_status(p, bad_utf8, &o));
    EXPECT_FAIL(CRM_STATUS_INVALID_UTF8, "`id`", crm_plugins_take_emitted(p, bad_utf8, &o));

    /* Unknown plugins, reserved and empty method names, a host without a plugin directory. */
    CHECK_OK(crm_plugins_list(p, &ok));
    EXPECT(strcmp(ok, "[]") == 0);
    crm_string_free(ok);
    EXPECT_FAIL(CRM_STATUS_PLUGIN_NOT_FOUND, "no plugin \"hello\"",
                crm_plugins_enable(p, "hello", "{\"user_id\":1}", &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_NOT_FOUND, "no plugin \"..\"", crm_plugins_enable(p, "..", NULL, &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_NOT_FOUND, "no plugin \"\"", crm_plugins_status(p, "", &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_NOT_ENABLED, "not enabled", crm_plugins_disable(p, "hello"));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_NOT_ENABLED, "not enabled", crm_plugins_call(p, "hello", "m", "{}", &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_NOT_ENABLED, "not enabled", crm_plugins_take_emitted(p, "x", &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_INVALID, "reserved", crm_plugins_call(p, "hello", "crm.events", "{}", &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_INVALID, "reserved", crm_plugins_call(p, "hello", "", "{}", &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_DISABLED, "no plugin directory", crm_plugins_list(off, &o));
    EXPECT_FAIL(CRM_STATUS_PLUGIN_DISABLED, "no plugin directory", crm_plugins_status(off, "hello", &o));

    /* Handles of the wrong type, and pointers that are no handle at all. */
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "is a crm_db, not a crm_plugins",
                crm_plugins_list((const crm_plugins *)db, &o));
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "is a crm_plugins, not a crm_db",
                crm_plugins_open((const crm_db *)p, NULL, &o_plugins));
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "is a crm_plugins, not a crm_ctx",
                crm_client_list((const crm_ctx *)p, "{}", &o));
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "is a crm_ctx, not a crm_plugins",
                crm_plugins_notify((const crm_plugins *)c));
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "not a live crm_plugins",
                crm_plugins_statuses((const crm_plugins *)&on_stack, &o));
    crm_plugins_close((crm_plugins *)db); /* refused: the database stays open */
    EXPECT(crm_last_error_code() == CRM_STATUS_INVALID_HANDLE);
    crm_db_close((crm_db *)p); /* refused: the host stays open */
    EXPECT(crm_last_error_code() == CRM_STATUS_INVALID_HANDLE);
    CHECK_OK(crm_plugins_statuses(p, &ok));
    crm_string_free(ok);
    CHECK_OK(crm_db_path(db, &ok));
    crm_string_free(ok);

    /* A closed host: detected, and a second close is ignored. */
    crm_plugins_close(off);
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "not a live crm_plugins", crm_plugins_list(off, &o));
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "already closed", crm_plugins_notify(off));
    crm_plugins_close(off);
    EXPECT(crm_last_error_code() == CRM_STATUS_INVALID_HANDLE);
    crm_plugins_close(p);
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "not a live crm_plugins", crm_plugins_statuses(p, &o));

    /* A host used after its database was closed: every call answers CRM_STATUS_DB_CLOSED, the
     * handle stays valid to close. Contexts of the database agree. */
    CHECK_OK(crm_db_open(db_path(dir, "plugins-closed.db"), NULL, &db2));
    CHECK_OK(crm_ctx_new_system(db2, "plugins", &c2));
    CHECK_OK(crm_plugins_open(db2, cfg, &p));
    CHECK_OK(crm_plugins_open(db2, NULL, &off));
    crm_db_close(db2);
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed with crm_db_close", crm_plugins_list(p, &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_enable(p, "hello", NULL, &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_disable(p, "hello"));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_call(p, "hello", "m", "{}", &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_status(p, "hello", &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_statuses(p, &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_take_emitted(p, "hello", &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_notify(p));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_plugins_list(off, &o));
    EXPECT_FAIL(CRM_STATUS_DB_CLOSED, "closed", crm_client_list(c2, "{}", &o));
    /* Arguments are still checked first. */
    NULL_ARG("out_json", crm_plugins_list(p, NULL));
    /* The closed database cannot open a new host. */
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "not a live crm_db", crm_plugins_open(db2, NULL, &o_plugins));
    crm_plugins_close(off);
    crm_ctx_free(c2); /* in any order */
    crm_plugins_close(p);
    EXPECT_FAIL(CRM_STATUS_INVALID_HANDLE, "not a live crm_plugins", crm_plugins_notify(p));
    outputs_untouched("plugins (ABI 1.2)");
}

int main(int argc, char **argv) {
    crm_db *db = NULL;
    crm_ctx *c = NULL, *user = NULL;
    char *ok = NULL;
    int64_t client;

    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    CHECK_OK(crm_db_open(db_path(argv[1], "bad.db"), NULL, &db));
    CHECK_OK(crm_ctx_new_system(db, "bad input test", &c));
    CHECK_OK(crm_department_create(c, "{\"name\":\"HQ\"}", &ok));
    crm_string_free(ok);
    CHECK_OK(crm_user_create(c, "{\"name\":\"U\",\"email\":\"u@example.com\",\"department_id\":1}", &ok));
    crm_string_free(ok);
    CHECK_OK(crm_client_create(c, "{\"kind\":\"organization\",\"name\":\"Org\",\"owner_id\":1}", &ok));
    client = json_int(ok, "id");
    crm_string_free(ok);

    null_arguments(argv[1], db, c);
    bad_strings_and_json(argv[1], db, c);
    bad_enums(c, client);
    engine_errors(c);
    panics(c);
    bad_handles(argv[1]);
    storage_errors(argv[1]);

    CHECK_OK(crm_ctx_new_user(db, 1, &user));
    null_arguments_1_1(argv[1], c);
    bad_values_1_1(argv[1], c, user);
    cancelled_1_1(argv[1], c);
    closed_1_1(argv[1]);
    crm_ctx_free(user);

    plugins_1_2(argv[1], db, c);

    crm_ctx_free(c);
    crm_db_close(db);
    return t_finish("bad_input");
}
