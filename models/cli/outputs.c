/* outputs.c -- every file the program writes goes through here (outputs.h). */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* realpath */
#endif
#include "outputs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#ifndef NAME_MAX
#define NAME_MAX 255
#endif

#define LOCK_TEXT "dytcl lock: process "

/* ------------------------------------------------------ kinds of files */

int input_check(const char *opt, const char *path, char *err, size_t cap)
{
    struct stat st;
    if (!path || !path[0] || stat(path, &st) != 0) return 0;
    if (S_ISREG(st.st_mode)) return 0;
    snprintf(err, cap, "%s %s is %s, not a regular file: refused", opt, path,
             S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISDIR(st.st_mode) ? "a directory" : "a device or special file");
    return -1;
}

/* The first n bytes of path, or -1 (never blocks, never follows a link). */
static int head_of(const char *path, unsigned char *buf, int n)
{
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) return -1;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
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
    return lstat(path, &st) == 0 && n > 1 && n + 8 <= (uint64_t)st.st_size && h[8] == '{';
}

static int starts_with(const char *path, const char *head)
{
    unsigned char h[64];
    int n = (int)strlen(head);
    return head_of(path, h, n) == n && !memcmp(h, head, (size_t)n);
}

int output_is_train_log(const char *path) { return starts_with(path, "step,lr,loss,"); }
int output_is_diag_log(const char *path) { return starts_with(path, "step,norm,alpha,"); }
int output_is_image_log(const char *path) { return starts_with(path, "epoch,step,lr,"); }

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

int output_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ---------------------------------------------------------- the set */

void outs_init(outs *s, const char *who, int force)
{
    memset(s, 0, sizeof *s);
    s->who = who, s->force = force;
}

void outs_input(outs *s, const char *opt, const char *path, const out_file *except)
{
    if (!path || !path[0] || s->nin >= OUTS_MAX_IN) return;
    s->in[s->nin] = path, s->in_opt[s->nin] = opt, s->in_except[s->nin] = except;
    s->nin++;
}

out_file *outs_add(outs *s, const char *opt, const char *path, int (*is_kind)(const char *path),
                   const char *kind_name)
{
    if (!path || !path[0] || s->n >= OUTS_MAX) return NULL;
    out_file *f = &s->f[s->n++];
    memset(f, 0, sizeof *f);
    f->who = s->who, f->opt = opt, f->is_kind = is_kind, f->kind_name = kind_name;
    f->lock_fd = f->fd = -1;
    snprintf(f->path, sizeof f->path, "%s", path); /* its length is checked at the claim */
    snprintf(f->lock, sizeof f->lock, "%.*s" OUT_LOCK_SUFFIX, PATH_MAX - 16, path);
    snprintf(f->tmp, sizeof f->tmp, "%.*s" OUT_TMP_SUFFIX, PATH_MAX - 16, path);
    return f;
}

/* The directory part of path ("." when none) and the name. */
static void dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, cap, ".");
    else if (slash == path) snprintf(dir, cap, "/");
    else snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* One name a run touches, as it can be compared: the resolved path (the
 * file's, links followed, when it exists; else its directory's and its
 * name) and, when it exists, its device and inode. */
typedef struct {
    char real[PATH_MAX + 300];
    int exists;
    dev_t dev;
    ino_t ino;
} name_id;

static void identify(const char *path, name_id *id)
{
    struct stat st;
    char dir[PATH_MAX], rd[PATH_MAX];
    id->exists = stat(path, &st) == 0;
    if (id->exists) id->dev = st.st_dev, id->ino = st.st_ino;
    if (realpath(path, id->real)) return;
    dir_of(path, dir, sizeof dir);
    if (!realpath(dir, rd)) {
        snprintf(id->real, sizeof id->real, "%s", path);
        return;
    }
    snprintf(id->real, sizeof id->real, "%s/%s", strcmp(rd, "/") ? rd : "", base_of(path));
}

static int same_id(const name_id *a, const name_id *b)
{
    return !strcmp(a->real, b->real) || (a->exists && b->exists && a->dev == b->dev && a->ino == b->ino);
}

