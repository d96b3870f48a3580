/* safetensors.c -- reading and writing .safetensors files (F32, F16, BF16, I8).
 *
 * The format: an 8-byte little-endian header length N, N bytes of JSON, then
 * the tensor bytes (little-endian). The JSON maps each tensor name to
 * {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]} (offsets
 * into the bytes after the header) and may hold "__metadata__": a map of
 * strings to strings. F16 and BF16 tensors are widened to float32 on load
 * (exactly: every half-width value is a float) into one allocation the file
 * keeps; on save, a tensor whose dtype is F16 or BF16 is rounded to nearest
 * even on the way out (half.c). I8 tensors (the quants of Q8 matrices,
 * dytcl_dtype DYTCL_Q8 here) are handed over and written as they are: one
 * byte a value, never widened.
 *
 * Reading trusts nothing: the header length, every offset, shape and dtype
 * are checked against the file; tensors must exactly tile the data area (no
 * overlap, no gap, nothing past the end). Writing goes to a temporary file
 * that is flushed to disk and renamed over the target, so a crash or a full
 * disk leaves either the old file or the new one, never half of one.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define ST_MAX_HEADER (100u << 20) /* 100 MiB of JSON is hostile, not a model */

struct dytcl_st_file {
    unsigned char *bytes;      /* the whole file */
    size_t size;
    const unsigned char *data; /* the byte area after the header */
    size_t data_size;
    dytcl_st_tensor *tensors;  /* sorted by data offset */
    float *wide;               /* the F16 and BF16 tensors, widened (I8 stays as stored) */
    int count;
    json_t *meta;              /* "__metadata__" or NULL */
    json_t *header;            /* owns the names */
};

#define ST_FAIL(...) dy_fail(NULL, DYTCL_ERR_FORMAT, "safetensors: " __VA_ARGS__)

/* The format's names of the dtypes dytcl reads and writes. */
#define ST_DTYPES 4
static const char *const st_names[ST_DTYPES] = {[DYTCL_F32] = "F32", [DYTCL_F16] = "F16", [DYTCL_BF16] = "BF16",
                                                [DYTCL_Q8] = "I8"};

/* A header entry while the header is checked: the tensor and where its
 * bytes begin in the data area (the data itself may not be read yet). */
typedef struct {
    dytcl_st_tensor t;
    uint64_t begin;
} st_entry;

static int cmp_begin(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* Checks one header entry and fills t from it. */
static dytcl_status parse_entry(dytcl_st_file *f, const char *name, json_t *v, st_entry *en)
{
    dytcl_st_tensor *t = &en->t;
    if (!json_is_object(v)) return ST_FAIL("entry \"%s\" is not an object", name);
    const char *dtype = json_string_value(json_object_get(v, "dtype"));
    json_t *shape = json_object_get(v, "shape"), *offs = json_object_get(v, "data_offsets");
    if (!dtype || !json_is_array(shape) || !json_is_array(offs) || json_array_size(offs) != 2)
        return ST_FAIL("entry \"%s\" lacks dtype, shape or data_offsets", name);
    int dt = 0;
    while (dt < ST_DTYPES && strcmp(dtype, st_names[dt])) dt++;
    if (dt == ST_DTYPES)
        return ST_FAIL("tensor \"%s\" has dtype %s; only F32, F16, BF16 and I8 are supported", name, dtype);
    size_t ndim = json_array_size(shape);
    if (ndim > DYTCL_MAX_DIMS)
        return ST_FAIL("tensor \"%s\" has more than 4 dimensions", name);
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = (dytcl_dtype)dt;
    t->ndim = (int)ndim;
    uint64_t numel = 1;
    for (size_t i = 0; i < ndim; i++) {
        json_t *d = json_array_get(shape, i);
        json_int_t n = json_is_integer(d) ? json_integer_value(d) : -1;
        if (n < 0 || (n > 0 && numel > (uint64_t)INT64_MAX / 4 / (uint64_t)n))
            return ST_FAIL("tensor \"%s\" has a bad shape", name);
        t->shape[i] = n;
        numel *= (uint64_t)n;
    }
    json_t *jb = json_array_get(offs, 0), *je = json_array_get(offs, 1);
    json_int_t b = json_is_integer(jb) ? json_integer_value(jb) : -1;
    json_int_t e = json_is_integer(je) ? json_integer_value(je) : -1;
    if (b < 0 || e < b || (uint64_t)e > f->data_size)
        return ST_FAIL("tensor \"%s\" has data_offsets outside the file", name);
    if ((uint64_t)(e - b) != numel * dytcl_dtype_size(t->dtype))
        return ST_FAIL("tensor \"%s\": data_offsets do not match its shape and dtype %s", name, dtype);
    t->numel = (size_t)numel;
    en->begin = (uint64_t)b;
    t->bytes = (size_t)(e - b);
    return DYTCL_OK;
}

/* After the tiling check: every F16 / BF16 tensor widened into f->wide, its
 * data and bytes then those of float32. At most twice the data area. */
static dytcl_status widen(dytcl_st_file *f)
{
    size_t n = 0;
    for (int i = 0; i < f->count; i++)
        if (f->tensors[i].dtype == DYTCL_F16 || f->tensors[i].dtype == DYTCL_BF16) n += f->tensors[i].numel;
    if (!n) return DYTCL_OK;
    if (n > SIZE_MAX / sizeof(float) || !(f->wide = malloc(n * sizeof(float))))
        return dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "safetensors: out of host memory widening %zu half-width values", n);
    float *w = f->wide;
    for (int i = 0; i < f->count; i++) {
        dytcl_st_tensor *t = &f->tensors[i];
        if (t->dtype != DYTCL_F16 && t->dtype != DYTCL_BF16) continue;
        const unsigned char *p = (const unsigned char *)t->data;
        for (size_t j = 0; j < t->numel; j++)
            w[j] = dytcl_half_to_float((uint16_t)(p[2 * j] | p[2 * j + 1] << 8), t->dtype);
        t->data = w;
        t->bytes = t->numel * sizeof(float);
        w += t->numel;
    }
    return DYTCL_OK;
}

