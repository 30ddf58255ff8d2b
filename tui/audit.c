/*
 * audit.c — paynet-tui's audit log: one JSON line per send, appended to the
 * file --audit-log names (created mode 600), with the masked number, the
 * session id, the outcome, and never the secret.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "audit.h"

void audit_local_time(time_t t, const char *format, char *out, size_t size)
{
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, size, format, &tm);
}

/* RFC 3339 local time: "2026-11-25T20:01:02+03:00" */
static void rfc3339(time_t t, char *out, size_t size)
{
    char zone[8];
    audit_local_time(t, "%Y-%m-%dT%H:%M:%S", out, size);
    audit_local_time(t, "%z", zone, sizeof zone);
    size_t n = strlen(out);
    if (strlen(zone) == 5)
        snprintf(out + n, size - n, "%.3s:%.2s", zone, zone + 3);
}

int audit_write(int fd, const char *env, const char *operator_name, const struct app *app,
                time_t at, paynet_status status, const paynet_result *res,
                const paynet_error *err)
{
    char now[40], masked[PAYNET_GSM_SIZE];
    if (fd < 0)
        return 1;
    rfc3339(at, now, sizeof now);
    paynet_mask_gsm(app->sending_gsm, masked);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "time", now);
    cJSON_AddStringToObject(o, "operator", operator_name);
    cJSON_AddStringToObject(o, "env", env);
    cJSON_AddStringToObject(o, "number", masked);
    cJSON_AddStringToObject(o, "session_id", app->sending_session);
    /* the core's verdict, and what failed */
    cJSON_AddStringToObject(o, "outcome", status == PAYNET_OK ? "sent"
                                                              : paynet_outcome_name(err->outcome));
    if (status != PAYNET_OK)
        cJSON_AddStringToObject(o, "kind", paynet_status_name(status));
    if (status == PAYNET_OK) {
        cJSON_AddNumberToObject(o, "code", res->code);
        cJSON_AddStringToObject(o, "otp_expire", res->otp_expire);
        cJSON_AddStringToObject(o, "delivered", "yes");
    } else {
        if (err->code != PAYNET_NO_CODE)
            cJSON_AddNumberToObject(o, "code", err->code);
        else
            cJSON_AddNullToObject(o, "code");
        cJSON_AddNullToObject(o, "otp_expire");
        cJSON_AddStringToObject(o, "delivered", paynet_delivered_name(err->delivered));
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text == NULL) {
        errno = ENOMEM;
        return 0;
    }
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the terminator: written by length */
    ssize_t written = write(fd, text, n + 1);
    cJSON_free(text);
    return written == (ssize_t)(n + 1);
}

