/*
 * bench.c -- the cost of the C ABI, measured from C.
 *
 *   1. Wrapper overhead per call: a plain C function call (through a function pointer, so it
 *      is a real call) against crm_abi_version() (panic boundary, nothing else), against calls
 *      that fail before doing any work (NULL argument; a live handle looked up in the registry,
 *      then a NULL output), each with its error recorded in the thread-local last error.
 *   2. Real calls: a record read by id, and a 50-row page of clients fetched as one JSON buffer
 *      (crm_client_list and crm_cursor_next), with 5,000 clients in the database.
 *
 * Build and run with the Makefile beside it (`make run`: release library). Pass `quick` as the
 * second argument for a short smoke run (used by .ci/c-tests.sh).
 *
 * Usage: bench DB_PATH [quick]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crm.h"

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The baseline: a function the compiler cannot inline, called through a volatile pointer. */
static uint32_t plain_c_function(void) { return 0x10000u; }
static uint32_t (*volatile plain_ptr)(void) = plain_c_function;

static volatile uint32_t sink;

#define CHECK(call)                                                                          \
    do {                                                                                     \
        crm_status st_ = (call);                                                             \
        if (st_ != CRM_STATUS_OK) {                                                          \
            fprintf(stderr, "%s: %s: %s\n", #call, crm_status_name(st_),                     \
                    crm_last_error_message());                                               \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

/* Best of `rounds` timings of `n` iterations of BODY, in ns per iteration. */
#define MEASURE(result, rounds, n, BODY)                                                     \
    do {                                                                                     \
        int r_;                                                                              \
        long i_;                                                                             \
        double best_ = 1e30;                                                                 \
        for (r_ = 0; r_ < (rounds); r_++) {                                                  \
            double t0_ = now_ns();                                                           \
            for (i_ = 0; i_ < (n); i_++) {                                                   \
                BODY;                                                                        \
            }                                                                                \
            double dt_ = (now_ns() - t0_) / (double)(n);                                     \
            if (dt_ < best_) best_ = dt_;                                                    \
        }                                                                                    \
        (result) = best_;                                                                    \
    } while (0)

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "bench.db";
    int quick = argc > 2 && strcmp(argv[2], "quick") == 0;
    long n_cheap = quick ? 100000 : 20000000;
    long n_page = quick ? 20 : 2000;
    int rounds = quick ? 1 : 5;
    int clients = quick ? 200 : 5000;
    crm_db *db = NULL;
    crm_ctx *sys = NULL;
    crm_cursor *cur = NULL;
    char *out = NULL, *batch;
    double plain, abi, null_arg, handle_then_null, get_one, page, cursor_page;
    size_t page_bytes = 0, len;
    int i;
    char suffix[4200];

    remove(path);
    snprintf(suffix, sizeof suffix, "%s-wal", path);
    remove(suffix);
    snprintf(suffix, sizeof suffix, "%s-shm", path);
    remove(suffix);
    CHECK(crm_db_open(path, NULL, &db));
    CHECK(crm_ctx_new_system(db, "bench", &sys));
    CHECK(crm_department_create(sys, "{\"name\":\"Sales\"}", &out));
    crm_string_free(out);
    CHECK(crm_user_create(sys, "{\"name\":\"Bench\",\"email\":\"bench@example.com\",\"department_id\":1}", &out));
    crm_string_free(out);

    /* 5,000 organisations with an e-mail, a phone and a tag, inserted in batches of 500. */
    batch = malloc(500 * 256 + 16);
    for (i = 0; i < clients; i += 500) {
        int j;
        len = 0;
        batch[len++] = '[';
        for (j = i; j < i + 500 && j < clients; j++) {
            len += (size_t)sprintf(batch + len,
                                   "%s{\"kind\":\"organization\",\"name\":\"Client %05d GmbH\","
                                   "\"owner_id\":1,\"emails\":[{\"address\":\"c%d@example.com\"}],"
                                   "\"phones\":[{\"number\":\"+49 30 %07d\"}],\"tags\":[\"bench\"]}",
                                   j > i ? "," : "", j, j, j);
        }
        batch[len++] = ']';
        batch[len] = 0;
        CHECK(crm_client_create_batch(sys, batch, &out));
        crm_string_free(out);
    }
    free(batch);

    /* 1. Overhead per call. */
    MEASURE(plain, rounds, n_cheap, sink = plain_ptr());
    MEASURE(abi, rounds, n_cheap, sink = crm_abi_version());
    MEASURE(null_arg, rounds, n_cheap, sink = (uint32_t)crm_client_get(NULL, 1, &out));
    MEASURE(handle_then_null, rounds, n_cheap, sink = (uint32_t)crm_client_get(sys, 1, NULL));

    /* 2. Real work. */
    MEASURE(get_one, rounds, n_page * 10, {
        CHECK(crm_client_get(sys, 1 + (i_ % clients), &out));
        crm_string_free(out);
    });
    MEASURE(page, rounds, n_page, {
        CHECK(crm_client_list(sys, "{\"limit\":50}", &out));
        page_bytes = strlen(out);
        crm_string_free(out);
    });
    /* A cursor walks 50-row pages from the start; re-created when it runs out. */
    MEASURE(cursor_page, rounds, n_page, {
        if (cur == NULL) CHECK(crm_client_list_cursor(sys, "{\"limit\":50}", &cur));
        CHECK(crm_cursor_next(cur, &out));
        if (out == NULL) {
            crm_cursor_free(cur);
            cur = NULL;
        } else {
            crm_string_free(out);
        }
    });
    crm_cursor_free(cur);

    printf("%s\n", crm_version());
    printf("%d clients, journal WAL, synchronous NORMAL; best of %d rounds\n", clients, rounds);
    printf("%-58s %10s\n", "call", "ns/call");
    printf("%-58s %10.1f\n", "plain C function through a pointer (baseline)", plain);
    printf("%-58s %10.1f\n", "crm_abi_version()", abi);
    printf("%-58s %10.1f\n", "crm_client_get(NULL, ...) -> NULL_ARGUMENT + last error", null_arg);
    printf("%-58s %10.1f\n", "crm_client_get(ctx, 1, NULL): handle lookup -> NULL_ARGUMENT",
           handle_then_null);
    printf("%-58s %10.1f\n", "crm_client_get(ctx, id, &json) + crm_string_free", get_one);
    printf("%-58s %10.1f\n", "crm_client_list 50 rows as one JSON buffer + free", page);
    printf("%-58s %10.1f\n", "crm_cursor_next 50 rows + free", cursor_page);
    printf("overhead beyond a plain call: crm_abi_version %+.1f ns, NULL check %+.1f ns, "
           "handle check %+.1f ns\n",
           abi - plain, null_arg - plain, handle_then_null - plain);
    printf("50-row page: %zu bytes of JSON, %.1f us per page, %.2f us per row\n", page_bytes,
           page / 1000.0, page / 50000.0);

    crm_ctx_free(sys);
    crm_db_close(db);
    return 0;
}
