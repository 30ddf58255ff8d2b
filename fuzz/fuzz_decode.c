/*
 * fuzz_decode.c — libFuzzer target for the reply decoder.
 *
 * Input: two bytes of HTTP status (big-endian, taken modulo 600), then
 * header lines up to an empty line, then the body.  Every header line goes
 * through paynet_date_header and the body through paynet_decode_reply, as
 * client.c does with a real reply.  The decoder must answer with a result
 * or a typed error, never crash, leak or read out of bounds.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    long status = ((long)data[0] << 8 | data[1]) % 600;
    const char *p = (const char *)data + 2;
    const char *end = (const char *)data + size;

    /* headers, one per line, until an empty line */
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t length = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (length == 0 || (length == 1 && p[0] == '\r')) {
            p += length + (nl != NULL);
            break;
        }
        double date;
        paynet_date_header(p, length, &date);
        p += length + (nl != NULL);
    }

    /* the body, in its own allocation so that ASan sees every overread */
    size_t body_length = (size_t)(end - p);
    char *body = malloc(body_length ? body_length : 1);
    if (body == NULL)
        return 0;
    memcpy(body, p, body_length);
    paynet_result res;
    paynet_error err;
    paynet_status s = paynet_decode_reply(status, body, body_length, &res, &err);
    if (s == PAYNET_OK) {
        if (res.code != 0 || res.http_status != 200 || res.expires_at.nsec < 0
            || res.expires_at.nsec > 999999999 || strlen(res.otp_expire) >= PAYNET_EXPIRE_SIZE)
            abort();
    } else if (err.kind != s || strlen(err.message) >= PAYNET_MESSAGE_SIZE) {
        abort();
    }
    free(body);
    return 0;
}
