/*
 * gsm.c — Turkish mobile numbers as people type them -> "5XXXXXXXXX".
 *
 * Accepted: ASCII digits with spaces, dashes and parentheses anywhere, and
 * one country or trunk prefix: "+90", "90" (12 digits in all) or "0"
 * (11 digits in all).  What remains must be 10 digits starting with 5.
 * Anything else is refused with a message that says why; the message never
 * echoes the input, which may hold control characters.
 */
#include <string.h>

#include "internal.h"

#define GSM_INPUT_MAX 64

static int is_separator(char c)
{
    return c == ' ' || c == '-' || c == '(' || c == ')';
}

paynet_status paynet_gsm_normalize(const char *input, char out[PAYNET_GSM_SIZE],
                                   paynet_error *err)
{
    char digits[GSM_INPUT_MAX + 1];
    size_t count = 0;
    int plus = 0;

    if (input == NULL || input[0] == '\0')
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "phone number is empty");
    size_t length = strlen(input);
    if (length > GSM_INPUT_MAX)
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "phone number is too long (%zu bytes; at most %d)",
                           length, GSM_INPUT_MAX);

    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)input[i];
        if (c >= '0' && c <= '9') {
            digits[count++] = (char)c;
        } else if (is_separator((char)c)) {
            continue;
        } else if (c == '+' && count == 0 && !plus) {
            plus = 1;
        } else if (c < 0x20 || c == 0x7F) {
            return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                               "phone number contains a control character "
                               "at byte %zu",
                               i + 1);
        } else if (c >= 0x80) {
            return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                               "phone number contains a non-ASCII character "
                               "at byte %zu; use the digits 0-9",
                               i + 1);
        } else {
            return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                               "phone number contains '%c' at byte %zu; only "
                               "digits, spaces, '-', '(', ')' and a leading "
                               "'+' are allowed",
                               c, i + 1);
        }
    }
    digits[count] = '\0';

    const char *national = digits;
    if (plus) {
        if (count < 2 || digits[0] != '9' || digits[1] != '0')
            return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                               "phone number is not Turkish: after '+' it "
                               "must start with the country code 90");
        national += 2;
    } else if (count == 12 && digits[0] == '9' && digits[1] == '0') {
        national += 2;
    } else if (count == 11 && digits[0] == '0') {
        national += 1;
    }

    size_t n = strlen(national);
    if (n != 10)
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "phone number has %zu digits without its prefix; "
                           "a Turkish mobile number has 10 (5XXXXXXXXX)",
                           n);
    if (national[0] != '5')
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "phone number is not a Turkish mobile number: it "
                           "must start with 5 (5XXXXXXXXX)");
    memcpy(out, national, 11);
    return PAYNET_OK;
}
