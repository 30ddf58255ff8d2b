/*
 * unit.h — a minimal harness for the C unit tests of the pure parts.
 *
 * A test case is a CASE("name") followed by CHECKs; it passes when all of
 * its checks do.  unit_finish prints the closing counts.
 */
#ifndef PAYNET_UNIT_H
#define PAYNET_UNIT_H

#include <stdio.h>
#include <string.h>

void unit_case(const char *name);
void unit_check(int ok, const char *expression, const char *file, int line);
/* Prints "<label>: N passed, N failed"; returns the exit status. */
int unit_finish(const char *label);

#define CASE(name) unit_case(name)
#define CHECK(cond) unit_check((cond) != 0, #cond, __FILE__, __LINE__)
#define CHECK_STR(a, b) unit_check(strcmp((a), (b)) == 0, #a " == " #b, __FILE__, __LINE__)

void suite_expire(void);
void suite_gsm(void);
void suite_codes(void);
void suite_clock(void);
void suite_decode(void);
void suite_app(void);
void suite_ledger(void);
void suite_text(void);
void suite_scope(void);

#endif
