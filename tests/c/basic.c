/*
 * basic.c -- every function of crm.h on its happy path, with the outputs checked.
 *
 * Usage: basic SCRATCH_DIR
 */
#include "test_util.h"
#include "crm.h" /* included twice on purpose: the header must allow it */

static char buf[512];

/* Frees *s and sets it to NULL. */
static void drop(char **s) {
    crm_string_free(*s);
    *s = NULL;
}

static void test_versions(void) {
    const char *v = crm_version();
    uint32_t abi = crm_abi_version();
    EXPECT(abi == (((uint32_t)CRM_ABI_VERSION_MAJOR << 16) | CRM_ABI_VERSION_MINOR));
    EXPECT(has(v, "crm ") && has(v, "SQLite 3."));
    printf("version: %s, ABI %u.%u\n", v, (unsigned)(abi >> 16), (unsigned)(abi & 0xffff));
    EXPECT(strcmp(crm_status_name(CRM_STATUS_OK), "CRM_STATUS_OK") == 0);
    EXPECT(strcmp(crm_status_name(CRM_STATUS_CONFLICT), "CRM_STATUS_CONFLICT") == 0);
    EXPECT(strcmp(crm_status_name(CRM_STATUS_PANIC), "CRM_STATUS_PANIC") == 0);
    EXPECT(strcmp(crm_status_name(12345), "CRM_STATUS_UNKNOWN") == 0);
    /* No call has failed on this thread yet. */
    EXPECT(crm_last_error_code() == CRM_STATUS_OK);
    EXPECT(strcmp(crm_last_error_message(), "") == 0);
}

