/*
 * threads.c -- one crm_db shared by 8 threads with mixed reads and writes.
 *
 * Phase 1: 8 threads (half with their own user context, half sharing one system context)
 * create, read, update (racing on four shared "hot" records), list, search and count. The only
 * failures allowed are typed conflicts (CRM_STATUS_CONFLICT) and the failures each thread
 * provokes on purpose, whose messages must name that thread's own input: a thread never sees
 * another thread's error message.
 *
 * Phase 2: 4 threads keep reading through a shared context and their own cursors while another
 * thread closes the database: every call answers OK or CRM_STATUS_DB_CLOSED, and the handles
 * are freed afterwards from yet other threads.
 *
 * Usage: threads SCRATCH_DIR
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "test_util.h"

#define THREADS 8
#define ITERATIONS 25
#define HOT 4

struct worker {
    int index;
    crm_db *db;
    crm_ctx *shared_ctx; /* used by odd threads */
    int64_t user_id;
    int64_t hot[HOT];
    pthread_barrier_t *start;
    /* results */
    int calls, conflicts, failures;
    char first_failure[512];
};

static void worker_fail(struct worker *w, const char *what, crm_status st) {
    if (w->failures++ == 0)
        snprintf(w->first_failure, sizeof w->first_failure, "thread %d: %s -> %s: %s", w->index,
                 what, crm_status_name(st), crm_last_error_message());
}

/* Expects OK; frees the output. */
static void ok(struct worker *w, const char *what, crm_status st, char **out) {
    w->calls++;
    if (st != CRM_STATUS_OK) worker_fail(w, what, st);
    if (out) {
        crm_string_free(*out);
        *out = NULL;
    }
}

static void *work(void *arg) {
    struct worker *w = (struct worker *)arg;
    crm_ctx *own = NULL, *ctx;
    char buf[512], needle[64], *out = NULL;
    int j;
    crm_status st;

    if (w->index % 2 == 0) {
        st = crm_ctx_new_user(w->db, w->user_id, &own);
        ok(w, "crm_ctx_new_user", st, NULL);
        ctx = own;
    } else {
        ctx = w->shared_ctx;
    }
    pthread_barrier_wait(w->start);
    for (j = 0; j < ITERATIONS; j++) {
        int64_t hot = w->hot[(w->index + j) % HOT], version, missing;

        /* write: a new client */
        snprintf(buf, sizeof buf,
                 "{\"kind\":\"organization\",\"name\":\"thread %d client %d\",\"owner_id\":%lld,"
                 "\"emails\":[{\"address\":\"t%dc%d@example.com\"}]}",
                 w->index, j, (long long)w->user_id, w->index, j);
        ok(w, "crm_client_create", crm_client_create(ctx, buf, &out), &out);

        /* read-modify-write on a record every thread updates: conflicts are expected */
        st = crm_client_get(ctx, hot, &out);
        w->calls++;
        if (st != CRM_STATUS_OK) {
            worker_fail(w, "crm_client_get(hot)", st);
            continue;
        }
        version = json_int(out, "version");
        crm_string_free(out);
        out = NULL;
        snprintf(buf, sizeof buf, "{\"name\":\"hot %lld by thread %d\"}", (long long)hot, w->index);
        st = crm_client_update(ctx, hot, version, buf, &out);
        w->calls++;
        if (st == CRM_STATUS_CONFLICT) {
            w->conflicts++;
            if (crm_last_error_code() != CRM_STATUS_CONFLICT) worker_fail(w, "conflict code", st);
        } else if (st != CRM_STATUS_OK) {
            worker_fail(w, "crm_client_update(hot)", st);
        }
        crm_string_free(out);
        out = NULL;

        /* reads */
        ok(w, "crm_client_list", crm_client_list(ctx, "{\"limit\":20}", &out), &out);
        ok(w, "crm_client_search", crm_client_search(ctx, "{\"text\":\"thread\",\"limit\":10}", &out), &out);
        {
            uint64_t n = 0;
            int32_t exact = 0;
            ok(w, "crm_client_count", crm_client_count(ctx, "{}", 100000, &n, &exact), NULL);
            if (n < HOT) worker_fail(w, "count too small", CRM_STATUS_OK);
        }

        /* a failure of this thread's own: its message must stay this thread's */
        missing = 1000000 + (int64_t)w->index * 10000 + j;
        snprintf(needle, sizeof needle, "client %lld not found", (long long)missing);
        st = crm_client_get(ctx, missing, &out);
        w->calls++;
        if (st != CRM_STATUS_NOT_FOUND || out != NULL) worker_fail(w, "get(missing)", st);
        sched_yield();
        ok(w, "crm_department_list", crm_department_list(ctx, &out), &out); /* success keeps it */
        if (crm_last_error_code() != CRM_STATUS_NOT_FOUND ||
            strstr(crm_last_error_message(), needle) == NULL)
            worker_fail(w, "own error message lost or replaced", st);

        if (j % 5 == 0) {
            snprintf(buf, sizeof buf, "{\"limit\":\"t%dj%d\"}", w->index, j);
            snprintf(needle, sizeof needle, "\"t%dj%d\"", w->index, j);
            st = crm_client_list(ctx, buf, &out);
            w->calls++;
            sched_yield();
            if (st != CRM_STATUS_JSON_SHAPE || strstr(crm_last_error_message(), needle) == NULL)
                worker_fail(w, "own JSON error message", st);
        }
    }
    crm_ctx_free(own);
    return NULL;
}