/* The checks of one output on its own. 0, or 1 after saying why. */
static int check_one(const outs *s, out_file *f)
{
    char dir[PATH_MAX];
    struct stat st;
    size_t len = strlen(f->path), base = strlen(base_of(f->path));
    dir_of(f->path, dir, sizeof dir);
    long name_max = pathconf(dir, _PC_NAME_MAX);
    if (name_max <= 0 || name_max > NAME_MAX) name_max = NAME_MAX;
    /* the longest name a write makes: PATH.dytcl-tmp/f.tmp.PID (the model library's temporary) */
    if (len + sizeof OUT_TMP_SUFFIX + 32 > PATH_MAX)
        return cli_error(s->who, 1, "%s %.80s...: the path is too long (%zu bytes; its temporary needs %zu more, "
                         "at most %d in all)", f->opt, f->path, len, sizeof OUT_TMP_SUFFIX + 32, PATH_MAX);
    if (base + sizeof OUT_TMP_SUFFIX - 1 > (size_t)name_max)
        return cli_error(s->who, 1, "%s %.80s...: the name is too long (%zu bytes): its temporary %s needs %zu, more "
                         "than the %ld a name may have here", f->opt, f->path, base, base_of(f->tmp),
                         base + sizeof OUT_TMP_SUFFIX - 1, name_max);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_error(s->who, 1, "%s %s: the directory %s does not exist", f->opt, f->path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return cli_error(s->who, 1, "%s %s: the directory %s is not writable (%s)", f->opt, f->path, dir,
                         strerror(errno));
    if (lstat(f->path, &st) == 0) {
        if (S_ISLNK(st.st_mode))
            return cli_error(s->who, 1, "%s %s is a symbolic link: refused (an output is never written through a "
                             "link; give the file itself)", f->opt, f->path);
        if (!S_ISREG(st.st_mode))
            return cli_error(s->who, 1, "%s %s exists and is %s, not a regular file: refused", f->opt, f->path,
                             S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISDIR(st.st_mode) ? "a directory"
                                                                                     : "a device or special file");
        if (!s->force && st.st_size > 0 && !(f->is_kind && f->is_kind(f->path)))
            return cli_error(s->who, 1, "%s %s exists and is not %s: refused (give --force to replace it)", f->opt,
                             f->path, f->kind_name);
    }
    if (lstat(f->lock, &st) == 0 && !S_ISREG(st.st_mode))
        return cli_error(s->who, 1, "%s %s: %s exists and is %s, not a lock of dytcl: refused (not followed, not "
                         "removed)", f->opt, f->path, f->lock, S_ISLNK(st.st_mode) ? "a symbolic link" : "no regular file");
    return 0;
}

/* Outputs apart from the inputs and from each other (their locks and
 * temporaries included). 0, or 1 after saying why. */
static int check_apart(const outs *s)
{
    name_id *in = calloc((size_t)s->nin + 1, sizeof *in), *out = calloc((size_t)s->n * 3 + 1, sizeof *out);
    int rc = 0;
    if (!in || !out) {
        free(in), free(out);
        return cli_error(s->who, 1, "out of host memory");
    }
    for (int i = 0; i < s->nin; i++) identify(s->in[i], &in[i]);
    for (int k = 0; k < s->n; k++) {
        identify(s->f[k].path, &out[3 * k]);
        identify(s->f[k].lock, &out[3 * k + 1]);
        identify(s->f[k].tmp, &out[3 * k + 2]);
    }
    static const char *const part[3] = {"", "its lock ", "its temporary "};
    const char *partpath[3];
    for (int k = 0; k < s->n && !rc; k++) {
        const out_file *f = &s->f[k];
        partpath[0] = f->path, partpath[1] = f->lock, partpath[2] = f->tmp;
        for (int p = 0; p < 3 && !rc; p++) {
            for (int i = 0; i < s->nin && !rc; i++) {
                if (!same_id(&out[3 * k + p], &in[i]) || (p == 0 && s->in_except[i] == f)) continue;
                if (p == 0)
                    rc = cli_error(s->who, 1, "%s %s is the input %s %s (the same file): writing it would destroy it",
                                   f->opt, f->path, s->in_opt[i], s->in[i]);
                else
                    rc = cli_error(s->who, 1, "%s %s: %s%s is the input %s %s: refused", f->opt, f->path, part[p],
                                   partpath[p], s->in_opt[i], s->in[i]);
            }
            for (int j = 0; j < s->n && !rc; j++)
                for (int q = 0; q < 3 && !rc; q++) {
                    if (j == k || !same_id(&out[3 * k + p], &out[3 * j + q])) continue;
                    rc = cli_error(s->who, 1, "%s %s and %s %s write one file (%s%s): refused, give each its own",
                                   f->opt, f->path, s->f[j].opt, s->f[j].path, part[p], partpath[p]);
                }
        }
    }
    free(in), free(out);
    return rc;
}

static int take_lock(out_file *f)
{
    for (int tries = 0; tries < 8; tries++) {
        struct stat st, now;
        int fresh = 1;
        int fd = open(f->lock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0 && errno == EEXIST) {
            fresh = 0;
            if (lstat(f->lock, &st) != 0) continue; /* removed meanwhile: try again */
            if (!S_ISREG(st.st_mode))
                return cli_error(f->who, 1, "%s exists and is not a lock of dytcl: refused", f->lock);
            fd = open(f->lock, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        }
        if (fd < 0)
            return cli_error(f->who, 1, "cannot create the lock %s: %s", f->lock,
                             errno == ELOOP ? "it is a symbolic link (not followed)" : strerror(errno));
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fcntl(fd, F_SETLK, &fl) != 0) {
            struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
            long pid = fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK ? (long)q.l_pid : -1;
            close(fd);
            if (pid > 0)
                return cli_error(f->who, 1, "%s is being written by another run (process %ld holds %s)", f->path, pid,
                                 f->lock);
            return cli_error(f->who, 1, "%s is being written by another run (%s is locked)", f->path, f->lock);
        }
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            return cli_error(f->who, 1, "%s exists and is not a lock of dytcl: refused", f->lock);
        }
        if (!fresh) { /* someone's file, or a lock a killed run left: only the latter is taken over */
            char text[64] = "";
            ssize_t got = pread(fd, text, sizeof text - 1, 0);
            if (got < (ssize_t)strlen(LOCK_TEXT) || memcmp(text, LOCK_TEXT, strlen(LOCK_TEXT))) {
                close(fd);
                return cli_error(f->who, 1, "%s exists and is not a lock of dytcl: refused (it is left as it is; "
                                 "remove or rename it if it is not needed)", f->lock);
            }
        }
        if (lstat(f->lock, &now) != 0 || now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
            close(fd); /* its holder removed it meanwhile: take a new one */
            continue;
        }
        char line[64];
        int len = snprintf(line, sizeof line, LOCK_TEXT "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
            int e = errno;
            unlink(f->lock);
            close(fd);
            return cli_error(f->who, 1, "cannot write the lock %s: %s", f->lock, strerror(e));
        }
        f->lock_fd = fd;
        return 0;
    }
    return cli_error(f->who, 1, "cannot take the lock %s: it keeps changing", f->lock);
}

