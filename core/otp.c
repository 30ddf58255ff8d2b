/*
 * otp.c — send_otp's pure parts: the session id rule, the request body and
 * the reply decoder.  No I/O here: transport.c moves the bytes.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "internal.h"

#define SESSION_ID_MAX 128

paynet_status paynet_session_id_check(const char *id, paynet_error *err)
{
    if (id == NULL || id[0] == '\0')
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "session id is empty");
    size_t n = strlen(id);
    if (n > SESSION_ID_MAX)
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "session id is too long (%zu bytes; at most %d)",
                           n, SESSION_ID_MAX);
    size_t ascii = 0; /* printable ASCII, as most ids are: nothing more to check */
    while (ascii < n && (unsigned char)id[ascii] >= 0x20 && (unsigned char)id[ascii] < 0x7F)
        ascii++;
    if (ascii == n)
        return PAYNET_OK;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c < 0x20 || c == 0x7F)
            return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                               "session id contains a control character at "
                               "byte %zu",
                               i + 1);
    }
    if (!paynet_utf8_valid((const unsigned char *)id, n))
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "session id is not valid UTF-8");
    for (size_t i = 0; i + 1 < n; i++) /* C1 controls: U+0080..U+009F */
        if ((unsigned char)id[i] == 0xC2 && (unsigned char)id[i + 1] <= 0x9F)
            return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                               "session id contains a control character at "
                               "byte %zu",
                               i + 1);
    return PAYNET_OK;
}

/* The request body, as cJSON would print it, without building a tree:
 * the session id was checked (UTF-8, no control character), so only " and
 * \ are escaped; anything that would not fit is cut (never happens for
 * checked input: 10 digits, at most 128 bytes doubled). */
static size_t put(char *out, size_t size, size_t n, const char *text, size_t length, int escape)
{
    size_t plain = escape ? 0 : length;
    while (plain < length && text[plain] != '"' && text[plain] != '\\')
        plain++;
    if (plain == length && n + length < size) { /* nothing to escape, and it fits */
        memcpy(out + n, text, length);
        n += length;
    } else {
        for (size_t i = 0; i < length; i++) {
            if (escape && (text[i] == '"' || text[i] == '\\') && n + 2 < size)
                out[n++] = '\\';
            if (n + 1 < size)
                out[n++] = text[i];
        }
    }
    out[n] = '\0';
    return n;
}

#define PUT_LITERAL(n, text) put(out, size, n, text, sizeof text - 1, 0)

size_t paynet_request_body(const char *gsm, const char *session_id, char *out, size_t size)
{
    size_t n = PUT_LITERAL(0, "{\"user_gsm\":\"");
    n = put(out, size, n, gsm, strlen(gsm), 1);
    n = PUT_LITERAL(n, "\",\"otp_session_id\":\"");
    n = put(out, size, n, session_id, strlen(session_id), 1);
    return PUT_LITERAL(n, "\"}");
}

/* ---- reply decoding ------------------------------------------------------ */

enum field_state { FIELD_MISSING, FIELD_OK, FIELD_WRONG };

/* The three fields the decoder reads from a reply object, each with its
 * state; strings are (pointer, length), not terminated. */
struct reply_fields {
    enum field_state code_state, message_state, expire_state;
    int code;
    const char *message, *expire;
    size_t message_length, expire_length;
};

/* A result code written as 1..9 ASCII digits. */
static enum field_state code_digits(const char *s, size_t n, int *code)
{
    if (n == 0 || n > 9)
        return FIELD_WRONG;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return FIELD_WRONG;
        v = v * 10 + (s[i] - '0');
    }
    *code = v;
    return FIELD_OK;
}

/* A result code given as a JSON number (integral, >= 0) or a string of
 * 1..9 ASCII digits; Paynet documents a string and sends a number. */