/* The 8-byte little-endian header length at p, checked against a file of
 * `size` bytes. */
static dytcl_status header_length(const unsigned char *p, uint64_t size, uint64_t *n)
{
    if (size < 8) return dy_fail(NULL, DYTCL_ERR_FORMAT, "safetensors: %llu bytes is shorter than the header length",
                                 (unsigned long long)size);
    *n = 0;
    for (int i = 7; i >= 0; i--) *n = (*n << 8) | p[i];
    if (*n == 0 || *n > ST_MAX_HEADER || *n > size - 8)
        return dy_fail(NULL, DYTCL_ERR_FORMAT, "safetensors: header length %llu does not fit a %llu-byte file",
                       (unsigned long long)*n, (unsigned long long)size);
    return DYTCL_OK;
}

/* Checks the header alone: the JSON at json[0..n) against a data area of
 * data_size bytes (every entry, and the tensors tiling the area exactly).
 * Fills f's header, metadata, tensors (their data not yet set) and, in
 * begin[i], where tensor i's bytes start. Nothing of the data is needed. */
static dytcl_status parse_header(dytcl_st_file *f, const unsigned char *json, size_t n, uint64_t **begin)
{
    json_error_t jerr;
    f->header = json_loadb((const char *)json, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!f->header || !json_is_object(f->header))
        return dy_fail(NULL, DYTCL_ERR_FORMAT, "safetensors: the header is not a JSON object (%s)",
                       f->header ? "not an object" : jerr.text);
    size_t nkeys = json_object_size(f->header);
    st_entry *en = calloc(nkeys ? nkeys : 1, sizeof *en);
    f->tensors = calloc(nkeys ? nkeys : 1, sizeof *f->tensors);
    *begin = calloc(nkeys ? nkeys : 1, sizeof **begin);
    dytcl_status s = DYTCL_OK;
    if (!en || !f->tensors || !*begin) {
        s = dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "safetensors: out of host memory");
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(f->header, key, v) {
        if (!strcmp(key, "__metadata__")) {
            const char *mk;
            json_t *mv;
            if (!json_is_object(v)) {
                s = ST_FAIL("__metadata__ is not an object");
                goto done;
            }
            json_object_foreach(v, mk, mv) if (!json_is_string(mv)) {
                s = ST_FAIL("metadata \"%s\" is not a string", mk);
                goto done;
            }
            f->meta = v;
            continue;
        }
        if ((s = parse_entry(f, key, v, &en[f->count]))) goto done;
        f->count++;
    }
    /* The tensors must tile the data area exactly. */
    qsort(en, (size_t)f->count, sizeof *en, cmp_begin);
    uint64_t at = 0;
    for (int i = 0; i < f->count; i++) {
        if (en[i].begin != at) {
            s = ST_FAIL("tensor \"%s\" %s another tensor or leaves a gap", en[i].t.name,
                        en[i].begin < at ? "overlaps" : "follows a gap after");
            goto done;
        }
        at = en[i].begin + en[i].t.bytes;
        f->tensors[i] = en[i].t;
        (*begin)[i] = en[i].begin;
    }
    if (at != f->data_size)
        s = dy_fail(NULL, DYTCL_ERR_FORMAT, "safetensors: %llu bytes after the last tensor (file truncated or padded)",
                    (unsigned long long)(f->data_size - at));
done:
    free(en);
    return s;
}

