/*
 * A C plugin built in several broken variants, to prove the host refuses each before calling
 * anything in it:
 *   -DNO_ENTRY         exports no crm_plugin_entry_v1
 *   -DTABLE_MAJOR=2    a table of another ABI major
 *   -DTABLE_MINOR=9    a table of a newer ABI minor
 *   -DSMALL_TABLE      a table whose struct_size is smaller than its version needs
 * Without any of them it is a working plugin whose only method is "ok".
 */
#include "crm_plugin.h"

#include <stdlib.h>
#include <string.h>

#ifndef TABLE_MAJOR
#define TABLE_MAJOR CRM_PLUGIN_ABI_MAJOR
#endif
#ifndef TABLE_MINOR
#define TABLE_MINOR CRM_PLUGIN_ABI_MINOR
#endif
#ifdef SMALL_TABLE
#define TABLE_SIZE 24
#else
#define TABLE_SIZE sizeof(crm_plugin)
#endif

static int instance_token;

static crm_plugin_status bad_create(const crm_plugin_host *host, const uint8_t *config,
                                    size_t config_len, void **out_instance, uint8_t **out_error,
                                    size_t *out_error_len) {
    (void)config;
    (void)config_len;
    (void)out_error;
    (void)out_error_len;
    const char *msg = "bad_plugin: create called";
    host->log(host->host_data, CRM_PLUGIN_LOG_INFO, (const uint8_t *)msg, strlen(msg));
    *out_instance = &instance_token;
    return CRM_PLUGIN_OK;
}

static crm_plugin_status bad_call(void *instance, const char *method, const uint8_t *input,
                                  size_t input_len, uint8_t **out, size_t *out_len) {
    (void)instance;
    (void)input;
    (void)input_len;
    const char *answer = strcmp(method, "ok") == 0 ? "true" : "\"unknown\"";
    size_t n = strlen(answer);
    *out = malloc(n);
    memcpy(*out, answer, n);
    *out_len = n;
    return strcmp(method, "ok") == 0 ? CRM_PLUGIN_OK : CRM_PLUGIN_UNKNOWN_METHOD;
}

static void bad_free(uint8_t *ptr, size_t len) {
    (void)len;
    free(ptr);
}

static void bad_destroy(void *instance) {
    (void)instance;
}

static const crm_plugin TABLE = {
    .struct_size = TABLE_SIZE,
    .abi_major = TABLE_MAJOR,
    .abi_minor = TABLE_MINOR,
    .name = "bad",
    .version = "0.0.1",
    .create = bad_create,
    .call = bad_call,
    .free = bad_free,
    .destroy = bad_destroy,
};

#ifdef NO_ENTRY
CRM_PLUGIN_EXPORT const struct crm_plugin *crm_plugin_entry_v0(void) {
    return &TABLE;
}
#else
CRM_PLUGIN_EXPORT const struct crm_plugin *crm_plugin_entry_v1(void) {
    return &TABLE;
}
#endif