static enum field_state read_code(const cJSON *item, int *code)
{
    if (item == NULL)
        return FIELD_MISSING;
    if (cJSON_IsNumber(item)) {
        double v = item->valuedouble;
        if (!(v >= 0 && v <= INT_MAX) || v != (double)(int)v)
            return FIELD_WRONG;
        *code = (int)v;
        return FIELD_OK;
    }
    if (cJSON_IsString(item))
        return code_digits(item->valuestring, strlen(item->valuestring), code);
    return FIELD_WRONG;
}

static enum field_state read_string(const cJSON *item, const char **out, size_t *length)
{
    if (item == NULL || cJSON_IsNull(item))
        return FIELD_MISSING;
    if (!cJSON_IsString(item))
        return FIELD_WRONG;
    *out = item->valuestring;
    *length = strlen(item->valuestring);
    return FIELD_OK;
}

static void tree_fields(const cJSON *root, struct reply_fields *f)
{
    memset(f, 0, sizeof *f);
    f->code_state = read_code(cJSON_GetObjectItemCaseSensitive(root, "code"), &f->code);
    f->message_state = read_string(cJSON_GetObjectItemCaseSensitive(root, "message"),
                                   &f->message, &f->message_length);
    f->expire_state = read_string(cJSON_GetObjectItemCaseSensitive(root, "otp_expire"),
                                  &f->expire, &f->expire_length);
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* Parses the whole body as one JSON value; NULL if it is not exactly one. */
static cJSON *parse_body(const char *body, size_t length)
{
    if (length == 0)
        return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, length, &end, 0);
    if (root != NULL && (end == NULL || skip_space(end, body + length) != body + length)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static paynet_status api_error(paynet_error *err, long status, int code,
                               const char *server_message, size_t length)
{
    const char *meaning = paynet_code_meaning(code);
    if (server_message == NULL || length == 0) {
        server_message = meaning ? meaning : "unknown result code";
        length = strlen(server_message);
    }
    paynet_fail(err, PAYNET_API, PAYNET_DELIVERED_YES, "%s", "");
    paynet_copy_utf8n(err->message, sizeof err->message, server_message, length);
    err->http_status = status;
    err->code = code;
    err->outcome = paynet_verdict(PAYNET_API, err->delivered, code);
    return PAYNET_API;
}

static paynet_status decode_error_object(long status, const cJSON *root,
                                         paynet_error *err)
{
    int code;
    const char *message = NULL;
    size_t length = 0;
    if (cJSON_IsObject(root)) {
        read_string(cJSON_GetObjectItemCaseSensitive(root, "message"), &message, &length);
        /* Paynet's own error object comes with a 4xx or a 5xx; under a
         * redirect or a proxy's 407 it is not Paynet's, and one saying
         * result code 0 is not an answer Paynet gives for an error: read
         * as any other reply */
        if (status >= 400 && status != 407
            && read_code(cJSON_GetObjectItemCaseSensitive(root, "result_code"), &code)
                   == FIELD_OK
            && code != 0)
            return api_error(err, status, code, message, length);
    }
    if (status >= 300 && status < 400)
        paynet_fail(err, PAYNET_HTTP, PAYNET_DELIVERED_YES,
                    "server answered HTTP %ld, a redirect; redirects are not "
                    "followed",
                    status);
    else if (message != NULL && message[0] != '\0') {
        paynet_fail(err, PAYNET_HTTP, PAYNET_DELIVERED_YES,
                    "server answered HTTP %ld: ", status);
        size_t used = strlen(err->message);
        paynet_copy_utf8(err->message + used, sizeof err->message - used,
                         message);
    } else
        paynet_fail(err, PAYNET_HTTP, PAYNET_DELIVERED_YES,
                    "server answered HTTP %ld without a Paynet error object",
                    status);
    /* a 5xx that is not Paynet's own error object came from a gateway or a
     * proxy: the backend behind it may have sent the SMS before it failed */
    if (status >= 500)
        err->delivered = PAYNET_DELIVERED_UNKNOWN;
    err->outcome = paynet_verdict(PAYNET_HTTP, err->delivered, PAYNET_NO_CODE);
    err->http_status = status;
    return PAYNET_HTTP;
}

static paynet_status protocol_error(paynet_error *err, long status,
                                    const char *what)
{
    paynet_fail(err, PAYNET_PROTOCOL, PAYNET_DELIVERED_YES,
                "unusable reply (HTTP %ld): %s", status, paynet_gettext(what));
    err->http_status = status;
    return PAYNET_PROTOCOL;
}

/* A 200 reply's object, by its fields. */
static paynet_status decode_success(const struct reply_fields *f, paynet_result *result,
                                    paynet_error *err)
{
    switch (f->code_state) {
    case FIELD_MISSING:
        return protocol_error(err, 200, "no \"code\" field");
    case FIELD_WRONG:
        return protocol_error(err, 200, "\"code\" is neither a non-negative "
                                        "integer nor a string of digits");
    case FIELD_OK:
        break;
    }
    if (f->message_state == FIELD_WRONG)
        return protocol_error(err, 200, "\"message\" is not a string");
    if (f->code != 0)
        return api_error(err, 200, f->code, f->message, f->message_length);

    switch (f->expire_state) {
    case FIELD_MISSING:
        return protocol_error(err, 200, "code 0 without \"otp_expire\"");
    case FIELD_WRONG:
        return protocol_error(err, 200, "\"otp_expire\" is not a string");
    case FIELD_OK:
        break;
    }
    if (f->expire_length >= PAYNET_EXPIRE_SIZE)
        return protocol_error(err, 200, "\"otp_expire\" is too long");
    if (paynet_expire_parse(f->expire, f->expire_length, &result->expires_at, err)
        != PAYNET_OK) {
        char why[PAYNET_MESSAGE_SIZE - 64];
        paynet_copy_utf8(why, sizeof why, err->message);
        return protocol_error(err, 200, why);
    }
    result->code = 0;
    result->http_status = 200;
    paynet_copy_utf8n(result->message, sizeof result->message,
                      f->message ? f->message : "", f->message ? f->message_length : 0);
    memcpy(result->otp_expire, f->expire, f->expire_length);
    result->otp_expire[f->expire_length] = '\0';
    return PAYNET_OK;
}

paynet_status paynet_decode_reply(long http_status, const char *body, size_t length,
                                  paynet_result *result, paynet_error *err)
{
    struct reply_fields fields;
    paynet_status status;
    cJSON *root = parse_body(body, length);
    if (root == NULL && length > 0) {
        /* cJSON answers NULL both for bad JSON and for a failed
         * allocation: a second parse that succeeds tells them apart */
        cJSON *again = parse_body(body, length);
        if (again != NULL) {
            cJSON_Delete(again);
            paynet_fail(err, PAYNET_NOMEM, PAYNET_DELIVERED_UNKNOWN,
                        "out of memory while decoding the reply");
            err->http_status = http_status;
            return PAYNET_NOMEM;
        }
    }
    if (http_status != 200)
        status = decode_error_object(http_status, root, err);
    else if (length == 0)
        status = protocol_error(err, 200, "the body is empty");
    else if (root == NULL)
        status = protocol_error(err, 200, "the body is not JSON");
    else if (!cJSON_IsObject(root))
        status = protocol_error(err, 200, "the JSON is not an object");
    else {
        tree_fields(root, &fields);
        status = decode_success(&fields, result, err);
    }
    cJSON_Delete(root);
    /* the server's words reach the caller cleaned, whatever the path */
    char *message = status == PAYNET_OK ? result->message : err != NULL ? err->message : NULL;
    if (message != NULL) {
        char raw[PAYNET_MESSAGE_SIZE];
        const char *nul = memchr(message, '\0', PAYNET_MESSAGE_SIZE);
        size_t used = nul != NULL ? (size_t)(nul - message) : PAYNET_MESSAGE_SIZE - 1;
        memcpy(raw, message, used);
        paynet_text_clean(raw, used, message, PAYNET_MESSAGE_SIZE);
    }
    return status;
}