static void drop_lock(out_file *f)
{
    if (f->lock_fd < 0) return;
    unlink(f->lock); /* while still held: no one else took it meanwhile */
    close(f->lock_fd);
    f->lock_fd = -1;
}

/* Whether name is one a staging directory holds: "f", or the model
 * library's "f.tmp.PID". */
static int staged_name(const char *name)
{
    /* f: a staged file; the others: what a directory writer leaves there (out_stage_dir) */
    return !strcmp(name, "f") || !strncmp(name, "f.tmp.", 6) || !strcmp(name, "model.safetensors") ||
           !strcmp(name, "config.json") || !strcmp(name, "tokenizer.json");
}

/* Removes PATH.dytcl-tmp, left by a run that was killed (we hold the lock:
 * no run is writing it). 0, or 1 after saying why. */
static int remove_stale(out_file *f)
{
    struct stat st;
    if (lstat(f->tmp, &st) != 0) return 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(f->tmp);
        struct dirent *e;
        char p[PATH_MAX + 300];
        if (!d) return cli_error(f->who, 1, "cannot remove the stale temporary %s: %s", f->tmp, strerror(errno));
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", f->tmp, e->d_name);
            if (staged_name(e->d_name) && lstat(p, &st) == 0 && !S_ISDIR(st.st_mode)) unlink(p);
        }
        closedir(d);
        if (rmdir(f->tmp) != 0)
            return cli_error(f->who, 1, "%s is in the way of %s's temporary and holds files not of dytcl: refused",
                             f->tmp, f->path);
        return 0;
    }
    if (unlink(f->tmp) != 0)
        return cli_error(f->who, 1, "cannot remove the stale temporary %s: %s", f->tmp, strerror(errno));
    return 0;
}