int main(int argc, char **argv) {
    crm_db *db = NULL;
    crm_ctx *sys = NULL, *bob = NULL, *carol_ctx = NULL;
    crm_cursor *cur = NULL;
    char *out = NULL, *page = NULL;
    int64_t hq, sales, temp, bob_id, carol_id, rep, tmp_role, asg, asg2, forbid, field_tmp;
    int64_t acme, anna, acme_v;
    uint64_t n = 0, restamped = 0;
    int32_t exact = -1, allowed = -1;
    int total;

    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    test_versions();

    /* ---- database and contexts ---- */
    CHECK_OK(crm_db_open(db_path(argv[1], "basic.db"), "{\"durability\":\"full\"}", &db));
    CHECK_OK(crm_db_path(db, &out));
    EXPECT(has(out, "basic.db"));
    drop(&out);
    CHECK_OK(crm_ctx_new_system(db, "basic test bootstrap", &sys));
    CHECK_OK(crm_ctx_actor(sys, &out));
    EXPECT(strcmp(out, "{\"kind\":\"system\",\"reason\":\"basic test bootstrap\"}") == 0);
    drop(&out);

    /* ---- departments ---- */
    CHECK_OK(crm_department_create(sys, "{\"name\":\"HQ\"}", &out));
    hq = json_int(out, "id");
    EXPECT(has(out, "\"parent_id\":null"));
    drop(&out);
    snprintf(buf, sizeof buf, "{\"name\":\"Sales\",\"parent_id\":%lld}", (long long)hq);
    CHECK_OK(crm_department_create(sys, buf, &out));
    sales = json_int(out, "id");
    drop(&out);
    snprintf(buf, sizeof buf, "{\"name\":\"Temp\",\"parent_id\":%lld}", (long long)hq);
    CHECK_OK(crm_department_create(sys, buf, &out));
    temp = json_int(out, "id");
    drop(&out);
    CHECK_OK(crm_department_rename(sys, temp, "Temporary"));
    CHECK_OK(crm_department_move(sys, temp, CRM_NO_ID));
    CHECK_OK(crm_department_move(sys, temp, sales));
    CHECK_OK(crm_department_list(sys, &out));
    EXPECT(json_array_len(out) == 3);
    EXPECT(has(out, "\"name\":\"Temporary\""));
    drop(&out);
    CHECK_OK(crm_department_delete(sys, temp));
    CHECK_OK(crm_department_list(sys, &out));
    EXPECT(json_array_len(out) == 2 && !has(out, "Temporary"));
    drop(&out);

    /* ---- users ---- */
    snprintf(buf, sizeof buf,
             "{\"name\":\"Bob\",\"email\":\"bob@example.com\",\"department_id\":%lld}",
             (long long)sales);
    CHECK_OK(crm_user_create(sys, buf, &out));
    bob_id = json_int(out, "id");
    EXPECT(has(out, "\"active\":true") && has(out, "\"admin\":false"));
    drop(&out);
    snprintf(buf, sizeof buf,
             "{\"name\":\"Carol\",\"email\":\"carol@example.com\",\"department_id\":%lld}",
             (long long)hq);
    CHECK_OK(crm_user_create(sys, buf, &out));
    carol_id = json_int(out, "id");
    drop(&out);
    CHECK_OK(crm_user_get(sys, bob_id, &out));
    EXPECT(has(out, "bob@example.com"));
    drop(&out);
    CHECK_OK(crm_user_set_admin(sys, bob_id, 1));
    CHECK_OK(crm_user_get(sys, bob_id, &out));
    EXPECT(has(out, "\"admin\":true"));
    drop(&out);
    CHECK_OK(crm_user_set_admin(sys, bob_id, 0));
    CHECK_OK(crm_user_list(sys, &out));
    EXPECT(json_array_len(out) == 2);
    drop(&out);
    CHECK_OK(crm_department_set_head(sys, sales, carol_id));
    CHECK_OK(crm_department_list(sys, &out));
    snprintf(buf, sizeof buf, "\"head_user_id\":%lld", (long long)carol_id);
    EXPECT(has(out, buf));
    drop(&out);
    CHECK_OK(crm_department_set_head(sys, sales, CRM_NO_ID));

    /* ---- roles, assignments, forbids ---- */
    CHECK_OK(crm_role_create(
        sys, "Rep",
        "[{\"entity\":\"client\",\"action\":\"read\",\"level\":\"department\"},"
        "{\"entity\":\"client\",\"action\":\"create\",\"level\":\"own\"}]",
        &out));
    rep = json_int(out, "id");
    EXPECT(has(out, "\"name\":\"Rep\""));
    drop(&out);
    CHECK_OK(crm_role_set_grants(
        sys, rep,
        "[{\"entity\":\"client\",\"action\":\"read\",\"level\":\"department\",\"include_open\":true},"
        "{\"entity\":\"client\",\"action\":\"create\",\"level\":\"own\"},"
        "{\"entity\":\"client\",\"action\":\"update\",\"level\":\"own\"}]"));
    CHECK_OK(crm_role_create(sys, "Temporary role", "[]", &out));
    tmp_role = json_int(out, "id");
    drop(&out);
    CHECK_OK(crm_role_list(sys, &out));
    EXPECT(json_array_len(out) == 2 && has(out, "\"action\":\"update\""));
    drop(&out);
    CHECK_OK(crm_role_delete(sys, tmp_role));
    snprintf(buf, sizeof buf, "{\"kind\":\"user\",\"user_id\":%lld}", (long long)bob_id);
    CHECK_OK(crm_role_assign(sys, rep, buf, &asg));
    CHECK_OK(crm_role_assign(sys, rep, buf, &asg2));
    EXPECT(asg == asg2 && asg > 0);
    CHECK_OK(crm_role_assignment_list(sys, &out));
    EXPECT(json_array_len(out) == 1 && has(out, "\"kind\":\"user\""));
    drop(&out);
    CHECK_OK(crm_role_unassign(sys, asg));
    CHECK_OK(crm_role_assign(sys, rep, buf, &asg));
    snprintf(buf, sizeof buf,
             "{\"subject\":{\"kind\":\"user\",\"user_id\":%lld},\"entity\":\"client\","
             "\"action\":\"delete\",\"target\":{\"kind\":\"all_records\"}}",
             (long long)bob_id);
    CHECK_OK(crm_forbid_add(sys, buf, &forbid));
    CHECK_OK(crm_forbid_list(sys, &out));
    EXPECT(json_array_len(out) == 1 && has(out, "\"all_records\""));
    drop(&out);
    CHECK_OK(crm_forbid_remove(sys, forbid));

    /* ---- custom fields ---- */
    CHECK_OK(crm_custom_field_define(
        sys,
        "{\"entity\":\"client\",\"key\":\"segment\",\"label\":\"Segment\",\"field_type\":\"enum\","
        "\"options\":[\"smb\",\"enterprise\"]}",
        &out));
    EXPECT(has(out, "\"key\":\"segment\""));
    drop(&out);
    CHECK_OK(crm_custom_field_define(
        sys, "{\"entity\":\"client\",\"key\":\"note\",\"label\":\"Note\",\"field_type\":\"text\"}",
        &out));
    field_tmp = json_int(out, "id");
    drop(&out);
    CHECK_OK(crm_custom_field_delete(sys, CRM_ENTITY_CLIENT, field_tmp));
    CHECK_OK(crm_custom_field_list(sys, CRM_ENTITY_CLIENT, &out));
    EXPECT(json_array_len(out) == 1 && !has(out, "\"note\""));
    drop(&out);

    /* ---- clients, acting as Bob ---- */
    CHECK_OK(crm_ctx_new_user(db, bob_id, &bob));
    CHECK_OK(crm_ctx_actor(bob, &out));
    snprintf(buf, sizeof buf, "{\"kind\":\"user\",\"user_id\":%lld}", (long long)bob_id);
    EXPECT(strcmp(out, buf) == 0);
    drop(&out);
    CHECK_OK(crm_client_create(
        bob,
        "{\"kind\":\"organization\",\"name\":\"Acme GmbH\",\"tax_id\":\"DE 123 456 789\","
        "\"emails\":[{\"address\":\"info@acme.example\"}],\"custom\":{\"segment\":\"enterprise\"}}",
        &out));
    acme = json_int(out, "id");
    acme_v = json_int(out, "version");
    snprintf(buf, sizeof buf, "\"owner_id\":%lld", (long long)bob_id);
    EXPECT(has(out, buf) && has(out, "\"segment\":\"enterprise\""));
    drop(&out);
    CHECK_OK(crm_client_create(bob, "{\"kind\":\"person\",\"name\":\"Anna Schmidt\"}", &out));
    anna = json_int(out, "id");
    drop(&out);
    CHECK_OK(crm_client_create_batch(
        bob,
        "[{\"kind\":\"organization\",\"name\":\"Birch & Sons\"},"
        "{\"kind\":\"organization\",\"name\":\"Cedar Logistics\"},"
        "{\"kind\":\"organization\",\"name\":\"ACME, GmbH\",\"tax_id\":\"de123456789\"}]",
        &out));
    /* An array of three ids, e.g. [3,4,5]. */
    EXPECT(out[0] == '[' && strchr(out, '{') == NULL && strchr(strchr(out, ',') + 1, ',') != NULL);
    drop(&out);

    CHECK_OK(crm_client_link_contact(bob, acme, anna, "CFO"));
    CHECK_OK(crm_client_contacts(bob, acme, &out));
    EXPECT(json_array_len(out) == 1 && has(out, "\"position\":\"CFO\""));
    drop(&out);
    CHECK_OK(crm_client_organizations(bob, anna, &out));
    snprintf(buf, sizeof buf, "\"organization_id\":%lld", (long long)acme);
    EXPECT(has(out, buf));
    drop(&out);
    CHECK_OK(crm_client_unlink_contact(bob, acme, anna));
    CHECK_OK(crm_client_contacts(bob, acme, &out));
    EXPECT(strcmp(out, "[]") == 0);
    drop(&out);
    CHECK_OK(crm_client_link_contact(bob, acme, anna, NULL)); /* position may be NULL */
    CHECK_OK(crm_client_contacts(bob, acme, &out));
    EXPECT(has(out, "\"position\":null"));
    drop(&out);

    CHECK_OK(crm_client_get(bob, acme, &out));
    EXPECT(has(out, "\"name\":\"Acme GmbH\""));
    drop(&out);
    CHECK_OK(crm_client_update(bob, acme, acme_v, "{\"name\":\"Acme AG\",\"tags\":[\"key\"]}", &out));
    EXPECT(has(out, "\"name\":\"Acme AG\"") && json_int(out, "version") == acme_v + 1);
    drop(&out);
    EXPECT_FAIL(CRM_STATUS_CONFLICT, "expected version",
                crm_client_update(bob, acme, acme_v, "{\"name\":\"Stale\"}", &out));
    EXPECT(out == NULL);
    CHECK_OK(crm_client_archive(bob, acme, acme_v + 1, &out));
    EXPECT(!has(out, "\"archived_at\":null"));
    drop(&out);
    CHECK_OK(crm_client_restore(bob, acme, acme_v + 2, &out));
    EXPECT(has(out, "\"archived_at\":null"));
    acme_v = json_int(out, "version");
    drop(&out);

    /* ---- lists, counts, search, duplicates ---- */
    CHECK_OK(crm_client_list(bob, "{\"limit\":2}", &out));
    EXPECT(json_array_len(strstr(out, "[")) == 2 && !has(out, "\"next\":null"));
    drop(&out);
    CHECK_OK(crm_client_list(bob, "{\"kind\":\"person\"}", &out));
    EXPECT(has(out, "Anna Schmidt") && has(out, "\"next\":null"));
    drop(&out);
    CHECK_OK(crm_client_count(bob, "{}", 1000, &n, &exact));
    EXPECT(n == 5 && exact == 1);
    CHECK_OK(crm_client_count(bob, "{}", 3, &n, &exact));
    EXPECT(n == 3 && exact == 0);
    CHECK_OK(crm_client_list_cursor(bob, "{\"limit\":2}", &cur));
    total = 0;
    while (crm_cursor_next(cur, &page) == CRM_STATUS_OK && page != NULL) {
        int len = json_array_len(page);
        EXPECT(len >= 1 && len <= 2);
        total += len;
        drop(&page);
    }
    EXPECT(total == 5);
    CHECK_OK(crm_cursor_next(cur, &page)); /* stays at the end */
    EXPECT(page == NULL);
    crm_cursor_free(cur);
    cur = NULL;

    CHECK_OK(crm_client_search(bob, "{\"text\":\"acme\"}", &out));
    EXPECT(has(out, "Acme AG") && has(out, "ACME, GmbH"));
    drop(&out);
    CHECK_OK(crm_client_search_cursor(bob, "{\"text\":\"acme\",\"limit\":1}", &cur));
    total = 0;
    while (crm_cursor_next(cur, &page) == CRM_STATUS_OK && page != NULL) {
        total += json_array_len(page);
        drop(&page);
    }
    EXPECT(total == 2);
    crm_cursor_free(cur);
    cur = NULL;
    CHECK_OK(crm_client_duplicates(bob, acme, &out));
    EXPECT(json_array_len(out) == 1 && has(out, "\"tax_id\""));
    drop(&out);
    CHECK_OK(crm_client_find_duplicates(
        bob, "{\"kind\":\"organization\",\"name\":\"Cedar Logistics Ltd\"}", &out));
    EXPECT(has(out, "Cedar Logistics") && has(out, "\"name\""));
    drop(&out);

    /* ---- access questions ---- */
    CHECK_OK(crm_access_can(bob, CRM_ACTION_READ, acme, &allowed));
    EXPECT(allowed == 1);
    CHECK_OK(crm_access_can(bob, CRM_ACTION_DELETE, acme, &allowed));
    EXPECT(allowed == 0);
    CHECK_OK(crm_access_explain(sys, bob_id, CRM_ACTION_READ, acme, &out));
    EXPECT(has(out, "\"decision\":\"allowed\"") && has(out, "\"role_name\":\"Rep\""));
    drop(&out);
    CHECK_OK(crm_access_explain(sys, bob_id, CRM_ACTION_ASSIGN, acme, &out));
    EXPECT(has(out, "\"decision\":\"no_grant\""));
    drop(&out);

    /* ---- administration that changes what Bob sees ---- */
    CHECK_OK(crm_user_move(sys, bob_id, hq, &restamped));
    EXPECT(restamped == 5);
    CHECK_OK(crm_user_move(sys, bob_id, sales, &restamped));
    CHECK_OK(crm_user_set_active(sys, bob_id, 0));
    EXPECT_FAIL(CRM_STATUS_INACTIVE_USER, "deactivated", crm_client_get(bob, acme, &out));
    CHECK_OK(crm_user_set_active(sys, bob_id, 1));
    CHECK_OK(crm_client_get(bob, acme, &out));
    drop(&out);
    CHECK_OK(crm_ctx_new_user(db, carol_id, &carol_ctx));
    EXPECT_FAIL(CRM_STATUS_NOT_FOUND, "not found", crm_client_get(carol_ctx, acme, &out));
    CHECK_OK(crm_client_assign(sys, acme, acme_v, carol_id, &out));
    snprintf(buf, sizeof buf, "\"owner_id\":%lld", (long long)carol_id);
    EXPECT(has(out, buf));
    acme_v = json_int(out, "version");
    drop(&out);
    CHECK_OK(crm_client_delete(sys, acme, acme_v));
    EXPECT_FAIL(CRM_STATUS_NOT_FOUND, "not found", crm_client_get(sys, acme, &out));

    /* ---- audit ---- */
    CHECK_OK(crm_audit_verify(sys, &out));
    EXPECT(has(out, "\"ok\":true") && has(out, "\"problems\":[]"));
    n = (uint64_t)json_int(out, "entries");
    drop(&out);
    CHECK_OK(crm_audit_entries(sys, "{\"limit\":3}", &out));
    EXPECT(json_array_len(out) == 3 && has(out, "\"action\":\"client.delete\""));
    drop(&out);
    CHECK_OK(crm_audit_entries_cursor(sys, "{\"limit\":7}", &cur));
    total = 0;
    while (crm_cursor_next(cur, &page) == CRM_STATUS_OK && page != NULL) {
        total += json_array_len(page);
        drop(&page);
    }
    EXPECT((uint64_t)total == n);
    printf("audit log: %d entries, chain intact\n", total);

    /* Close in an unusual order: database first, then the handles made from it. */
    crm_db_close(db);
    crm_cursor_free(cur);
    crm_ctx_free(bob);
    crm_ctx_free(carol_ctx);
    crm_ctx_free(sys);
    /* Destructors accept NULL. */
    crm_db_close(NULL);
    crm_ctx_free(NULL);
    crm_cursor_free(NULL);
    crm_string_free(NULL);
    return t_finish("basic");
}
