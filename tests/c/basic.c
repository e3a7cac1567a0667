/*
 * basic.c -- every function of crm.h on its happy path, with the outputs checked: first the
 * functions of ABI 1.0 (organisation, clients, access, audit), then those added in ABI 1.1
 * (pipelines, deals, activities, timeline, funnel reports, settings, automation, import and
 * export, merge, backups, outbox) on a second database.
 *
 * Usage: basic SCRATCH_DIR
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <time.h>

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


/* ---------------------------------------------------------------------------------------- */
/* ABI 1.1                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* The id of the object in which `needle` (e.g. "\"name\":\"Offer\"") occurs: the last "id"
 * before it (records start with their id). */
static int64_t id_before(const char *json, const char *needle) {
    const char *end = json ? strstr(json, needle) : NULL;
    const char *p, *found = NULL;
    if (end == NULL) {
        T_FAIL("no %s in %s", needle, json ? json : "(null)");
        return -1;
    }
    for (p = json; p < end && (p = strstr(p, "\"id\":")) != NULL && p < end; p++) found = p;
    if (found == NULL) {
        T_FAIL("no id before %s", needle);
        return -1;
    }
    return strtoll(found + 5, NULL, 10);
}

/* Counts the occurrences of `needle` in `text`. */
static int count_of(const char *text, const char *needle) {
    int n = 0;
    const char *p = text;
    while (p && (p = strstr(p, needle)) != NULL) {
        n++;
        p += strlen(needle);
    }
    return n;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    EXPECT(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Reads a whole (small) file into buf; returns its length or -1. */
static long read_text(const char *path, char *out, size_t cap) {
    FILE *f = fopen(path, "rb");
    size_t n;
    if (f == NULL) return -1;
    n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
    return (long)n;
}

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* Files in `dir` whose names contain `part`. */
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

/* "<dir>/<name>" into one of four rotating buffers (several paths live at once). */
static const char *path_in(const char *dir, const char *name) {
    static char bufs[4][4096];
    static int next = 0;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

/* The current UTC time plus `offset` seconds as RFC 3339. */
static const char *utc_now(char *out, size_t cap, long offset) {
    time_t t = time(NULL) + offset;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

struct progress_log {
    int calls;
    uint64_t last_done, last_total;
};

/* A progress callback that records its calls and never cancels. */
static int32_t log_progress(void *user_data, uint64_t done, uint64_t total_or_zero) {
    struct progress_log *log = (struct progress_log *)user_data;
    log->calls++;
    log->last_done = done;
    log->last_total = total_or_zero;
    return 1;
}

static void test_abi_1_1(const char *dir) {
    crm_db *db = NULL, *restored = NULL;
    crm_ctx *sys = NULL, *bob = NULL, *rsys = NULL;
    crm_cursor *cur = NULL;
    char *out = NULL, *page = NULL, *data = NULL;
    char later[32], req[2048], text[8192];
    int64_t sales, bob_id, carol_id, role, asg, pipeline, lead, offer, nego, won, lost;
    int64_t nordwind, jonas, deal, deal_v, deal2, deal2_v, deal3, scratch, act, act_v, act2;
    int64_t rule, dup_a, dup_b, merge_id, head, head_after, acked, field;
    uint64_t count = 0, deleted = 0;
    size_t len = 0;
    int total, year, n_pages;
    struct progress_log plog;
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    year = tm.tm_year + 1900;
    EXPECT(CRM_ABI_VERSION_MINOR >= 1 && (crm_abi_version() & 0xffff) >= 1);
    EXPECT(strcmp(crm_status_name(CRM_STATUS_CANCELLED), "CRM_STATUS_CANCELLED") == 0);
    EXPECT(strcmp(crm_status_name(CRM_STATUS_IO), "CRM_STATUS_IO") == 0);
    EXPECT(CRM_STATUS_CANCELLED == 11 && CRM_STATUS_IO == 12);

    CHECK_OK(crm_db_open(path_in(dir, "deals.db"), NULL, &db));
    CHECK_OK(crm_ctx_new_system(db, "ABI 1.1 test", &sys));
    CHECK_OK(crm_department_create(sys, "{\"name\":\"Sales\"}", &out));
    sales = json_int(out, "id");
    drop(&out);
    snprintf(req, sizeof req,
             "{\"name\":\"Bob\",\"email\":\"bob@example.com\",\"department_id\":%lld}",
             (long long)sales);
    CHECK_OK(crm_user_create(sys, req, &out));
    bob_id = json_int(out, "id");
    drop(&out);
    snprintf(req, sizeof req,
             "{\"name\":\"Carol\",\"email\":\"carol@example.com\",\"department_id\":%lld}",
             (long long)sales);
    CHECK_OK(crm_user_create(sys, req, &out));
    carol_id = json_int(out, "id");
    drop(&out);
    CHECK_OK(crm_role_create(
        sys, "Seller",
        "[{\"entity\":\"client\",\"action\":\"read\",\"level\":\"department\"},"
        "{\"entity\":\"client\",\"action\":\"create\",\"level\":\"own\"},"
        "{\"entity\":\"deal\",\"action\":\"read\",\"level\":\"department\"},"
        "{\"entity\":\"deal\",\"action\":\"create\",\"level\":\"own\"},"
        "{\"entity\":\"deal\",\"action\":\"update\",\"level\":\"own\"},"
        "{\"entity\":\"deal\",\"action\":\"change_stage\",\"level\":\"own\"},"
        "{\"entity\":\"activity\",\"action\":\"read\",\"level\":\"department\"},"
        "{\"entity\":\"activity\",\"action\":\"create\",\"level\":\"own\"}]",
        &out));
    role = json_int(out, "id");
    drop(&out);
    snprintf(req, sizeof req, "{\"kind\":\"user\",\"user_id\":%lld}", (long long)bob_id);
    CHECK_OK(crm_role_assign(sys, role, req, &asg));
    CHECK_OK(crm_ctx_new_user(db, bob_id, &bob));

    /* ---- settings ---- */
    CHECK_OK(crm_report_time_zone_get(sys, &out));
    EXPECT(strcmp(out, "UTC") == 0);
    drop(&out);
    CHECK_OK(crm_report_time_zone_set(sys, "Europe/Berlin"));
    CHECK_OK(crm_report_time_zone_get(bob, &out));
    EXPECT(strcmp(out, "Europe/Berlin") == 0);
    drop(&out);
    CHECK_OK(crm_exchange_rate_set(sys, "USD", "EUR", "2000-01-01", "0.92"));
    CHECK_OK(crm_exchange_rate_get(sys, "USD", "EUR", "2026-06-30", &out));
    EXPECT(out != NULL && strcmp(out, "0.92") == 0);
    drop(&out);
    out = text; /* must become NULL */
    CHECK_OK(crm_exchange_rate_get(sys, "USD", "EUR", "1999-12-31", &out));
    EXPECT(out == NULL); /* no rate in force that day */

    /* ---- custom fields of deals ---- */
    CHECK_OK(crm_custom_field_define(
        sys, "{\"entity\":\"deal\",\"key\":\"product\",\"label\":\"Product\",\"field_type\":\"text\"}",
        &out));
    field = json_int(out, "id");
    EXPECT(has(out, "\"entity\":\"deal\""));
    drop(&out);
    CHECK_OK(crm_custom_field_list(sys, CRM_ENTITY_DEAL, &out));
    EXPECT(json_array_len(out) == 1 && json_int(out, "id") == field);
    drop(&out);
    CHECK_OK(crm_custom_field_list(sys, CRM_ENTITY_ACTIVITY, &out));
    EXPECT(strcmp(out, "[]") == 0);
    drop(&out);

    /* ---- pipelines ---- */
    CHECK_OK(crm_pipeline_create(
        sys,
        "{\"name\":\"Sales\",\"stages\":[{\"name\":\"Lead\",\"probability\":10},"
        "{\"name\":\"Offer\",\"probability\":50,\"rotting_days\":14},"
        "{\"name\":\"Won\",\"probability\":100,\"kind\":\"won\"},"
        "{\"name\":\"Lost\",\"probability\":0,\"kind\":\"lost\"}]}",
        &out));
    pipeline = json_int(out, "id");
    lead = id_before(out, "\"name\":\"Lead\"");
    offer = id_before(out, "\"name\":\"Offer\"");
    won = id_before(out, "\"name\":\"Won\"");
    lost = id_before(out, "\"name\":\"Lost\"");
    EXPECT(json_array_len(strstr(out, "[")) == 4 && has(out, "\"kind\":\"won\""));
    drop(&out);
    snprintf(req, sizeof req,
             "{\"name\":\"Sales 2027\",\"stages\":[{\"id\":%lld,\"name\":\"Lead\",\"probability\":10},"
             "{\"id\":%lld,\"name\":\"Offer\",\"probability\":50,\"rotting_days\":14},"
             "{\"name\":\"Negotiation\",\"probability\":70},"
             "{\"id\":%lld,\"name\":\"Won\",\"probability\":100,\"kind\":\"won\"},"
             "{\"id\":%lld,\"name\":\"Lost\",\"probability\":0,\"kind\":\"lost\"}]}",
             (long long)lead, (long long)offer, (long long)won, (long long)lost);
    CHECK_OK(crm_pipeline_update(sys, pipeline, req, &out));
    nego = id_before(out, "\"name\":\"Negotiation\"");
    EXPECT(has(out, "\"name\":\"Sales 2027\"") && json_array_len(strstr(out, "[")) == 5);
    drop(&out);
    CHECK_OK(crm_pipeline_get(bob, pipeline, &out));
    EXPECT(has(out, "Negotiation") && json_int(out, "id") == pipeline);
    drop(&out);
    CHECK_OK(crm_pipeline_list(bob, &out));
    EXPECT(json_array_len(out) == 1 && has(out, "Sales 2027"));
    drop(&out);

    /* ---- deals, acting as Bob ---- */
    CHECK_OK(crm_client_create(bob, "{\"kind\":\"organization\",\"name\":\"Nordwind GmbH\"}", &out));
    nordwind = json_int(out, "id");
    drop(&out);
    CHECK_OK(crm_client_create(bob, "{\"kind\":\"person\",\"name\":\"Jonas Weber\"}", &out));
    jonas = json_int(out, "id");
    drop(&out);
    CHECK_OK(crm_client_link_contact(sys, nordwind, jonas, "Buyer"));
    snprintf(req, sizeof req,
             "{\"title\":\"Nordwind licences\",\"pipeline_id\":%lld,\"currency\":\"EUR\","
             "\"amount_minor\":1200000,\"client_id\":%lld,\"contact_id\":%lld,"
             "\"expected_close_date\":\"%d-03-31\",\"custom\":{\"product\":\"GTX\"}}",
             (long long)pipeline, (long long)nordwind, (long long)jonas, year + 1);
    CHECK_OK(crm_deal_create(bob, req, &out));
    deal = json_int(out, "id");
    deal_v = json_int(out, "version");
    snprintf(buf, sizeof buf, "\"stage_id\":%lld", (long long)lead);
    EXPECT(has(out, buf) && has(out, "\"status\":\"open\"") && has(out, "\"probability\":10"));
    drop(&out);
    CHECK_OK(crm_deal_get(bob, deal, &out));
    EXPECT(has(out, "Nordwind licences") && has(out, "\"product\":\"GTX\""));
    drop(&out);
    CHECK_OK(crm_deal_update(bob, deal, deal_v, "{\"amount_minor\":1500000,\"probability_override\":40}", &out));
    EXPECT(has(out, "\"amount_minor\":1500000") && has(out, "\"probability\":40"));
    deal_v = json_int(out, "version");
    drop(&out);
    snprintf(req, sizeof req, "{\"stage_id\":%lld}", (long long)offer);
    CHECK_OK(crm_deal_move(bob, deal, deal_v, req, &out));
    snprintf(buf, sizeof buf, "\"stage_id\":%lld", (long long)offer);
    EXPECT(has(out, buf));
    deal_v = json_int(out, "version");
    drop(&out);
    CHECK_OK(crm_deal_history(bob, deal, &out));
    EXPECT(json_array_len(out) == 2 && has(out, "\"from_stage_id\":null"));
    drop(&out);

    snprintf(req, sizeof req,
             "{\"title\":\"Nordwind support\",\"pipeline_id\":%lld,\"currency\":\"USD\","
             "\"amount_minor\":50000,\"client_id\":%lld}",
             (long long)pipeline, (long long)nordwind);
    CHECK_OK(crm_deal_create(bob, req, &out));
    deal2 = json_int(out, "id");
    deal2_v = json_int(out, "version");
    drop(&out);
    snprintf(req, sizeof req, "{\"stage_id\":%lld,\"lost_reason\":\"price\"}", (long long)lost);
    CHECK_OK(crm_deal_move(bob, deal2, deal2_v, req, &out));
    EXPECT(has(out, "\"status\":\"lost\"") && has(out, "\"lost_reason\":\"price\""));
    drop(&out);
    snprintf(req, sizeof req,
             "{\"title\":\"Nordwind training\",\"pipeline_id\":%lld,\"currency\":\"EUR\","
             "\"amount_minor\":80000,\"client_id\":%lld,\"owner_id\":%lld}",
             (long long)pipeline, (long long)nordwind, (long long)bob_id);
    CHECK_OK(crm_deal_create(sys, req, &out));
    deal3 = json_int(out, "id");
    snprintf(req, sizeof req, "{\"stage_id\":%lld}", (long long)won);
    CHECK_OK(crm_deal_move(sys, deal3, json_int(out, "version"), req, &page));
    EXPECT(has(page, "\"status\":\"won\"") && !has(page, "\"closed_at\":null"));
    drop(&out);
    CHECK_OK(crm_deal_assign(sys, deal3, json_int(page, "version"), carol_id, &out));
    snprintf(buf, sizeof buf, "\"owner_id\":%lld", (long long)carol_id);
    EXPECT(has(out, buf) && has(out, "\"status\":\"won\""));
    drop(&page);
    drop(&out);
    snprintf(req, sizeof req,
             "{\"title\":\"Scratch\",\"pipeline_id\":%lld,\"currency\":\"EUR\",\"owner_id\":%lld}",
             (long long)pipeline, (long long)bob_id);
    CHECK_OK(crm_deal_create(sys, req, &out));
    scratch = json_int(out, "id");
    CHECK_OK(crm_deal_delete(sys, scratch, json_int(out, "version")));
    drop(&out);
    EXPECT_FAIL(CRM_STATUS_NOT_FOUND, "not found", crm_deal_get(sys, scratch, &out));

    snprintf(req, sizeof req, "{\"pipeline_id\":%lld,\"status\":\"open\"}", (long long)pipeline);
    CHECK_OK(crm_deal_list(bob, req, &out));
    EXPECT(json_array_len(strstr(out, "[")) == 1 && has(out, "\"next\":null"));
    drop(&out);
    CHECK_OK(crm_deal_list_cursor(bob, "{\"limit\":1}", &cur));
    total = 0;
    while (crm_cursor_next(cur, &page) == CRM_STATUS_OK && page != NULL) {
        EXPECT(json_array_len(page) == 1);
        total++;
        drop(&page);
    }
    EXPECT(total == 3);
    crm_cursor_free(cur);
    cur = NULL;

    /* ---- activities ---- */
    snprintf(req, sizeof req,
             "{\"kind\":\"call\",\"subject\":\"Follow-up call\",\"client_id\":%lld,\"deal_id\":%lld,"
             "\"due_at\":\"2026-01-01T09:00:00Z\",\"remind_at\":\"2026-01-01T08:30:00Z\"}",
             (long long)nordwind, (long long)deal);
    CHECK_OK(crm_activity_create(bob, req, &out));
    act = json_int(out, "id");
    act_v = json_int(out, "version");
    snprintf(buf, sizeof buf, "\"assignee_id\":%lld", (long long)bob_id);
    EXPECT(has(out, "\"kind\":\"call\"") && has(out, buf) && has(out, "\"done_at\":null"));
    drop(&out);
    CHECK_OK(crm_activity_get(bob, act, &out));
    EXPECT(has(out, "Follow-up call"));
    drop(&out);
    CHECK_OK(crm_activity_update(sys, act, act_v, "{\"subject\":\"Call about licences\",\"body\":\"Ask for the budget\"}", &out));
    EXPECT(has(out, "Call about licences") && json_int(out, "version") == act_v + 1);
    act_v = json_int(out, "version");
    drop(&out);
    CHECK_OK(crm_activity_assign(sys, act, act_v, carol_id, &out));
    snprintf(buf, sizeof buf, "\"assignee_id\":%lld", (long long)carol_id);
    EXPECT(has(out, buf));
    act_v = json_int(out, "version");
    drop(&out);
    CHECK_OK(crm_activity_due_reminders(sys, "2030-01-01T00:00:00Z", &out));
    EXPECT(json_array_len(out) == 1 && has(out, "Call about licences"));
    drop(&out);
    CHECK_OK(crm_activity_due_reminders(sys, "2025-12-31T23:00:00+01:00", &out));
    EXPECT(strcmp(out, "[]") == 0); /* the reminder is at 08:30 UTC on 2026-01-01 */
    drop(&out);
    CHECK_OK(crm_activity_overdue(sys, carol_id, "2030-01-01T00:00:00Z", &out));
    EXPECT(json_array_len(out) == 1);
    drop(&out);
    CHECK_OK(crm_activity_overdue(sys, bob_id, "2030-01-01T00:00:00Z", &out));
    EXPECT(strcmp(out, "[]") == 0);
    drop(&out);
    snprintf(req, sizeof req, "{\"kind\":\"note\",\"subject\":\"Scratch\",\"client_id\":%lld}",
             (long long)nordwind);
    CHECK_OK(crm_activity_create(bob, req, &out));
    act2 = json_int(out, "id");
    CHECK_OK(crm_activity_delete(sys, act2, json_int(out, "version")));
    drop(&out);

    /* ---- timeline ---- */
    CHECK_OK(crm_client_timeline(sys, nordwind, "{\"limit\":500}", &out));
    EXPECT(has(out, "\"type\":\"activity\"") && has(out, "\"type\":\"stage_change\"") &&
           has(out, "\"type\":\"change\"") && has(out, "\"next\":null"));
    total = json_array_len(strstr(out, "["));
    drop(&out);
    CHECK_OK(crm_client_timeline_cursor(sys, nordwind, "{\"limit\":2}", &cur));
    n_pages = 0;
    while (crm_cursor_next(cur, &page) == CRM_STATUS_OK && page != NULL) {
        total -= json_array_len(page);
        n_pages++;
        drop(&page);
    }
    EXPECT(total == 0 && n_pages > 1);
    crm_cursor_free(cur);
    cur = NULL;

    /* ---- automation ---- */
    snprintf(req, sizeof req,
             "{\"trigger\":{\"kind\":\"stage_entered\",\"stage_id\":%lld},"
             "\"task_subject\":\"Prepare the contract\",\"due_in_days\":2}",
             (long long)nego);
    CHECK_OK(crm_automation_rule_create(sys, req, &out));
    rule = json_int(out, "id");
    EXPECT(has(out, "\"active\":true"));
    drop(&out);
    CHECK_OK(crm_automation_rule_list(bob, &out));
    EXPECT(json_array_len(out) == 1 && has(out, "stage_entered"));
    drop(&out);
    snprintf(req, sizeof req, "{\"stage_id\":%lld}", (long long)nego);
    CHECK_OK(crm_deal_move(bob, deal, deal_v, req, &out));
    deal_v = json_int(out, "version");
    drop(&out);
    CHECK_OK(crm_automation_run_due(sys, utc_now(later, sizeof later, 120), &out));
    EXPECT(has(out, "\"total\":1"));
    drop(&out);
    CHECK_OK(crm_automation_run_due(sys, later, &out)); /* idempotent */
    EXPECT(has(out, "\"total\":0"));
    drop(&out);
    CHECK_OK(crm_automation_rule_set_active(sys, rule, 0));
    CHECK_OK(crm_automation_rule_list(sys, &out));
    EXPECT(has(out, "\"active\":false"));
    drop(&out);
    CHECK_OK(crm_automation_rule_set_active(sys, rule, 1));
    CHECK_OK(crm_automation_rule_delete(sys, rule));
    CHECK_OK(crm_automation_rule_list(sys, &out));
    EXPECT(strcmp(out, "[]") == 0);
    drop(&out);

    /* ---- funnel report ---- */
    snprintf(req, sizeof req,
             "{\"pipeline_id\":%lld,\"from\":\"%d-01-01\",\"to\":\"%d-01-01\",\"grouping\":\"quarter\","
             "\"reporting_currency\":\"EUR\"}",
             (long long)pipeline, year - 1, year + 2);
    CHECK_OK(crm_funnel_report(bob, req, &out));
    EXPECT(has(out, "\"pipeline_name\":\"Sales 2027\"") && has(out, "\"time_zone\":\"Europe/Berlin\""));
    EXPECT(has(out, "\"grouping\":\"quarter\"") && has(out, "\"missing_rates\":[]"));
    EXPECT(has(out, "{\"reason\":\"price\",\"count\":1}")); /* lost reasons with their counts */
    EXPECT(has(out, "\"currency\":\"USD\"") && has(out, "\"converted\":{"));
    drop(&out);
    CHECK_OK(crm_funnel_report_svg(bob, req, &out));
    EXPECT(has(out, "<svg") && has(out, "</svg>") && has(out, "Negotiation"));
    drop(&out);
    CHECK_OK(crm_funnel_pivot(bob, req, &out));
    EXPECT(json_array_len(out) >= 2 && has(out, "\"figures\""));
    drop(&out);

    /* ---- import and export ---- */
    write_text(path_in(dir, "import.csv"),
               "external_id,name,kind,email\n"
               "E1,Alpha GmbH,organization,info@alpha.example\n"
               "E2,Beta AG,organization,\n");
    memset(&plog, 0, sizeof plog);
    CHECK_OK(crm_import_file(sys,
                             "{\"records\":\"clients\",\"defaults\":{\"owner_email\":\"bob@example.com\"}}",
                             path_in(dir, "import.csv"), log_progress, &plog, &out));
    EXPECT(has(out, "\"rows\":2") && has(out, "\"created\":2") && has(out, "\"invalid\":0"));
    EXPECT(plog.calls >= 1 && plog.last_total > 0 && plog.last_done == plog.last_total);
    drop(&out);
    /* Again, without a callback: matched by external id, nothing to change. */
    CHECK_OK(crm_import_file(sys,
                             "{\"records\":\"clients\",\"defaults\":{\"owner_email\":\"bob@example.com\"}}",
                             path_in(dir, "import.csv"), NULL, NULL, &out));
    EXPECT(has(out, "\"created\":0") && has(out, "\"unchanged\":2"));
    drop(&out);
    {
        static const char lines[] =
            "{\"external_id\":\"E3\",\"name\":\"Gamma KG\",\"owner_email\":\"bob@example.com\"}\n"
            "{\"external_id\":\"E4\",\"name\":\"Delta SE\",\"owner_email\":\"bob@example.com\"}\n";
        memset(&plog, 0, sizeof plog);
        CHECK_OK(crm_import_buffer(sys, "{\"records\":\"clients\",\"format\":\"json_lines\"}",
                                   (const uint8_t *)lines, sizeof lines - 1, log_progress, &plog,
                                   &out));
        EXPECT(has(out, "\"created\":2"));
        EXPECT(plog.calls >= 1 && plog.last_total == sizeof lines - 1);
        drop(&out);
        /* A dry run reports and writes nothing; an empty buffer may be NULL. */
        CHECK_OK(crm_import_buffer(sys, "{\"records\":\"clients\",\"format\":\"json_lines\",\"dry_run\":true}", NULL, 0,
                                   NULL, NULL, &out));
        EXPECT(has(out, "\"rows\":0") && has(out, "\"dry_run\":true"));
        drop(&out);
    }
    memset(&plog, 0, sizeof plog);
    CHECK_OK(crm_export_file(sys, "{\"records\":\"clients\"}", path_in(dir, "clients-export.csv"),
                             log_progress, &plog, &count));
    EXPECT(count == 6); /* Nordwind, Jonas, Alpha, Beta, Gamma, Delta */
    EXPECT(read_text(path_in(dir, "clients-export.csv"), text, sizeof text) > 0);
    EXPECT(has(text, "external_id") && has(text, "Alpha GmbH") && has(text, "bob@example.com"));
    EXPECT(count_files(dir, "crm-partial") == 0);
    /* Replacing an existing file. */
    CHECK_OK(crm_export_file(sys, "{\"records\":\"deals\",\"format\":\"json_lines\"}",
                             path_in(dir, "clients-export.csv"), NULL, NULL, &count));
    EXPECT(count == 3);
    EXPECT(read_text(path_in(dir, "clients-export.csv"), text, sizeof text) > 0 &&
           count_of(text, "\n") == 3 && !has(text, "Alpha GmbH"));
    CHECK_OK(crm_export_buffer(sys, "{\"records\":\"deals\",\"format\":\"json_lines\"}", log_progress,
                               &plog, &data, &len));
    EXPECT(len == strlen(data) && count_of(data, "\n") == 3 && has(data, "Nordwind licences"));
    EXPECT(strcmp(data, text) == 0);
    drop(&data);
    CHECK_OK(crm_export_buffer(sys, "{\"records\":\"contacts\"}", NULL, NULL, &data, &len));
    EXPECT(has(data, "Buyer") && len == strlen(data));
    drop(&data);

    /* ---- merge ---- */
    CHECK_OK(crm_client_create(bob, "{\"kind\":\"organization\",\"name\":\"Dup Ltd\",\"tax_id\":\"GB123\"}", &out));
    dup_a = json_int(out, "id");
    drop(&out);
    CHECK_OK(crm_client_create(bob, "{\"kind\":\"organization\",\"name\":\"Dup Limited\",\"tax_id\":\"GB123\",\"tags\":[\"x\"]}", &out));
    dup_b = json_int(out, "id");
    drop(&out);
    snprintf(req, sizeof req,
             "{\"survivor_id\":%lld,\"duplicate_id\":%lld,\"choices\":{\"name\":\"survivor\"}}",
             (long long)dup_a, (long long)dup_b);
    CHECK_OK(crm_client_merge(sys, req, &out));
    merge_id = json_int(out, "merge_id");
    EXPECT(merge_id > 0 && has(out, "\"name\":\"Dup Ltd\"") && has(out, "\"tags\":[\"x\"]"));
    drop(&out);
    CHECK_OK(crm_client_get(sys, dup_b, &out));
    EXPECT(!has(out, "\"archived_at\":null"));
    drop(&out);
    CHECK_OK(crm_client_merge_undo(sys, merge_id, &out));
    EXPECT(json_int(out, "id") == dup_a && has(out, "\"tags\":[]"));
    drop(&out);
    CHECK_OK(crm_client_get(sys, dup_b, &out));
    EXPECT(has(out, "\"archived_at\":null"));
    drop(&out);

    /* ---- outbox ---- */
    CHECK_OK(crm_outbox_head(sys, &head));
    EXPECT(head > 10);
    CHECK_OK(crm_outbox_events(sys, 0, "[]", 5, &out));
    EXPECT(json_array_len(out) == 5 && has(out, "\"event_type\":\"client.create\""));
    drop(&out);
    CHECK_OK(crm_outbox_events(bob, 0, "[\"deal.change_stage\"]", 100, &out));
    EXPECT(json_array_len(out) == count_of(out, "\"event_type\":\"deal.change_stage\"") &&
           json_array_len(out) >= 3);
    drop(&out);
    CHECK_OK(crm_outbox_acked(sys, "erp-sync", &acked));
    EXPECT(acked == 0);
    CHECK_OK(crm_outbox_ack(sys, "erp-sync", head, &acked));
    EXPECT(acked == head);
    CHECK_OK(crm_outbox_ack(sys, "erp-sync", 1, &acked)); /* never moves back */
    EXPECT(acked == head);
    CHECK_OK(crm_outbox_acked(sys, "erp-sync", &acked));
    EXPECT(acked == head);
    /* Everything acknowledged goes, except the newest event: ids are never handed out twice. */
    CHECK_OK(crm_outbox_prune(sys, &deleted));
    EXPECT(deleted == (uint64_t)head - 1);
    CHECK_OK(crm_outbox_events(sys, 0, "[]", 10000, &out));
    EXPECT(json_array_len(out) == 1);
    drop(&out);
    CHECK_OK(crm_outbox_head(sys, &head_after));
    EXPECT(head_after == head);

    /* ---- backups ---- */
    memset(&plog, 0, sizeof plog);
    CHECK_OK(crm_backup_create(sys, path_in(dir, "backup.db"), log_progress, &plog));
    EXPECT(plog.calls >= 1 && plog.last_total > 0 && plog.last_done == plog.last_total);
    EXPECT(file_exists(path_in(dir, "backup.db")));
    CHECK_OK(crm_backup_verify(sys, path_in(dir, "backup.db"), &out));
    EXPECT(has(out, "\"ok\":true") && has(out, "\"integrity_problems\":[]"));
    drop(&out);
    snprintf(req, sizeof req, "{\"kind\":\"new_file\",\"path\":\"%s\"}", path_in(dir, "restored.db"));
    memset(&plog, 0, sizeof plog);
    CHECK_OK(crm_backup_restore(sys, path_in(dir, "backup.db"), req, log_progress, &plog, &out));
    EXPECT(strcmp(out, "{\"safety_copy\":null}") == 0 && plog.calls >= 1);
    drop(&out);
    CHECK_OK(crm_db_open(path_in(dir, "restored.db"), NULL, &restored));
    CHECK_OK(crm_ctx_new_system(restored, "check the restore", &rsys));
    CHECK_OK(crm_deal_get(rsys, deal, &out));
    EXPECT(has(out, "Nordwind licences"));
    drop(&out);
    crm_ctx_free(rsys);
    crm_db_close(restored);
    /* Over the open database: a change made after the backup disappears. */
    CHECK_OK(crm_deal_update(sys, deal, deal_v, "{\"title\":\"After the backup\"}", &out));
    drop(&out);
    CHECK_OK(crm_backup_restore(sys, path_in(dir, "backup.db"), "{\"kind\":\"current\"}", NULL,
                                NULL, &out));
    EXPECT(has(out, "\"safety_copy\":\"") && has(out, ".pre-restore-"));
    snprintf(text, sizeof text, "%s", strstr(out, ":\"") + 2);
    if (strchr(text, '"')) *strchr(text, '"') = '\0';
    EXPECT(file_exists(text));
    drop(&out);
    CHECK_OK(crm_deal_get(bob, deal, &out));
    EXPECT(has(out, "Nordwind licences") && !has(out, "After the backup"));
    drop(&out);
    CHECK_OK(crm_backup_rotate(sys, path_in(dir, "rotated"), 2, NULL, NULL, &out));
    EXPECT(has(out, "crm-backup-") && file_exists(out));
    drop(&out);
    CHECK_OK(crm_backup_rotate(sys, path_in(dir, "rotated"), 2, log_progress, &plog, &out));
    drop(&out);
    CHECK_OK(crm_backup_rotate(sys, path_in(dir, "rotated"), 2, NULL, NULL, &out));
    drop(&out);
    EXPECT(count_files(path_in(dir, "rotated"), "crm-backup-") == 2);
    printf("ABI 1.1: pipelines, deals, activities, reports, import/export, merge, outbox, backups\n");

    crm_ctx_free(bob);
    crm_ctx_free(sys);
    crm_db_close(db);
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

    test_abi_1_1(argv[1]);
    return t_finish("basic");
}
