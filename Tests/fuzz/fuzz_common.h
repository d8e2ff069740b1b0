/* What the libFuzzer harnesses of Tests/fuzz share: a reader that decodes calls from the fuzz
 * input, the micro model they predict with, a file in memory, images whose buffers are exactly
 * as large as eri.h says they are read (so that AddressSanitizer sees any read past them), structs
 * of any struct_size allocated to that size, and the checks of eri.h's promises: every status is
 * an eri_status, every failure has a message, every ERI_OK intensity is finite and in [0, 1].
 * A broken promise calls fuzz_fail, which aborts: libFuzzer reports it as a crash with the input. */
#ifndef ERI_FUZZ_COMMON_H
#define ERI_FUZZ_COMMON_H

#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "eri.h"

#pragma clang diagnostic ignored "-Wunused-function" /* each harness uses a part */

static void fuzz_fail(const char *what, const char *detail) {
    fprintf(stderr, "eri fuzz: broken promise: %s (%s)\n", what, detail ? detail : "");
    abort();
}

typedef struct {
    const uint8_t *p;
    size_t n;
} fuzz_reader;

static uint8_t rd_u8(fuzz_reader *r) {
    if (r->n == 0) return 0;
    r->n--;
    return *r->p++;
}
static uint32_t rd_u32(fuzz_reader *r) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)rd_u8(r) << (8 * i);
    return v;
}
static uint64_t rd_u64(fuzz_reader *r) { return (uint64_t)rd_u32(r) | (uint64_t)rd_u32(r) << 32; }
static double rd_f64_raw(fuzz_reader *r) {
    uint64_t bits = rd_u64(r);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}
/* Mostly ordinary numbers, sometimes any bit pattern (NaN, Inf, denormals, 1e308). */
static double rd_time(fuzz_reader *r, double scale) {
    uint8_t k = rd_u8(r);
    if (k < 16) return rd_f64_raw(r);
    return (double)(int16_t)(rd_u8(r) | rd_u8(r) << 8) * scale;
}
static int32_t rd_i32_special(fuzz_reader *r, int32_t lo, int32_t hi) {
    static const int32_t special[] = {0, -1, 1, INT32_MIN, INT32_MAX, 65536, 65537, 768001, 3999};
    uint8_t k = rd_u8(r);
    if (k < 24) return special[k % (sizeof special / sizeof special[0])];
    return lo + (int32_t)(rd_u32(r) % (uint32_t)(hi - lo + 1));
}

static void check_status(eri_status st, const char *call) {
    if ((int)st < 0 || (int)st > ERI_ERR_INTERNAL) fuzz_fail("a status that is not an eri_status", call);
    if (st == ERI_ERR_INTERNAL) {
        /* Allowed only for a non-finite result; anything else is a bug liberi asks to be reported. */
        const char *m = eri_last_error();
        if (!strstr(m, "overflow")) fuzz_fail("ERI_ERR_INTERNAL", m);
    }
    if (st != ERI_OK) {
        const char *m = eri_last_error();
        if (m == NULL || m[0] == '\0') fuzz_fail("a failure without a message", call);
    }
}

static void check_out(eri_status st, const float *out, const char *call) {
    check_status(st, call);
    if (st != ERI_OK) return;
    for (int i = 0; i < ERI_NUM_EMOTIONS; i++)
        if (!(out[i] >= 0.0f && out[i] <= 1.0f)) fuzz_fail("an ERI_OK intensity outside [0, 1] or NaN", call);
}

static void fuzz_log(int32_t level, const char *message, void *user) {
    (void)user;
    if (level < ERI_LOG_ERROR || level > ERI_LOG_DEBUG || message == NULL) fuzz_fail("a bad log call", "");
    volatile size_t n = strlen(message);
    (void)n;
}

/* The model the harnesses predict with: $ERI_FUZZ_MODEL (make fuzz: Tests/fuzz/make_seeds.py's micro.eri). */
static eri_model *fuzz_model(void) {
    static eri_model *model = NULL;
    if (model) return model;
    const char *path = getenv("ERI_FUZZ_MODEL");
    if (!path) {
        fprintf(stderr, "eri fuzz: set ERI_FUZZ_MODEL to a model (make fuzz does)\n");
        exit(2);
    }
    eri_model_options o;
    eri_model_options_init(&o);
    o.n_threads = 1;
    if (eri_model_open(path, &o, &model) != ERI_OK) {
        fprintf(stderr, "eri fuzz: %s\n", eri_last_error());
        exit(2);
    }
    return model;
}

/* A regular file in memory holding the input: a path liberi opens like any file. */
static const char *fuzz_file(const uint8_t *data, size_t size) {
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("eri-fuzz", 0);
        if (fd < 0) { perror("memfd_create"); exit(2); }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) { perror("memfd"); exit(2); }
    return path;
}

/* A struct of struct_size bytes (any value the input picks), its known fields from `full`. */
static void *fuzz_struct(fuzz_reader *r, const void *full, size_t full_size, int *is_null) {
    uint8_t k = rd_u8(r);
    *is_null = 0;
    if (k < 8) { *is_null = 1; return NULL; }
    uint32_t size = (uint32_t)full_size;
    if (k < 40) size = rd_u8(r) % (full_size + 16); /* smaller (an older header) or larger */
    /* At least the uint32_t struct_size itself, which liberi reads first. */
    size_t bytes = size < 4 ? 4 : size < full_size ? size : full_size;
    void *p = malloc(bytes);
    memcpy(p, full, bytes);
    memcpy(p, &size, 4);
    return p;
}