int outs_claim(outs *s)
{
    for (int i = 0; i < s->nin; i++) {
        char err[PATH_MAX + 200];
        if (input_check(s->in_opt[i], s->in[i], err, sizeof err)) return cli_error(s->who, 1, "%s", err);
    }
    if (check_apart(s)) return 1;
    for (int k = 0; k < s->n; k++)
        if (check_one(s, &s->f[k])) return 1;
    for (int k = 0; k < s->n; k++)
        if (take_lock(&s->f[k]) || remove_stale(&s->f[k])) {
            for (int j = 0; j <= k; j++) drop_lock(&s->f[j]);
            return 1;
        }
    return 0;
}

void outs_release(outs *s)
{
    for (int k = 0; k < s->n; k++) {
        out_file *f = &s->f[k];
        if (f->fd >= 0) close(f->fd), f->fd = -1;
        if (f->tmp_made == 1) unlink(f->tmp), f->tmp_made = 0;
        if (f->tmp_made == 2) out_unstage(f);
        drop_lock(f);
    }
    if (s->made_dir) rmdir(s->made_dir), s->made_dir = NULL; /* fails, as it should, when the run filled it */
}

/* ------------------------------------------------------------ writing */

/* DYTCL_FAIL_WRITE=N: the Nth write fails with ENOSPC (for tests). */
static int injected_failure(void)
{
    static long left = -1;
    if (left == -1) {
        const char *v = getenv("DYTCL_FAIL_WRITE");
        left = v && atol(v) > 0 ? atol(v) : 0;
    }
    if (left <= 0) return 0;
    if (--left) return 0;
    errno = ENOSPC;
    return 1;
}

static int fail(out_file *f, const char *what, int e)
{
    if (!f->failed) cli_error(f->who, 1, "%s: cannot %s: %s", f->path, what, strerror(e));
    f->failed = 1;
    return -1;
}

static int write_all(out_file *f, int fd, const void *data, size_t n)
{
    const char *p = data;
    if (f->failed) return -1;
    while (n > 0) {
        ssize_t w = injected_failure() ? -1 : write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return fail(f, "write", w < 0 ? errno : ENOSPC);
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* A new temporary file PATH.dytcl-tmp of ours (never an existing one). */
static int open_tmp(out_file *f)
{
    int fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0) return fail(f, "create its temporary", errno);
    f->tmp_made = 1;
    return fd;
}

/* Renames from over the output, which must still be no link or special file. */
static int rename_over(out_file *f, const char *from)
{
    struct stat st;
    if (lstat(f->path, &st) == 0 && !S_ISREG(st.st_mode))
        return fail(f, "replace it", S_ISLNK(st.st_mode) ? ELOOP : EEXIST);
    if (injected_failure() || rename(from, f->path) != 0) return fail(f, "rename its temporary over it", errno);
    return 0;
}

int out_write_file(out_file *f, const void *data, size_t n)
{
    int fd = open_tmp(f);
    if (fd < 0) return -1;
    int bad = write_all(f, fd, data, n) || (fsync(fd) != 0 && fail(f, "sync", errno));
    if (close(fd) != 0 && !bad) bad = fail(f, "close", errno);
    if (!bad && rename_over(f, f->tmp)) bad = 1;
    if (bad) unlink(f->tmp);
    f->tmp_made = 0;
    return bad ? -1 : 0;
}

const char *out_stage(out_file *f)
{
    if (f->failed) return NULL;
    if (mkdir(f->tmp, 0700) != 0) return fail(f, "create its temporary directory", errno), NULL;
    f->tmp_made = 2;
    snprintf(f->staged, sizeof f->staged, "%.*s/f", PATH_MAX - 8, f->tmp);
    return f->staged;
}

int out_commit(out_file *f)
{
    struct stat st;
    if (f->tmp_made != 2) return -1;
    if (lstat(f->staged, &st) != 0 || !S_ISREG(st.st_mode)) {
        out_unstage(f);
        return fail(f, "write", EIO);
    }
    /* the other writer chose its own mode (the library: 0644): the user's umask decides */
    mode_t mask = umask(0);
    umask(mask);
    if (chmod(f->staged, 0666 & ~mask) != 0) {
        int e = errno;
        out_unstage(f);
        return fail(f, "set the mode of", e);
    }
    int bad = rename_over(f, f->staged);
    out_unstage(f);
    return bad ? -1 : 0;
}

const char *out_stage_dir(out_file *f)
{
    return out_stage(f) ? f->tmp : NULL;
}

int out_commit_named(out_file *f, const char *name, out_file *to)
{
    char from[PATH_MAX + 64];
    struct stat st;
    if (f->tmp_made != 2) return -1;
    snprintf(from, sizeof from, "%s/%s", f->tmp, name);
    if (lstat(from, &st) != 0 || !S_ISREG(st.st_mode)) return fail(to, "write", EIO);
    mode_t mask = umask(0); /* the user's umask decides, as in out_commit */
    umask(mask);
    if (chmod(from, 0666 & ~mask) != 0) return fail(to, "set the mode of", errno);
    return rename_over(to, from) ? -1 : 0;
}

int out_make_dir(const char *who, const char *opt, const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return 0;
        return cli_error(who, 1, "%s %s: %s, not a directory: refused", opt, path,
                         S_ISLNK(st.st_mode) ? "a symbolic link" : "a file");
    }
    if (mkdir(path, 0777) != 0) /* 0777 less the user's umask */
        return cli_error(who, 1, "%s %s: cannot create the directory: %s", opt, path, strerror(errno));
    return 0;
}

