/*
 * bad_input.c -- every kind of bad input from C is answered with its status and a message,
 * never a crash, and outputs are left untouched:
 *   NULL for every pointer argument, invalid UTF-8, malformed JSON, JSON of the wrong shape,
 *   engine validation errors, unknown enum integers and flags, handles already closed or of the
 *   wrong type, contexts and cursors used after their database was closed, storage errors, a
 *   database from a newer engine, and a panic inside the library.
 *
 * Usage: bad_input SCRATCH_DIR
 */
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
static int64_t o_i64 = 777;
static uint64_t o_u64 = 777;
static int32_t o_i32 = 777;

static void outputs_untouched(const char *where) {
    t_checks++;
    if (o != SENTINEL || o_db != (crm_db *)&sentinel_byte || o_ctx != (crm_ctx *)&sentinel_byte ||
        o_cur != (crm_cursor *)&sentinel_byte || o_i64 != 777 || o_u64 != 777 || o_i32 != 777)
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
    EXPECT_FAIL(CRM_STATUS_UNKNOWN_ENUM, "`entity` is 2", crm_custom_field_delete(c, 2, 1));
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

int main(int argc, char **argv) {
    crm_db *db = NULL;
    crm_ctx *c = NULL;
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

    crm_ctx_free(c);
    crm_db_close(db);
    return t_finish("bad_input");
}