/* Parses the file image `bytes` (size bytes, malloc'd, whose first 8 + n
 * are the length and the header), which it owns from here on, freed on
 * failure too. When f is not NULL its header was checked already (begin:
 * where each tensor starts) and only the data is attached. */
static dytcl_status parse_owned(unsigned char *bytes, size_t size, dytcl_st_file *f, uint64_t *begin,
                                dytcl_st_file **out)
{
    uint64_t n = 0;
    dytcl_status s = header_length(bytes, size, &n);
    if (!s && !f && !(f = calloc(1, sizeof *f)))
        s = dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "safetensors: out of host memory");
    if (s) {
        free(bytes);
        free(begin);
        dytcl_st_free(f);
        return s;
    }
    f->bytes = bytes;
    f->size = size;
    f->data = f->bytes + 8 + n;
    f->data_size = size - 8 - (size_t)n;
    if (!f->header) s = parse_header(f, f->bytes + 8, (size_t)n, &begin);
    if (!s) {
        for (int i = 0; i < f->count; i++) { /* widen() moves the half-width ones */
            if (f->tensors[i].dtype == DYTCL_Q8) f->tensors[i].i8 = (const int8_t *)(f->data + begin[i]), f->tensors[i].data = NULL;
            else f->tensors[i].data = (const float *)(const void *)(f->data + begin[i]);
        }
        s = widen(f);
    }
    free(begin);
    if (s) {
        dytcl_st_free(f);
        return s;
    }
    *out = f;
    return DYTCL_OK;
}

dytcl_status dytcl_st_parse(const void *bytes, size_t size, dytcl_st_file **out)
{
    dy_clear_error(NULL);
    if (!out || (!bytes && size)) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_st_parse: NULL argument");
    *out = NULL;
    uint64_t n = 0;
    dytcl_status s = header_length(bytes, size, &n);
    if (s) return s;
    unsigned char *copy = malloc(size);
    if (!copy) return dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "safetensors: out of host memory (%zu bytes)", size);
    memcpy(copy, bytes, size);
    return parse_owned(copy, size, NULL, NULL, out);
}

/* Reads exactly n bytes at the file's current position. */
static int read_all(int fd, unsigned char *p, size_t n)
{
    while (n) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return got == 0 ? (errno = EIO, -1) : -1;
        p += got, n -= (size_t)got;
    }
    return 0;
}

/* Reading is bounded by what the file says of itself: only a regular file
 * is opened (a FIFO or a device such as /dev/zero is refused before any
 * read; O_NONBLOCK keeps a FIFO swapped in meanwhile from blocking open),
 * its 8-byte header length is checked against its size, the header is read
 * and checked whole (every tensor inside the file, tiling it exactly), and
 * only then is the data it names read, into one allocation the file keeps. */
dytcl_status dytcl_st_load(const char *path, dytcl_st_file **out)
{
    dy_clear_error(NULL);
    if (!path || !out) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_st_load: NULL argument");
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return dy_fail(NULL, DYTCL_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return dy_fail(NULL, DYTCL_ERR_IO, "%s is not a regular file (a directory, FIFO or device): refused", path);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return dy_fail(NULL, DYTCL_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    unsigned char head[8];
    dytcl_status s = DYTCL_OK;
    unsigned char *buf = NULL;
    dytcl_st_file *f = NULL;
    uint64_t n = 0, *begin = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        s = dy_fail(NULL, DYTCL_ERR_IO, "%s is not a regular file: refused", path);
    else if ((uint64_t)st.st_size > SIZE_MAX)
        s = dy_fail(NULL, DYTCL_ERR_IO, "%s: %lld bytes do not fit this machine's memory", path, (long long)st.st_size);
    else if (st.st_size >= 8 && read_all(fd, head, 8) != 0)
        s = dy_fail(NULL, DYTCL_ERR_IO, "reading %s: %s", path, strerror(errno));
    else
        s = header_length(head, st.st_size < 8 ? 0 : (uint64_t)st.st_size, &n);
    const size_t size = (size_t)st.st_size;
    /* The header first: 8 + n bytes, checked before the data is touched. */
    if (!s && (!(buf = malloc(8 + (size_t)n)) || !(f = calloc(1, sizeof *f))))
        s = dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "reading %s: out of host memory", path);
    if (!s) {
        memcpy(buf, head, 8);
        if (read_all(fd, buf + 8, (size_t)n) != 0)
            s = dy_fail(NULL, DYTCL_ERR_IO, "reading %s: %s", path, strerror(errno));
    }
    if (!s) {
        f->data_size = size - 8 - (size_t)n;
        s = parse_header(f, buf + 8, (size_t)n, &begin);
    }
    /* Then the data the header names: the rest of the file. */
    if (!s) {
        unsigned char *whole = realloc(buf, size);
        if (!whole)
            s = dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "reading %s: out of host memory (%zu bytes)", path, size);
        else if (buf = whole, read_all(fd, buf + 8 + n, size - 8 - (size_t)n) != 0)
            s = dy_fail(NULL, DYTCL_ERR_IO, "reading %s: %s (the file changed while read?)", path, strerror(errno));
    }
    if (!s) {
        s = parse_owned(buf, size, f, begin, out);
        buf = NULL, f = NULL, begin = NULL;
    }
    close(fd);
    free(buf);
    free(begin);
    dytcl_st_free(f);
    if (s == DYTCL_ERR_FORMAT) {
        char msg[DY_ERRLEN];
        snprintf(msg, sizeof msg, "%s", dytcl_last_error(NULL));
        dy_fail(NULL, s, "%s: %s", path, msg);
    }
    return s;
}

