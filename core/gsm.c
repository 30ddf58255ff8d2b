/*
 * gsm.c — Turkish mobile numbers as people type them -> "5XXXXXXXXX".
 *
 * Accepted: ASCII digits with spaces, dashes and parentheses anywhere, and
 * one country or trunk prefix: "+90", "0090", "90" or "0".  What remains
 * must be 10 digits starting with 5.  A number still being typed is told
 * how many digits it lacks, counted after its prefix.
 * Anything else is refused with a message that says why; the message never
 * echoes the input, which may hold control characters.
 */
#include <stdio.h>
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

    /* the prefix: "+90", "0090", "90" before a 5, or "0"; a prefix still
     * being typed ("0", "00", "009", "9") leaves no national digits yet */
    const char *national = digits;
    if (plus) {
        if ((count >= 1 && digits[0] != '9') || (count >= 2 && digits[1] != '0'))
            return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                               "phone number is not Turkish: after '+' it "
                               "must start with the country code 90");
        national += count < 2 ? count : 2;
    } else if (strncmp(digits, "0090", count < 4 ? count : 4) == 0 && count >= 2) {
        national += count < 4 ? count : 4;
    } else if (digits[0] == '0' && digits[1] == '0') {
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "phone number is not Turkish: after 00 it "
                           "must continue with the country code 90");
    } else if (digits[0] == '0') {
        national += 1;
    } else if (strcmp(digits, "9") == 0 || (digits[0] == '9' && digits[1] == '0')) {
        national += count < 2 ? count : 2;
    }

    size_t n = strlen(national);
    if (n > 0 && national[0] != '5')
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "phone number is not a Turkish mobile number: it "
                           "must start with 5 (5XXXXXXXXX)");
    if (n < 10) {
        char text[PAYNET_MESSAGE_SIZE];
        snprintf(text, sizeof text,
                 paynet_ngettext("phone number needs %zu more digit (10 after the "
                                 "prefix: 5XXXXXXXXX)",
                                 "phone number needs %zu more digits (10 after the "
                                 "prefix: 5XXXXXXXXX)",
                                 10 - n),
                 10 - n);
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO, "%s", text);
    }
    if (n > 10)
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "phone number has %zu digits after its prefix; "
                           "a Turkish mobile number has 10 (5XXXXXXXXX)",
                           n);
    memcpy(out, national, 11);
    return PAYNET_OK;
}
