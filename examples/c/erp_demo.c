/*
 * erp_demo.c -- embedding libcrm the way an ERP or accounting program would.
 *
 * The program opens (or creates) a CRM database, sets up a department, a sales manager, a role
 * and a sales pipeline as the host's administrator would, then acts as that manager: records an
 * organisation with its contact person, searches for it, lists a page of clients, opens a deal
 * and moves it to the offer stage, asks for the funnel report (and its chart as SVG), and
 * finally has the system verify the audit log.
 *
 * Build and run with the Makefile beside it (`make run`), or by hand:
 *   cc -std=c99 -I include examples/c/erp_demo.c -L target/debug -lcrm \
 *      -Wl,-rpath,$PWD/target/debug -o erp_demo && ./erp_demo /tmp/erp.db
 *
 * Records cross the API as JSON. A real host would use its own JSON library to build requests
 * and read answers; to stay dependency-free this example builds requests with snprintf and
 * reads ids with a tiny helper.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crm.h"

/* Reports a failed call the way a host would: the status name, the engine's message. */
static int failed(crm_status st, const char *what) {
    if (st == CRM_STATUS_OK) return 0;
    fprintf(stderr, "%s failed: %s (%d): %s\n", what, crm_status_name(st), (int)st,
            crm_last_error_message());
    return 1;
}

