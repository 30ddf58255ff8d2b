/*
 * keyfile.c — reading the secret key from a file, the way ssh reads a
 * private key: a file that group or others may read or write is refused,
 * so a key left world-readable is noticed instead of used.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

paynet_status paynet_read_key_file(const char *path, char *out, size_t size,
                                   paynet_error *err)
{
    char buf[1024];
    if (size == 0)
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO, "no room for the key");
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
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
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int saved = errno;
    close(fd);
    if (n < 0)
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO, "cannot read %s: %s",
                           path, strerror(saved));
    buf[n] = '\0';
    /* the first line, without surrounding blanks */
    char *line = buf + strspn(buf, " \t");
    size_t length = strcspn(line, "\r\n");
    while (length > 0 && (line[length - 1] == ' ' || line[length - 1] == '\t'))
        length--;
    if (length == 0) {
        memset(buf, 0, sizeof buf);
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO, "%s holds no secret key",
                           path);
    }
    if (length >= size) {
        memset(buf, 0, sizeof buf);
        return paynet_fail(err, PAYNET_INVALID, PAYNET_DELIVERED_NO,
                           "the key in %s is too long", path);
    }
    memcpy(out, line, length);
    out[length] = '\0';
    memset(buf, 0, sizeof buf);
    return PAYNET_OK;
}
