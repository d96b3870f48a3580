/* outputs.c -- output-path safety (outputs.h). */
#include "outputs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int input_check(const char *opt, const char *path, char *err, size_t cap)
{
    struct stat st;
    if (!path || !path[0] || stat(path, &st) != 0) return 0;
    if (S_ISREG(st.st_mode)) return 0;
    snprintf(err, cap, "%s %s is %s, not a regular file: refused", opt, path,
             S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISDIR(st.st_mode) ? "a directory" : "a device or special file");
    return -1;
}

/* The first n bytes of path, or -1 (never blocks: special files refused). */
static int head_of(const char *path, unsigned char *buf, int n)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t got = read(fd, buf, (size_t)n);
    close(fd);
    return (int)got;
}

int output_is_checkpoint(const char *path)
{
    unsigned char h[9];
    if (head_of(path, h, 9) != 9) return 0;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | h[i];
    struct stat st;
    return stat(path, &st) == 0 && n > 1 && n + 8 <= (uint64_t)st.st_size && h[8] == '{';
}

int output_is_train_log(const char *path)
{
    static const char head[] = "step,lr,loss,";
    unsigned char h[sizeof head - 1];
    return head_of(path, h, (int)sizeof h) == (int)sizeof h && !memcmp(h, head, sizeof h);
}

int output_is_image_log(const char *path)
{
    static const char head[] = "epoch,step,lr,";
    unsigned char h[sizeof head - 1];
    return head_of(path, h, (int)sizeof h) == (int)sizeof h && !memcmp(h, head, sizeof h);
}

int output_is_json(const char *path)
{
    unsigned char h[1];
    return head_of(path, h, 1) == 1 && (h[0] == '{' || h[0] == '[');
}

int output_is_png(const char *path)
{
    unsigned char h[4];
    return head_of(path, h, 4) == 4 && !memcmp(h, "\x89PNG", 4);
}

/* The directory part of path ("." when none). */
static void dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else if (slash == path)
        snprintf(dir, cap, "/");
    else
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

int output_check(const char *opt, const char *path, int (*is_kind)(const char *path), const char *kind_name,
                 const char *const *inputs, int n, int force, char *err, size_t cap)
{
    char dir[1100];
    struct stat so, si, sd;
    dir_of(path, dir, sizeof dir);
    if (stat(dir, &sd) != 0 || !S_ISDIR(sd.st_mode)) {
        snprintf(err, cap, "%s %s: the directory %s does not exist", opt, path, dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, cap, "%s %s: the directory %s is not writable (%s)", opt, path, dir, strerror(errno));
        return -1;
    }
    if (stat(path, &so) != 0) return 0; /* a new file: it is no input */
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i][0] && stat(inputs[i], &si) == 0 && si.st_dev == so.st_dev &&
            si.st_ino == so.st_ino) {
            snprintf(err, cap, "%s %s is the input %s (the same file): writing it would destroy it", opt, path,
                     inputs[i]);
            return -1;
        }
    if (!S_ISREG(so.st_mode)) {
        snprintf(err, cap, "%s %s exists and is not a regular file: refused", opt, path);
        return -1;
    }
    if (!force && so.st_size > 0 && !is_kind(path)) {
        snprintf(err, cap, "%s %s exists and is not %s: refused (give --force to replace it)", opt, path, kind_name);
        return -1;
    }
    return 0;
}

int output_lock_take(output_lock *l, const char *path, char *err, size_t cap)
{
    snprintf(l->path, sizeof l->path, "%s.lock", path);
    l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (l->fd < 0) {
        snprintf(err, cap, "cannot create the lock %s: %s", l->path, strerror(errno));
        return -1;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(l->fd, F_SETLK, &fl) != 0) {
        struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        long pid = fcntl(l->fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK ? (long)q.l_pid : -1;
        if (pid > 0)
            snprintf(err, cap, "%s is being written by another run (process %ld holds %s)", path, pid, l->path);
        else
            snprintf(err, cap, "%s is being written by another run (%s is locked)", path, l->path);
        close(l->fd);
        l->fd = -1;
        return -1;
    }
    struct stat held, now; /* a lock file unlinked by its last holder meanwhile: take the new one */
    if (fstat(l->fd, &held) != 0 || stat(l->path, &now) != 0 || held.st_ino != now.st_ino) {
        close(l->fd);
        return output_lock_take(l, path, err, cap);
    }
    char line[32];
    int len = snprintf(line, sizeof line, "%ld\n", (long)getpid());
    if (ftruncate(l->fd, 0) == 0 && pwrite(l->fd, line, (size_t)len, 0) == len) return 0; /* the holder, for people */
    return 0;
}

void output_lock_release(output_lock *l)
{
    if (l->fd < 0) return;
    unlink(l->path); /* while still held: no one else took it meanwhile */
    close(l->fd);
    l->fd = -1;
}

int output_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int output_log_truncate(const char *path, int step, char *err, size_t cap)
{
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (!S_ISREG(st.st_mode)) return snprintf(err, cap, "the log %s is not a regular file", path), -1;
    FILE *in = fopen(path, "rb");
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *out = in ? fopen(tmp, "wb") : NULL;
    if (!out) {
        if (in) fclose(in);
        return snprintf(err, cap, "cannot rewrite the log %s: %s", path, strerror(errno)), -1;
    }
    char *line = NULL;
    size_t lcap = 0;
    int first = 1, bad = 0;
    while (getline(&line, &lcap, in) > 0) {
        char *end;
        long s = strtol(line, &end, 10);
        if (!first && (end == line || *end != ',' || s > step)) break; /* rows go in step order */
        first = 0;
        if (fputs(line, out) == EOF) bad = 1;
    }
    free(line);
    bad |= ferror(in) != 0;
    fclose(in);
    bad |= fclose(out) != 0;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return snprintf(err, cap, "cannot rewrite the log %s: %s", path, strerror(e)), -1;
    }
    return 0;
}