#define TRY(call)                              \
    do {                                       \
        if (failed((call), #call)) goto fail;  \
    } while (0)

/* The integer after the first "key": in a compact JSON text (every record starts with "id"). */
static int64_t id_of(const char *json) {
    const char *p = strstr(json, "\"id\":");
    return p ? strtoll(p + 5, NULL, 10) : -1;
}

/* The id of the pipeline stage called `name` in a pipeline's JSON: stages are written as
 * {"id":2,"name":"Offer",...}, so it is the last "id" before the name. */
static int64_t stage_id(const char *pipeline_json, const char *name) {
    char needle[128];
    const char *end, *p, *found = NULL;
    snprintf(needle, sizeof needle, "\"name\":\"%s\"", name);
    end = strstr(pipeline_json, needle);
    for (p = pipeline_json; end && (p = strstr(p, "\"id\":")) != NULL && p < end; p++) found = p;
    return found ? strtoll(found + 5, NULL, 10) : -1;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "erp-demo.db";
    crm_db *db = NULL;
    crm_ctx *admin = NULL, *manager = NULL;
    char *json = NULL, req[1024];
    int64_t dept, user, role, assignment, org, person, pipeline, offer, deal, version;
    int exit_code = 1, year;
    time_t now = time(NULL);

    year = gmtime(&now)->tm_year + 1900;

    /* The host checks at start-up that the library speaks the ABI it was compiled against. */
    if ((crm_abi_version() >> 16) != CRM_ABI_VERSION_MAJOR) {
        fprintf(stderr, "libcrm ABI %u.x, expected %d.x\n", crm_abi_version() >> 16,
                CRM_ABI_VERSION_MAJOR);
        return 1;
    }
    printf("%s\n", crm_version());
    /* Start afresh each run. */
    remove(path);
    snprintf(req, sizeof req, "%s-wal", path);
    remove(req);
    snprintf(req, sizeof req, "%s-shm", path);
    remove(req);

    /* 1. Open the database: every commit durable before the call returns. */
    TRY(crm_db_open(path, "{\"durability\":\"full\"}", &db));

    /* 2. Set up the organisation with the audited system context. */
    TRY(crm_ctx_new_system(db, "ERP setup wizard", &admin));
    TRY(crm_department_create(admin, "{\"name\":\"Sales\"}", &json));
    dept = id_of(json);
    crm_string_free(json);
    snprintf(req, sizeof req,
             "{\"name\":\"Maria Lopez\",\"email\":\"maria@erp.example\",\"department_id\":%lld}",
             (long long)dept);
    TRY(crm_user_create(admin, req, &json));
    user = id_of(json);
    crm_string_free(json);
    TRY(crm_role_create(admin, "Sales manager",
                        "[{\"entity\":\"client\",\"action\":\"read\",\"level\":\"department\"},"
                        "{\"entity\":\"client\",\"action\":\"create\",\"level\":\"own\"},"
                        "{\"entity\":\"client\",\"action\":\"update\",\"level\":\"own\"},"
                        "{\"entity\":\"deal\",\"action\":\"read\",\"level\":\"department\"},"
                        "{\"entity\":\"deal\",\"action\":\"create\",\"level\":\"own\"},"
                        "{\"entity\":\"deal\",\"action\":\"change_stage\",\"level\":\"own\"}]",
                        &json));
    role = id_of(json);
    crm_string_free(json);
    snprintf(req, sizeof req, "{\"kind\":\"user\",\"user_id\":%lld}", (long long)user);
    TRY(crm_role_assign(admin, role, req, &assignment));
    printf("department %lld, user %lld, role %lld (assignment %lld)\n", (long long)dept,
           (long long)user, (long long)role, (long long)assignment);
    TRY(crm_pipeline_create(admin,
                            "{\"name\":\"Sales\",\"stages\":[{\"name\":\"Lead\",\"probability\":10},"
                            "{\"name\":\"Offer\",\"probability\":50,\"rotting_days\":14},"
                            "{\"name\":\"Won\",\"probability\":100,\"kind\":\"won\"},"
                            "{\"name\":\"Lost\",\"probability\":0,\"kind\":\"lost\"}]}",
                            &json));
    pipeline = id_of(json);
    offer = stage_id(json, "Offer");
    crm_string_free(json);
    printf("pipeline %lld (offer stage %lld)\n", (long long)pipeline, (long long)offer);

    /* Errors carry a status and a message that names the field. */
    snprintf(req, sizeof req,
             "{\"name\":\"Maria again\",\"email\":\"MARIA@erp.example\",\"department_id\":%lld}",
             (long long)dept);
    if (crm_user_create(admin, req, &json) == CRM_STATUS_VALIDATION) {
        printf("as expected, a second user with that e-mail is refused: %s\n",
               crm_last_error_message());
    } else {
        crm_string_free(json);
        fprintf(stderr, "a duplicate e-mail was accepted\n");
        goto fail;
    }

    /* 3. Act as the sales manager: her roles decide what she may see and do. */
    TRY(crm_ctx_new_user(db, user, &manager));
    TRY(crm_client_create(manager,
                          "{\"kind\":\"organization\",\"name\":\"Nordwind Handels GmbH\","
                          "\"tax_id\":\"DE 811 234 567\",\"emails\":[{\"address\":\"info@nordwind.example\"}],"
                          "\"addresses\":[{\"kind\":\"legal\",\"street\":\"Hafenstr. 1\","
                          "\"city\":\"Hamburg\",\"postal_code\":\"20457\",\"country\":\"DE\"}]}",
                          &json));
    org = id_of(json);
    crm_string_free(json);
    TRY(crm_client_create(manager,
                          "{\"kind\":\"person\",\"name\":\"Jonas Weber\","
                          "\"phones\":[{\"kind\":\"mobile\",\"number\":\"+49 170 1234567\"}]}",
                          &json));
    person = id_of(json);
    crm_string_free(json);
    TRY(crm_client_link_contact(manager, org, person, "Head of purchasing"));
    TRY(crm_client_contacts(manager, org, &json));
    printf("contacts of %lld: %s\n", (long long)org, json);
    crm_string_free(json);

    /* 4. Search for it, as the ERP's customer lookup box would. */
    TRY(crm_client_search(manager, "{\"text\":\"nordwind\"}", &json));
    printf("search \"nordwind\": %s\n", json);
    crm_string_free(json);

    /* 5. One call returns a whole page of clients. */
    TRY(crm_client_list(manager, "{\"limit\":50}", &json));
    printf("first page: %.200s...\n", json);
    crm_string_free(json);

    /* 6. A deal for the organisation, moved on once the offer is out. */
    snprintf(req, sizeof req,
             "{\"title\":\"Nordwind: 40 licences\",\"pipeline_id\":%lld,\"client_id\":%lld,"
             "\"contact_id\":%lld,\"currency\":\"EUR\",\"amount_minor\":4800000,"
             "\"expected_close_date\":\"%d-03-31\"}",
             (long long)pipeline, (long long)org, (long long)person, year + 1);
    TRY(crm_deal_create(manager, req, &json));
    deal = id_of(json);
    version = strtoll(strstr(json, "\"version\":") + 10, NULL, 10);
    crm_string_free(json);
    snprintf(req, sizeof req, "{\"stage_id\":%lld}", (long long)offer);
    TRY(crm_deal_move(manager, deal, version, req, &json));
    printf("deal %lld: %.120s...\n", (long long)deal, json);
    crm_string_free(json);

    /* 7. The head of sales' question: what is in the funnel this year? One call, one report. */
    snprintf(req, sizeof req,
             "{\"pipeline_id\":%lld,\"from\":\"%d-01-01\",\"to\":\"%d-01-01\",\"grouping\":\"quarter\"}",
             (long long)pipeline, year, year + 1);
    TRY(crm_funnel_report(manager, req, &json));
    printf("funnel report: %.300s...\n", json);
    if (strstr(json, "\"name\":\"Offer\",\"kind\":\"open\",\"open\":{\"count\":1") == NULL) {
        fprintf(stderr, "the deal is not in the offer stage of the report\n");
        crm_string_free(json);
        goto fail;
    }
    crm_string_free(json);
    TRY(crm_funnel_report_svg(manager, req, &json));
    printf("funnel chart: %u bytes of SVG\n", (unsigned)strlen(json));
    crm_string_free(json);

    /* 8. The auditor's check: the hash chain of every change is intact. */
    TRY(crm_audit_verify(admin, &json));
    printf("audit log: %s\n", json);
    exit_code = strstr(json, "\"ok\":true") ? 0 : 1;
    crm_string_free(json);

fail:
    crm_ctx_free(manager);
    crm_ctx_free(admin);
    crm_db_close(db);
    return exit_code;
}