void dytcl_st_free(dytcl_st_file *f)
{
    if (!f) return;
    json_decref(f->header);
    free(f->tensors);
    free(f->wide);
    free(f->bytes);
    free(f);
}

int dytcl_st_count(const dytcl_st_file *f)
{
    return f ? f->count : 0;
}

dytcl_status dytcl_st_tensor_at(const dytcl_st_file *f, int i, dytcl_st_tensor *out)
{
    if (!f || !out || i < 0 || i >= f->count)
        return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_st_tensor_at: no tensor %d", i);
    *out = f->tensors[i];
    return DYTCL_OK;
}

dytcl_status dytcl_st_get(const dytcl_st_file *f, const char *name, dytcl_st_tensor *out)
{
    if (!f || !name || !out) return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_st_get: NULL argument");
    for (int i = 0; i < f->count; i++)
        if (!strcmp(f->tensors[i].name, name)) return *out = f->tensors[i], DYTCL_OK;
    return dy_fail(NULL, DYTCL_ERR_FORMAT, "safetensors: no tensor named \"%s\"", name);
}

const char *dytcl_st_metadata(const dytcl_st_file *f, const char *key)
{
    if (!f || !f->meta || !key) return NULL;
    return json_string_value(json_object_get(f->meta, key));
}

/* ---------------------------------------------------------------- writing */

static dytcl_status header_json(const dytcl_st_tensor *t, int n, const char *const *meta, int nmeta,
                                char **out)
{
    json_t *h = json_object(), *m = nmeta ? json_object() : NULL;
    int bad = !h || (nmeta && !m);
    for (int i = 0; i < nmeta && !bad; i++) {
        if (!meta[2 * i] || !meta[2 * i + 1]) bad = 1;
        else bad = json_object_set_new(m, meta[2 * i], json_string(meta[2 * i + 1])) != 0;
    }
    if (m && !bad) bad = json_object_set_new(h, "__metadata__", m) != 0, m = NULL;
    size_t at = 0;
    for (int i = 0; i < n && !bad; i++) {
        json_t *shape = json_array();
        for (int d = 0; d < t[i].ndim; d++) json_array_append_new(shape, json_integer(t[i].shape[d]));
        const size_t bytes = t[i].numel * dytcl_dtype_size(t[i].dtype);
        json_t *e = json_pack("{s:s, s:o, s:[I,I]}", "dtype", st_names[t[i].dtype], "shape", shape, "data_offsets",
                              (json_int_t)at, (json_int_t)(at + bytes));
        if (!e || json_object_get(h, t[i].name)) { /* a repeated name */
            json_decref(e);
            bad = 1;
        } else {
            bad = json_object_set_new(h, t[i].name, e) != 0;
        }
        at += bytes;
    }
    json_decref(m);
    *out = bad ? NULL : json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    return *out ? DYTCL_OK
                : dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "safetensors: cannot encode the header "
                                                       "(a NULL or repeated name or metadata string)");
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w, n -= (size_t)w;
    }
    return 0;
}

/* Tensor t's data as the file stores it: float32 as is, F16 / BF16 rounded
 * (little-endian), a block at a time. */