static void phase1(const char *dir) {
    crm_db *db = NULL;
    crm_ctx *sys = NULL;
    pthread_t tids[THREADS];
    pthread_barrier_t start;
    struct worker workers[THREADS];
    int64_t dept, role, hot[HOT], asg;
    char buf[512], *out = NULL;
    int i, calls = 0, conflicts = 0;
    uint64_t n = 0;
    int32_t exact = 0;

    CHECK_OK(crm_db_open(db_path(dir, "threads.db"), NULL, &db));
    CHECK_OK(crm_ctx_new_system(db, "threads test", &sys));
    CHECK_OK(crm_department_create(sys, "{\"name\":\"Everyone\"}", &out));
    dept = json_int(out, "id");
    crm_string_free(out);
    CHECK_OK(crm_role_create(sys, "All",
                             "[{\"entity\":\"client\",\"action\":\"read\",\"level\":\"all\"},"
                             "{\"entity\":\"client\",\"action\":\"create\",\"level\":\"all\"},"
                             "{\"entity\":\"client\",\"action\":\"update\",\"level\":\"all\"}]",
                             &out));
    role = json_int(out, "id");
    crm_string_free(out);
    snprintf(buf, sizeof buf, "{\"kind\":\"department\",\"department_id\":%lld}", (long long)dept);
    CHECK_OK(crm_role_assign(sys, role, buf, &asg));
    pthread_barrier_init(&start, NULL, THREADS);
    for (i = 0; i < THREADS; i++) {
        memset(&workers[i], 0, sizeof workers[i]);
        snprintf(buf, sizeof buf,
                 "{\"name\":\"Worker %d\",\"email\":\"w%d@example.com\",\"department_id\":%lld}", i,
                 i, (long long)dept);
        CHECK_OK(crm_user_create(sys, buf, &out));
        workers[i].user_id = json_int(out, "id");
        crm_string_free(out);
    }
    for (i = 0; i < HOT; i++) {
        snprintf(buf, sizeof buf,
                 "{\"kind\":\"organization\",\"name\":\"hot %d\",\"owner_id\":%lld}", i,
                 (long long)workers[0].user_id);
        CHECK_OK(crm_client_create(sys, buf, &out));
        hot[i] = json_int(out, "id");
        crm_string_free(out);
    }
    for (i = 0; i < THREADS; i++) {
        workers[i].index = i;
        workers[i].db = db;
        workers[i].shared_ctx = sys;
        memcpy(workers[i].hot, hot, sizeof hot);
        workers[i].start = &start;
        EXPECT(pthread_create(&tids[i], NULL, work, &workers[i]) == 0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(tids[i], NULL);
        calls += workers[i].calls;
        conflicts += workers[i].conflicts;
        t_checks++;
        if (workers[i].failures) {
            t_failures++;
            fprintf(stderr, "%d unexpected failures, first: %s\n", workers[i].failures,
                    workers[i].first_failure);
        }
    }
    pthread_barrier_destroy(&start);
    CHECK_OK(crm_client_count(sys, "{}", 100000, &n, &exact));
    EXPECT(n == (uint64_t)(THREADS * ITERATIONS + HOT) && exact == 1);
    CHECK_OK(crm_audit_verify(sys, &out));
    EXPECT(has(out, "\"ok\":true"));
    crm_string_free(out);
    printf("phase 1: %d threads, %d calls, %d typed conflicts, %llu clients, audit chain intact\n",
           THREADS, calls, conflicts, (unsigned long long)n);
    crm_ctx_free(sys);
    crm_db_close(db);
}

/* ---- phase 2: closing under load, from other threads ---- */

struct reader {
    crm_ctx *ctx;
    crm_cursor *cursor;
    pthread_barrier_t *start;
    int ok_calls, closed_calls, other;
};

static void *read_until_closed(void *arg) {
    struct reader *r = (struct reader *)arg;
    char *out = NULL;
    int i;
    pthread_barrier_wait(r->start);
    for (i = 0; i < 200000 && r->closed_calls < 3; i++) {
        crm_status st = (i % 2) ? crm_client_list(r->ctx, "{\"limit\":5}", &out)
                                : crm_cursor_next(r->cursor, &out);
        if (st == CRM_STATUS_OK) {
            r->ok_calls++;
            crm_string_free(out);
            out = NULL;
        } else if (st == CRM_STATUS_DB_CLOSED) {
            r->closed_calls++;
        } else {
            r->other++;
        }
    }
    /* Free this thread's cursor after the database is gone. */
    crm_cursor_free(r->cursor);
    return NULL;
}

static void *close_db(void *arg) {
    struct timespec pause = {0, 30 * 1000 * 1000};
    nanosleep(&pause, NULL);
    crm_db_close((crm_db *)arg);
    return NULL;
}

static void *free_ctx(void *arg) {
    crm_ctx_free((crm_ctx *)arg);
    return NULL;
}

static void phase2(const char *dir) {
    crm_db *db = NULL;
    crm_ctx *sys = NULL;
    pthread_t tids[4], closer, freer;
    pthread_barrier_t start;
    struct reader readers[4];
    char *out = NULL;
    int i, ok_calls = 0;

    CHECK_OK(crm_db_open(db_path(dir, "closing.db"), NULL, &db));
    CHECK_OK(crm_ctx_new_system(db, "closing test", &sys));
    CHECK_OK(crm_department_create(sys, "{\"name\":\"D\"}", &out));
    crm_string_free(out);
    CHECK_OK(crm_user_create(sys, "{\"name\":\"U\",\"email\":\"u@example.com\",\"department_id\":1}", &out));
    crm_string_free(out);
    CHECK_OK(crm_client_create_batch(
        sys,
        "[{\"kind\":\"person\",\"name\":\"P1\",\"owner_id\":1},{\"kind\":\"person\",\"name\":\"P2\",\"owner_id\":1},"
        "{\"kind\":\"person\",\"name\":\"P3\",\"owner_id\":1}]",
        &out));
    crm_string_free(out);
    pthread_barrier_init(&start, NULL, 5);
    for (i = 0; i < 4; i++) {
        memset(&readers[i], 0, sizeof readers[i]);
        readers[i].ctx = sys;
        readers[i].start = &start;
        /* A page size of 1 and a list restarted each time keep the cursor busy. */
        CHECK_OK(crm_client_list_cursor(sys, "{\"limit\":1}", &readers[i].cursor));
        EXPECT(pthread_create(&tids[i], NULL, read_until_closed, &readers[i]) == 0);
    }
    EXPECT(pthread_create(&closer, NULL, close_db, db) == 0);
    pthread_barrier_wait(&start);
    pthread_join(closer, NULL);
    for (i = 0; i < 4; i++) {
        pthread_join(tids[i], NULL);
        ok_calls += readers[i].ok_calls;
        EXPECT(readers[i].closed_calls == 3);
        EXPECT(readers[i].other == 0);
    }
    pthread_barrier_destroy(&start);
    /* The shared context is freed from a thread that never used it. */
    EXPECT(pthread_create(&freer, NULL, free_ctx, sys) == 0);
    pthread_join(freer, NULL);
    printf("phase 2: %d successful reads before the close, then CRM_STATUS_DB_CLOSED in every thread\n",
           ok_calls);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    phase1(argv[1]);
    phase2(argv[1]);
    return t_finish("threads");
}
