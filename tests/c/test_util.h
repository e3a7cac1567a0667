/*
 * Small helpers shared by the C test programs in tests/c/.
 *
 * Each program takes one argument, a scratch directory for its database files, prints what it
 * checked, and exits with 0 when every check passed. tests/c_api.rs compiles and runs them;
 * .ci/c-tests.sh runs them again under valgrind.
 */
#ifndef CRM_TEST_UTIL_H
#define CRM_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm.h"

static int t_checks = 0;
static int t_failures = 0;

#define T_FAIL(...)                                                                          \
    do {                                                                                     \
        t_failures++;                                                                        \
        fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);                              \
        fprintf(stderr, __VA_ARGS__);                                                        \
        fprintf(stderr, "\n");                                                               \
    } while (0)

/* A condition that must hold. */
#define EXPECT(cond)                                                                         \
    do {                                                                                     \
        t_checks++;                                                                          \
        if (!(cond)) T_FAIL("%s", #cond);                                                    \
    } while (0)

/* A call that must succeed; on failure the program stops (later steps depend on it). */
#define CHECK_OK(call)                                                                       \
    do {                                                                                     \
        crm_status st_ = (call);                                                             \
        t_checks++;                                                                          \
        if (st_ != CRM_STATUS_OK) {                                                          \
            T_FAIL("%s -> %s: %s", #call, crm_status_name(st_), crm_last_error_message());   \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

/* A call that must fail with `want`, leave the same code in crm_last_error_code(), and leave a
 * message containing `needle`. */
#define EXPECT_FAIL(want, needle, call)                                                      \
    do {                                                                                     \
        crm_status st_ = (call);                                                             \
        const char *msg_ = crm_last_error_message();                                         \
        t_checks++;                                                                          \
        if (st_ != (want))                                                                   \
            T_FAIL("%s -> %s, expected %s (%s)", #call, crm_status_name(st_),                \
                   crm_status_name(want), msg_);                                             \
        else if (crm_last_error_code() != (want))                                            \
            T_FAIL("%s: last error code %d, expected %d", #call, (int)crm_last_error_code(), \
                   (int)(want));                                                             \
        else if (strstr(msg_, (needle)) == NULL)                                             \
            T_FAIL("%s: message \"%s\" does not contain \"%s\"", #call, msg_, (needle));     \
    } while (0)

/* The integer after the first `"key":` in a JSON text (the engine writes compact JSON, and
 * every record starts with its "id"). A host would use its JSON library. */
static inline int64_t json_int(const char *json, const char *key) {
    char pattern[64];
    const char *p;
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    p = json ? strstr(json, pattern) : NULL;
    if (p == NULL) {
        T_FAIL("no \"%s\" in %s", key, json ? json : "(null)");
        return -1;
    }
    return strtoll(p + strlen(pattern), NULL, 10);
}

/* Whether `json` contains `needle`. */
static inline int has(const char *json, const char *needle) {
    return json != NULL && strstr(json, needle) != NULL;
}

/* Counts the top-level elements of a JSON array of objects (counts `{` at depth 1). */
static inline int json_array_len(const char *json) {
    int depth = 0, n = 0, in_str = 0;
    const char *p;
    for (p = json; p && *p; p++) {
        if (in_str) {
            if (*p == '\\' && p[1]) p++;
            else if (*p == '"') in_str = 0;
            continue;
        }
        if (*p == '"') in_str = 1;
        else if (*p == '[' || *p == '{') {
            if (depth == 1) n++;
            depth++;
        } else if (*p == ']' || *p == '}') depth--;
    }
    return n;
}

/* Builds "<dir>/<name>" into a static buffer. */
static inline const char *db_path(const char *dir, const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

/* Prints the summary line and returns the exit code. */
static inline int t_finish(const char *program) {
    printf("%s: %d checks, %d passed, %d failed\n", program, t_checks, t_checks - t_failures,
           t_failures);
    return t_failures == 0 ? 0 : 1;
}

#endif
