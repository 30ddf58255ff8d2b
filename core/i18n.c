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
    char *slash = strrchr(path, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    snprintf(out, size, "%s", path);
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
        static const char *const below[] = {"/locale", "/../share/locale", "/../../../share/locale"};
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
    return dgettext(PAYNET_TEXT_DOMAIN, msgid);
}

const char *paynet_ngettext(const char *singular, const char *plural, unsigned long n)
{
    pthread_once(&bound, bind_domain);
    return dngettext(PAYNET_TEXT_DOMAIN, singular, plural, n);
}

const char *paynet_localedir(void)
{
    pthread_once(&bound, bind_domain);
    return bound_dir;
}
