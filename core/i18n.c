/*
 * i18n.c — the text a person reads, in their language (GNU gettext).
 *
 * One message catalogue, the "paynet" domain, holds the core's messages,
 * the screen's and paynet-otp's.  It is bound once, on first use, to the
 * first of these folders that holds a Turkish catalogue:
 *   $PAYNET_LOCALEDIR
 *   locale/ beside this library or program (the build tree: build/locale)
 *   ../share/locale from a program's folder (PREFIX/bin -> PREFIX/share)
 *   ../../../share/locale from the Lua module (PREFIX/lib/lua/5.4)
 *   paynet/locale beside the Lua module (where the rock puts it)
 *   the folder the build was configured with (PAYNET_LOCALEDIR_DEFAULT)
 * The language follows the locale of the calling program (LANGUAGE,
 * LC_ALL, LC_MESSAGES, LANG) once it has called setlocale; a program that
 * never does (a Lua script by default) reads English.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <libintl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#ifndef PAYNET_LOCALEDIR_DEFAULT
#define PAYNET_LOCALEDIR_DEFAULT "/usr/local/share/locale"
#endif

/* ---- a translation never changes what printf reads ---------------------------
 * A translation is used only when its conversions (%s, %d, %zu, %.0f, a "*"
 * width ...) are those of its msgid, in the same order; otherwise the
 * English msgid is.  So a wrong or hostile catalogue (PAYNET_LOCALEDIR,
 * LANGUAGE=../..) can cost a translation, never read the wrong argument;
 * %n and numbered arguments (%1$s) are refused outright. */

/* Past a width or a precision: digits, or a "*" (an int argument, noted
 * in the signature). */
static const char *width(const char *s, char *out, size_t *n, size_t size)
{
    if (*s == '*') {
        if (*n + 2 < size)
            out[(*n)++] = '*';
        s++;
    }
    while (*s >= '0' && *s <= '9')
        s++;
    return s;
}

/* The next conversion of format at or after *p, as a short signature in
 * out ("zd", "s", "f", "*d" for a star); 0 at the end, -1 for one never
 * allowed. */
static int next_conversion(const char **p, char *out, size_t size)
{
    const char *s = *p;
    size_t n = 0;
    for (;;) {
        s = strchr(s, '%');
        if (s == NULL) {
            *p = s;
            return 0;
        }
        if (s[1] == '%') {
            s += 2;
            continue;
        }
        break;
    }
    s++;
    while (*s && strchr("-+ #0'", *s))
        s++;
    s = width(s, out, &n, size);
    if (*s == '$')
        return -1;
    if (*s == '.')
        s = width(s + 1, out, &n, size); /* the precision */
    while (*s && strchr("hlLqjzt", *s)) {
        if (n + 2 < size)
            out[n++] = *s;
        s++;
    }
    char c = *s;
    if (c == '\0' || c == 'n' || !strchr("diouxXcsfFeEgGaAp", c))
        return -1;
    /* what va_arg reads: int-like, double, string or pointer */
    out[n++] = strchr("diouxXc", c) ? 'd' : strchr("fFeEgGaA", c) ? 'f' : c;
    out[n] = '\0';
    *p = s + 1;
    return 1;
}

int paynet_same_conversions(const char *msgid, const char *translation)
{
    const char *a = msgid, *b = translation;
    char ca[16], cb[16];
    for (;;) {
        int ra = next_conversion(&a, ca, sizeof ca);
        int rb = next_conversion(&b, cb, sizeof cb);
        if (ra < 0 || rb < 0 || ra != rb)
            return 0;
        if (ra == 0)
            return 1;
        if (strcmp(ca, cb) != 0)
            return 0;
    }
}

static pthread_once_t bound = PTHREAD_ONCE_INIT;
static char bound_dir[PATH_MAX + 64];

static int has_catalogue(const char *dir)
{
    char path[PATH_MAX + 64];
    if (snprintf(path, sizeof path, "%s/tr/LC_MESSAGES/" PAYNET_TEXT_DOMAIN ".mo", dir) >=
        (int)sizeof path)
        return 0;
    return access(path, R_OK) == 0;
}

/* The folder of the file holding this code: the shared module, or the
 * program that linked the static library. */
static int own_folder(char *out, size_t size)
{
    Dl_info info;
    char path[PATH_MAX];
    path[0] = '\0';
    if (dladdr((void *)paynet_gettext, &info) != 0 && info.dli_fname != NULL &&
        strstr(info.dli_fname, ".so") != NULL)
        snprintf(path, sizeof path, "%s", info.dli_fname);
    if (path[0] == '\0') {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        if (n <= 0)
            return 0;
        path[n] = '\0';
    }
    /* absolute: a relative folder would follow the process's chdir */
    char absolute[PATH_MAX];
    if (realpath(path, absolute) == NULL)
        return 0;
    char *slash = strrchr(absolute, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    snprintf(out, size, "%s", absolute);
    return 1;
}

static void bind_domain(void)
{
    const char *from_env = getenv("PAYNET_LOCALEDIR");
    char here[PATH_MAX], candidate[PATH_MAX + 32];
    const char *chosen = PAYNET_LOCALEDIR_DEFAULT;
    if (from_env != NULL && from_env[0] != '\0') {
        chosen = from_env;
    } else if (own_folder(here, sizeof here)) {
        static const char *const below[] = {"/locale", "/../share/locale", "/../../../share/locale",
                                           "/paynet/locale"};
        for (size_t i = 0; i < sizeof below / sizeof below[0]; i++) {
            snprintf(candidate, sizeof candidate, "%s%s", here, below[i]);
            if (has_catalogue(candidate)) {
                chosen = candidate;
                break;
            }
        }
    }
    snprintf(bound_dir, sizeof bound_dir, "%s", chosen);
    bindtextdomain(PAYNET_TEXT_DOMAIN, bound_dir);
    bind_textdomain_codeset(PAYNET_TEXT_DOMAIN, "UTF-8");
}

const char *paynet_gettext(const char *msgid)
{
    pthread_once(&bound, bind_domain);
    const char *t = dgettext(PAYNET_TEXT_DOMAIN, msgid);
    return t == msgid || paynet_same_conversions(msgid, t) ? t : msgid;
}

const char *paynet_ngettext(const char *singular, const char *plural, unsigned long n)
{
    pthread_once(&bound, bind_domain);
    const char *english = n == 1 ? singular : plural;
    const char *t = dngettext(PAYNET_TEXT_DOMAIN, singular, plural, n);
    return t == english || paynet_same_conversions(english, t) ? t : english;
}

const char *paynet_localedir(void)
{
    pthread_once(&bound, bind_domain);
    return bound_dir;
}
