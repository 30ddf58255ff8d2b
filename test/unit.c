/*
 * unit.c — the harness behind unit.h: counts cases, prints failures.
 */
#include "unit.h"

static int passed, failed, case_open, case_failed;
static const char *case_name;

static void case_close(void)
{
    if (!case_open)
        return;
    if (case_failed)
        failed++;
    else
        passed++;
    case_open = 0;
}

void unit_case(const char *name)
{
    case_close();
    case_open = 1;
    case_failed = 0;
    case_name = name;
}

void unit_check(int ok, const char *expression, const char *file, int line)
{
    if (!case_open) { /* a CHECK outside any CASE still counts */
        case_open = 1;
        case_failed = 0;
        case_name = "(a check outside any case)";
    }
    if (ok)
        return;
    if (!case_failed)
        printf("FAIL %s\n", case_name);
    printf("  %s:%d: %s\n", file, line, expression);
    case_failed = 1;
}

int unit_finish(const char *label)
{
    case_close();
    printf("%s: %d passed, %d failed\n", label, passed, failed);
    return failed != 0;
}