int outs_make_dir(outs *s, const char *opt, const char *path)
{
    struct stat st;
    const int missing = lstat(path, &st) != 0;
    if (out_make_dir(s->who, opt, path)) return 1;
    if (missing) s->made_dir = path;
    return 0;
}

void out_unstage(out_file *f)
{
    if (f->tmp_made != 2) return;
    DIR *d = opendir(f->tmp);
    struct dirent *e;
    char p[PATH_MAX + 300];
    while (d && (e = readdir(d)))
        if (staged_name(e->d_name)) snprintf(p, sizeof p, "%s/%s", f->tmp, e->d_name), unlink(p);
    if (d) closedir(d);
    rmdir(f->tmp);
    f->tmp_made = 0;
}

int out_open_log(out_file *f, int append, const char *header)
{
    struct stat st;
    if (f->fd >= 0) return 0;
    if (append && lstat(f->path, &st) == 0) {
        int fd = open(f->path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) return fail(f, "open", errno);
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            return fail(f, "append to it", EINVAL);
        }
        f->fd = fd;
        return st.st_size == 0 ? write_all(f, fd, header, strlen(header)) : 0;
    }
    int fd = open_tmp(f); /* a new log: its header, then renamed into place */
    if (fd < 0) return -1;
    if (write_all(f, fd, header, strlen(header)) || rename_over(f, f->tmp)) {
        close(fd), unlink(f->tmp), f->tmp_made = 0;
        return -1;
    }
    f->tmp_made = 0, f->fd = fd;
    return 0;
}

int out_printf(out_file *f, const char *fmt, ...)
{
    char buf[2048], *p = buf;
    va_list ap;
    if (!f || f->fd < 0 || f->failed) return f && f->failed ? -1 : 0;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return fail(f, "format a line for", EINVAL);
    if ((size_t)n >= sizeof buf) {
        if (!(p = malloc((size_t)n + 1))) return fail(f, "write", ENOMEM);
        va_start(ap, fmt);
        vsnprintf(p, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    int rc = write_all(f, f->fd, p, (size_t)n);
    if (p != buf) free(p);
    return rc;
}

int out_close(out_file *f)
{
    if (!f || f->fd < 0) return f && f->failed ? -1 : 0;
    int rc = close(f->fd);
    f->fd = -1;
    if (rc != 0) return fail(f, "close", errno);
    return f->failed ? -1 : 0;
}

int out_log_keep(out_file *f, int step)
{
    struct stat st;
    if (lstat(f->path, &st) != 0) return 0;
    int in = open(f->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (in < 0) return fail(f, "read", errno);
    FILE *r = fdopen(in, "rb");
    if (!r) return close(in), fail(f, "read", errno);
    int fd = open_tmp(f);
    if (fd < 0) return fclose(r), -1;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    int first = 1, bad = 0;
    while (!bad && (len = getline(&line, &lcap, r)) > 0) {
        char *end;
        long s = strtol(line, &end, 10);
        if (!first && (end == line || *end != ',' || s > step)) break; /* rows go in step order */
        first = 0;
        bad = write_all(f, fd, line, (size_t)len);
    }
    free(line);
    if (!bad && ferror(r)) bad = fail(f, "read", EIO);
    fclose(r);
    if (close(fd) != 0 && !bad) bad = fail(f, "close", errno);
    if (!bad) bad = rename_over(f, f->tmp);
    if (bad) unlink(f->tmp);
    f->tmp_made = 0;
    return bad ? -1 : 0;
}
