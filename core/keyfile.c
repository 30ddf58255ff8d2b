/*
 * keyfile.c — the one way a front end gets the secret key, from a file,
 * standard input or the environment, with one rule for all three: the
 * first line, blanks around it removed, at most PAYNET_SECRET_MAX bytes.
 *
 * A file that group or others may read or write is refused, as ssh refuses
 * a private key, so a key left world-readable is noticed instead of used.
 * The file is opened without blocking, so a FIFO or a device is refused
 * at once instead of hanging.  A key taken from PAYNET_SECRET_KEY is
 * removed from the environment, so programs started later do not inherit
 * it.  Buffers of ours that held the key are wiped.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

/* The first line of text, without surrounding blanks, into out. */
static paynet_status first_line(const char *text, const char *where, char *out, size_t size,
                                paynet_error *err)
{
    const char *line = text + strspn(text, " \t");
    size_t length = strcspn(line, "\r\n");
    while (length > 0 && (line[length - 1] == ' ' || line[length - 1] == '\t'))
        length--;
    if (length == 0)
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO, "%s holds no secret key",
                           where);
    if (length > PAYNET_SECRET_MAX || length >= size)
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "the key in %s is longer than %d bytes", where, PAYNET_SECRET_MAX);
    memcpy(out, line, length);
    out[length] = '\0';
    return PAYNET_OK;
}

static paynet_status read_fd(int fd, const char *where, char *out, size_t size,
                             paynet_error *err)
{
    char buf[PAYNET_SECRET_MAX + 64];
    size_t used = 0;
    for (;;) { /* up to the first newline or the end */
        ssize_t n = read(fd, buf + used, sizeof buf - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            wipe(buf, sizeof buf);
            return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO, "cannot read %s: %s",
                               where, strerror(saved));
        }
        used += (size_t)n;
        if (n == 0 || used == sizeof buf - 1 || memchr(buf + used - (size_t)n, '\n', (size_t)n))
            break;
    }
    buf[used] = '\0';
    paynet_status status = first_line(buf, where, out, size, err);
    wipe(buf, sizeof buf);
    return status;
}

paynet_status paynet_read_key_file(const char *path, char *out, size_t size,
                                   paynet_error *err)
{
    if (size == 0)
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO, "no room for the key");
    out[0] = '\0';
    if (strcmp(path, "-") == 0)
        return read_fd(STDIN_FILENO, "standard input", out, size, err);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO, "cannot open %s: %s",
                           path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "%s is not a regular file", path);
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "%s is accessible by group or others (mode %04o); a secret "
                           "key file must be private: chmod 600 %s",
                           path, (unsigned)(st.st_mode & 07777), path);
    }
    paynet_status status = read_fd(fd, path, out, size, err);
    close(fd);
    return status;
}

paynet_status paynet_secret_load(const char *path, char *out, size_t size, paynet_error *err)
{
    if (path != NULL)
        return paynet_read_key_file(path, out, size, err);
    if (size == 0)
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO, "no room for the key");
    out[0] = '\0';
    const char *env = getenv("PAYNET_SECRET_KEY");
    if (env == NULL || env[0] == '\0')
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "no secret key: set PAYNET_SECRET_KEY or use --secret-key-file "
                           "FILE (- for standard input)");
    paynet_status status = first_line(env, "PAYNET_SECRET_KEY", out, size, err);
    unsetenv("PAYNET_SECRET_KEY"); /* no program started later inherits it */
    return status;
}
