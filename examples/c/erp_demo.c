/*
 * erp_demo.c -- embedding libcrm the way an ERP or accounting program would.
 *
 * The program opens (or creates) a CRM database, sets up a department, a sales manager and a
 * role as the host's administrator would, then acts as that manager: records an organisation
 * with its contact person, searches for it, lists a page of clients, and finally has the
 * system verify the audit log.
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

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "erp-demo.db";
    crm_db *db = NULL;
    crm_ctx *admin = NULL, *manager = NULL;
    char *json = NULL, req[1024];
    int64_t dept, user, role, assignment, org, person;
    int exit_code = 1;

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
                        "{\"entity\":\"client\",\"action\":\"update\",\"level\":\"own\"}]",
                        &json));
    role = id_of(json);
    crm_string_free(json);
    snprintf(req, sizeof req, "{\"kind\":\"user\",\"user_id\":%lld}", (long long)user);
    TRY(crm_role_assign(admin, role, req, &assignment));
    printf("department %lld, user %lld, role %lld (assignment %lld)\n", (long long)dept,
           (long long)user, (long long)role, (long long)assignment);

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

    /* 6. The auditor's check: the hash chain of every change is intact. */
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
