/*
 * fuzz_formats.c — libFuzzer target for the check that keeps a translation
 * from changing what printf reads (paynet_same_conversions): whatever two
 * strings come in (split at the first newline), it never reads out of
 * bounds, it is symmetric, and two formats it accepts as alike are each
 * accepted as alike to themselves.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t first = nl != NULL ? (size_t)(nl - data) : size;
    size_t second = nl != NULL ? size - first - 1 : 0;
    char *a = malloc(first + 1), *b = malloc(second + 1);
    if (a == NULL || b == NULL)
        abort();
    memcpy(a, data, first);
    a[first] = '\0';
    if (second > 0)
        memcpy(b, nl + 1, second);
    b[second] = '\0';
    int ab = paynet_same_conversions(a, b);
    if (ab != paynet_same_conversions(b, a))
        abort();
    if (ab && (!paynet_same_conversions(a, a) || !paynet_same_conversions(b, b)))
        abort();
    free(a);
    free(b);
    return 0;
}
