/*
 * hello -- a minimal crm connector in C, written against crm_plugin.h alone.
 *
 * Build:  cc -shared -fPIC -I include -o libhello.so examples/plugins/hello/hello.c
 * Install: crm-plugin-runner package examples/plugins/hello/crm-plugin.toml libhello.so <plugin dir>
 *
 * Methods:
 *   "hello"       -> {"greeting": "Hello from C", "calls": <"hello" calls so far>}
 *   "whoami"      -> the host's answer to the CRM method "whoami" (the plugin's CRM user)
 *   "events_seen" -> {"events": <events delivered so far>}
 *   "crm.events"  <- event batches from the host (counted, then acknowledged with {})
 */
#include "crm_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct hello {
    const crm_plugin_host *host;
    long calls;
    long events;
} hello;

/* Copies `len` bytes into a buffer the host will give back to hello_free(). */
static crm_plugin_status give(const char *text, size_t len, uint8_t **out, size_t *out_len) {
    if (out == NULL || out_len == NULL) {
        return CRM_PLUGIN_NULL_ARGUMENT;
    }
    *out = NULL;
    *out_len = 0;
    if (len == 0) {
        return CRM_PLUGIN_OK;
    }
    uint8_t *buf = malloc(len);
    if (buf == NULL) {
        return CRM_PLUGIN_ERROR;
    }
    memcpy(buf, text, len);
    *out = buf;
    *out_len = len;
    return CRM_PLUGIN_OK;
}

static void log_line(const hello *h, int32_t level, const char *text) {
    h->host->log(h->host->host_data, level, (const uint8_t *)text, strlen(text));
}

static crm_plugin_status hello_create(const crm_plugin_host *host, const uint8_t *config,
                                      size_t config_len, void **out_instance,
                                      uint8_t **out_error, size_t *out_error_len) {
    (void)config;
    (void)config_len;
    if (host == NULL || out_instance == NULL) {
        return CRM_PLUGIN_NULL_ARGUMENT;
    }
    if (host->abi_major != CRM_PLUGIN_ABI_MAJOR || host->struct_size < sizeof(crm_plugin_host)) {
        const char *msg = "hello: incompatible host ABI";
        give(msg, strlen(msg), out_error, out_error_len);
        return CRM_PLUGIN_ERROR;
    }
    hello *h = calloc(1, sizeof *h);
    if (h == NULL) {
        return CRM_PLUGIN_ERROR;
    }
    h->host = host;
    log_line(h, CRM_PLUGIN_LOG_INFO, "hello: created");
    *out_instance = h;
    return CRM_PLUGIN_OK;
}

/* Counts the events of a batch by their "event_type" keys: enough for a demo. */
static long count_events(const uint8_t *input, size_t len) {
    static const char key[] = "\"event_type\"";
    size_t klen = sizeof key - 1;
    long n = 0;
    for (size_t i = 0; i + klen <= len; i++) {
        if (memcmp(input + i, key, klen) == 0) {
            n++;
        }
    }
    return n;
}

static crm_plugin_status hello_call(void *instance, const char *method, const uint8_t *input,
                                    size_t input_len, uint8_t **out, size_t *out_len) {
    hello *h = instance;
    char buf[256];
    if (h == NULL || method == NULL) {
        return CRM_PLUGIN_NULL_ARGUMENT;
    }
    if (strcmp(method, "hello") == 0) {
        /* Only "hello" counts: event batches arrive from the delivery thread at any time. */
        h->calls++;
        int n = snprintf(buf, sizeof buf, "{\"greeting\":\"Hello from C\",\"calls\":%ld}", h->calls);
        return give(buf, (size_t)n, out, out_len);
    }
    if (strcmp(method, "events_seen") == 0) {
        int n = snprintf(buf, sizeof buf, "{\"events\":%ld}", h->events);
        return give(buf, (size_t)n, out, out_len);
    }
    if (strcmp(method, "crm.events") == 0) {
        h->events += count_events(input, input_len);
        return give("{}", 2, out, out_len);
    }
    if (strcmp(method, "whoami") == 0) {
        uint8_t *answer = NULL;
        size_t answer_len = 0;
        crm_plugin_status st =
            h->host->crm_call(h->host->host_data, "whoami", (const uint8_t *)"{}", 2, &answer,
                              &answer_len);
        /* Pass the host's answer (result or error document) on, then free the host's buffer
         * with the host's free. */
        crm_plugin_status given = give((const char *)answer, answer_len, out, out_len);
        h->host->free(h->host->host_data, answer, answer_len);
        return st != CRM_PLUGIN_OK ? st : given;
    }
    int n = snprintf(buf, sizeof buf, "hello: unknown method \"%.100s\"", method);
    give(buf, (size_t)n, out, out_len);
    return CRM_PLUGIN_UNKNOWN_METHOD;
}

static void hello_free(uint8_t *ptr, size_t len) {
    (void)len;
    free(ptr);
}

static void hello_destroy(void *instance) {
    hello *h = instance;
    if (h != NULL) {
        log_line(h, CRM_PLUGIN_LOG_INFO, "hello: destroyed");
        free(h);
    }
}

static const crm_plugin TABLE = {
    .struct_size = sizeof(crm_plugin),
    .abi_major = CRM_PLUGIN_ABI_MAJOR,
    .abi_minor = CRM_PLUGIN_ABI_MINOR,
    .name = "hello",
    .version = "1.0.0",
    .create = hello_create,
    .call = hello_call,
    .free = hello_free,
    .destroy = hello_destroy,
};

CRM_PLUGIN_EXPORT const struct crm_plugin *crm_plugin_entry_v1(void) {
    return &TABLE;
}