/* An image with the geometry the input picks and a buffer exactly as large as eri.h says it is
   read: planes of stride x (rows - 1) + row bytes, a NULL chroma plane following its predecessor's
   full rows. Sizes out of range keep a small buffer: liberi must refuse them before reading. */
typedef struct {
    eri_image img;
    uint8_t *block;
} fuzz_image;

static int bytes_per_pixel(int32_t f) {
    switch (f) {
    case ERI_PIXEL_RGB24: case ERI_PIXEL_BGR24: return 3;
    case ERI_PIXEL_RGBA32: case ERI_PIXEL_BGRA32: return 4;
    case ERI_PIXEL_YUYV: return 2;
    default: return 1;
    }
}

static void fuzz_image_make(fuzz_reader *r, fuzz_image *fi) {
    memset(fi, 0, sizeof *fi);
    eri_image *im = &fi->img;
    uint8_t shape = rd_u8(r);
    int valid_dims = shape >= 16;
    static const int32_t bad_side[] = {0, -1, -64, INT32_MIN, INT32_MAX, 65537, 1 << 20};
    im->width = 1 + rd_u8(r) % 64;
    im->height = 1 + rd_u8(r) % 64;
    if (!valid_dims) { /* one side out of 1…65536: refused before any pixel is read */
        int32_t bad = bad_side[rd_u8(r) % (sizeof bad_side / sizeof bad_side[0])];
        if (shape & 1) im->width = bad; else im->height = bad;
    }
    im->format = rd_u8(r) < 8 ? rd_i32_special(r, -3, 12) : rd_u8(r) % 8;
    int bpp = bytes_per_pixel(im->format);
    int64_t w = valid_dims ? im->width : 1;
    int64_t row = w * bpp;
    uint8_t s = rd_u8(r);
    int64_t stride = s < 64 ? 0 : s < 128 ? row : s < 192 ? row + s % 16 : s < 224 ? row - 1 - s % 4 : rd_i32_special(r, -1000, 1000);
    if (stride > row + 64 && (im->height > 1 || !valid_dims)) stride = row + 64; /* a huge stride only with one row */
    im->stride = (int32_t)stride;
    int64_t ys = stride != 0 ? stride : row;
    int planar = im->format == ERI_PIXEL_NV12 || im->format == ERI_PIXEL_I420;
    int64_t h = valid_dims ? im->height : 1;
    int64_t cw = (w + 1) / 2, chh = (h + 1) / 2;
    int64_t crow = im->format == ERI_PIXEL_NV12 ? 2 * cw : cw;
    uint8_t c = rd_u8(r);
    int64_t cs = c < 128 ? 0 : c < 192 ? crow + c % 8 : crow - 1 - c % 3;
    im->chroma_stride = (int32_t)cs;
    if (cs == 0) cs = im->format == ERI_PIXEL_NV12 ? ys : (ys + 1) / 2;
    int separate = planar && (c & 1);
    /* One block: Y plane, then (if NULL chroma) U [and V] following, exactly as large as read. */
    int64_t y_bytes = ys > 0 && ys >= row ? ys * (h - 1) + row : row;
    int64_t total = y_bytes, u_off = 0, v_off = 0;
    int sane = ys >= row && cs >= crow;
    if (planar && sane && !separate) {
        u_off = ys * h;
        v_off = u_off + cs * chh;
        total = im->format == ERI_PIXEL_NV12 ? u_off + cs * (chh - 1) + crow : v_off + cs * (chh - 1) + crow;
        /* A huge stride on one row puts the following planes gigabytes away (a geometry liberi rightly
           accepts: the caller owns that memory): give them as separate planes instead. */
        if (total > (64 << 20)) { separate = 1; total = y_bytes; }
    }
    if (total < 1) total = 1;
    fi->block = malloc((size_t)total);
    for (int64_t i = 0; i < total; i++) fi->block[i] = (uint8_t)(i * 37 + shape);
    im->data = rd_u8(r) < 4 ? NULL : fi->block;
    if (planar && separate && sane) {
        /* Separate planes, each its own exact allocation, kept after the Y plane's in the block: the
           block is reallocated to hold them, so one free releases everything. */
        int64_t plane = cs * (chh - 1) + crow;
        uint8_t *b = realloc(fi->block, (size_t)(total + 2 * plane));
        fi->block = b;
        im->data = b;
        im->chroma = b + total;
        if (im->format == ERI_PIXEL_I420) im->chroma_v = b + total + plane;
    }
    if (rd_u8(r) < 96) {
        im->has_box = 1;
        uint8_t k = rd_u8(r);
        if (k < 32) {
            im->box_x = (float)rd_time(r, 1.0); im->box_y = (float)rd_time(r, 1.0);
            im->box_w = (float)rd_time(r, 1.0); im->box_h = (float)rd_time(r, 1.0);
        } else {
            im->box_x = (float)(int8_t)rd_u8(r); im->box_y = (float)(int8_t)rd_u8(r);
            im->box_w = (float)(1 + rd_u8(r) % 80); im->box_h = (float)(1 + rd_u8(r) % 80);
        }
    }
}

static void fuzz_image_free(fuzz_image *fi) { free(fi->block); }

#endif
