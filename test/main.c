/*
 * main.c — runs the C unit suites of the pure parts.
 */
#include "unit.h"

int main(void)
{
    suite_expire();
    suite_gsm();
    suite_codes();
    suite_clock();
    suite_decode();
    suite_app();
    suite_ledger();
    suite_text();
    suite_scope();
    return unit_finish("C unit tests");
}