static int write_tensor(int fd, const dytcl_st_tensor *t)
{
    if (t->dtype == DYTCL_F32) return write_all(fd, t->data, t->numel * 4);
    if (t->dtype == DYTCL_Q8) return write_all(fd, t->i8, t->numel);
    enum { BLOCK = 4096 };
    unsigned char buf[2 * BLOCK];
    for (size_t j = 0; j < t->numel; j += BLOCK) {
        const size_t n = t->numel - j < BLOCK ? t->numel - j : BLOCK;
        for (size_t i = 0; i < n; i++) {
            const uint16_t h = dytcl_half_from_float(t->data[j + i], t->dtype);
            buf[2 * i] = (unsigned char)(h & 0xff), buf[2 * i + 1] = (unsigned char)(h >> 8);
        }
        if (write_all(fd, buf, 2 * n)) return -1;
    }
    return 0;
}

dytcl_status dytcl_st_save(const char *path, const dytcl_st_tensor *t, int n, const char *const *meta,
                           int nmeta)
{
    dy_clear_error(NULL);
    if (!path || (n && !t) || n < 0 || nmeta < 0 || (nmeta && !meta))
        return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_st_save: bad arguments");
    for (int i = 0; i < n; i++) {
        uint64_t numel = 1;
        for (int d = 0; d < t[i].ndim && d < DYTCL_MAX_DIMS; d++) {
            uint64_t e = (uint64_t)(t[i].shape[d] < 0 ? 0 : t[i].shape[d]);
            numel = e && numel > UINT64_MAX / 4 / e ? UINT64_MAX : numel * e; /* overflow: never equal below */
        }
        if (t[i].name && !strcmp(t[i].name, "__metadata__"))
            return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_st_save: tensor %d is named __metadata__, the name the "
                           "format keeps for the metadata map", i);
        if (!t[i].name || t[i].ndim < 0 || t[i].ndim > DYTCL_MAX_DIMS || numel != t[i].numel ||
            (t[i].numel && !(t[i].dtype == DYTCL_Q8 ? (const void *)t[i].i8 : (const void *)t[i].data)) ||
            (unsigned)t[i].dtype >= ST_DTYPES)
            return dy_fail(NULL, DYTCL_ERR_INVALID_ARG, "dytcl_st_save: tensor %d (%s) has a bad shape, data or dtype",
                           i, t[i].name ? t[i].name : "NULL");
        /* a finite value past the half-width range would be stored as an
         * infinity the reader then refuses: refused here, before any write */
        for (size_t j = 0; (t[i].dtype == DYTCL_F16 || t[i].dtype == DYTCL_BF16) && j < t[i].numel; j++) {
            const float v = t[i].data[j];
            if (isfinite(v) && !isfinite(dytcl_half_to_float(dytcl_half_from_float(v, t[i].dtype), t[i].dtype)))
                return dy_fail(NULL, DYTCL_ERR_INVALID_ARG,
                               "dytcl_st_save: tensor \"%s\" element %zu is %g, outside the range of %s (it would be "
                               "stored as an infinity): refused", t[i].name, j, (double)v, st_names[t[i].dtype]);
        }
    }
    char *json = NULL;
    dytcl_status s = header_json(t, n, meta, nmeta, &json);
    if (s) return s;
    size_t hlen = strlen(json), padded = (hlen + 7) / 8 * 8; /* keep the data 8-byte aligned */
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(((uint64_t)padded >> (8 * i)) & 0xff);

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) {
        free(json);
        return dy_fail(NULL, DYTCL_ERR_HOST_MEMORY, "dytcl_st_save: out of host memory");
    }
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int bad = fd < 0;
    const char spaces[8] = "        ";
    bad = bad || write_all(fd, len8, 8) || write_all(fd, json, hlen) || write_all(fd, spaces, padded - hlen);
    for (int i = 0; i < n && !bad; i++) bad = write_tensor(fd, &t[i]);
    int err = errno;
    if (fd >= 0) {
        bad = bad || fsync(fd) != 0;
        if (bad && !err) err = errno;
        bad = (close(fd) != 0) || bad;
    }
    if (!bad && rename(tmp, path) != 0) bad = 1, err = errno;
    if (bad) {
        unlink(tmp);
        s = dy_fail(NULL, DYTCL_ERR_IO, "cannot write %s: %s (the previous file, if any, is untouched)", path,
                    strerror(err ? err : EIO));
    } else {
        /* Make the rename itself durable. */
        char *dir = strdup(path);
        char *slash = dir ? strrchr(dir, '/') : NULL;
        if (dir) {
            if (slash) *slash = '\0';
            int dfd = open(slash ? (*dir ? dir : "/") : ".", O_RDONLY);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
        }
        free(dir);
    }
    free(tmp);
    free(json);
    return s;
}
