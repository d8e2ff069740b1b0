/*
 * Host test of liberi's C API from C99 (built with -std=c99 -Wall -Wextra -pedantic -Werror).
 *
 *     test_c BAD_DIR MODEL.eri...
 *
 * BAD_DIR holds the crafted files and manifest.txt of make_bad_models.py; the
 * MODEL files are good models from `eri init` (dbn-tiny, -video, -audio).
 * Prints one TAP line per check and exits non-zero if any failed.
 */
#define _GNU_SOURCE /* fork, setuid, setgroups, mkdtemp, pthread barriers */
#include <eri.h>

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int n_pass, n_fail;

/* Records one check; the format describes what went wrong when it fails. */
static int check(int ok, const char *name, const char *fmt, ...) {
    if (ok) {
        n_pass++;
        printf("ok %d - %s\n", n_pass + n_fail, name);
    } else {
        va_list ap;
        n_fail++;
        printf("not ok %d - %s: ", n_pass + n_fail, name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
    }
    fflush(stdout);
    return ok;
}

static int contains(const char *haystack, const char *needle) {
    return haystack != NULL && needle != NULL && strstr(haystack, needle) != NULL;
}

static int str_eq(const char *a, const char *b) { return a != NULL && b != NULL && strcmp(a, b) == 0; }

/* The sentinel that eri_model_open must overwrite with NULL on failure. */
static eri_model *sentinel(void) {
    static int dummy;
    return (eri_model *)(void *)&dummy;
}

/* Opens path expecting `expected`; checks the message holds `needle` (and the
   path when name_path is set) and that *out_model became NULL. */
static void expect_open_error(const char *name, const char *path, eri_status expected, const char *needle, int name_path) {
    eri_model *m = sentinel();
    eri_status s = eri_model_open(path, NULL, &m);
    const char *msg = eri_last_error();
    int ok = s == expected && m == NULL && contains(msg, needle) && (!name_path || contains(msg, path));
    check(ok, name, "status %d (expected %d), out_model %p, message \"%s\" (expected to contain \"%s\"%s%s)",
          (int)s, (int)expected, (void *)m, msg ? msg : "(NULL)", needle, name_path ? " and " : "", name_path ? path : "");
    if (s == ERI_OK) eri_model_close(m);
}

static long rss_bytes(void) {
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * sysconf(_SC_PAGESIZE);
}

static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = NULL;
    char buf[65536];
    size_t n;
    int ok = in != NULL && (out = fopen(to, "wb")) != NULL;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    if (in) fclose(in);
    if (out && fclose(out) != 0) ok = 0;
    return ok;
}

/* ---- version, names, statuses ---- */

static void test_static_strings(void) {
    char expected[64];
    static const char *const emotions[ERI_NUM_EMOTIONS] = {"Adoration", "Amusement", "Anxiety", "Disgust",
                                                           "Empathic-Pain", "Fear", "Surprise"};
    int i, ok = 1;
    snprintf(expected, sizeof expected, "%d.%d.%d", ERI_VERSION_MAJOR, ERI_VERSION_MINOR, ERI_VERSION_PATCH);
    check(str_eq(eri_version(), expected), "eri_version matches the header", "library \"%s\", header \"%s\"",
          eri_version() ? eri_version() : "(NULL)", expected);
    check(eri_version_number() == ERI_VERSION_NUMBER, "eri_version_number matches ERI_VERSION_NUMBER",
          "library %u, header %d", (unsigned)eri_version_number(), ERI_VERSION_NUMBER);

    for (i = ERI_OK; i <= ERI_ERR_INTERNAL; i++) {
        const char *s = eri_status_string((eri_status)i);
        if (s == NULL || s[0] == 0 || str_eq(s, "unknown status")) {
            ok = 0;
            printf("# eri_status_string(%d) = \"%s\"\n", i, s ? s : "(NULL)");
        }
    }
    check(ok, "eri_status_string names every status", "see above");
    check(str_eq(eri_status_string((eri_status)99), "unknown status") &&
              str_eq(eri_status_string((eri_status)-1), "unknown status"),
          "eri_status_string of unknown codes is \"unknown status\"", "99 → \"%s\", -1 → \"%s\"",
          eri_status_string((eri_status)99) ? eri_status_string((eri_status)99) : "(NULL)",
          eri_status_string((eri_status)-1) ? eri_status_string((eri_status)-1) : "(NULL)");

    ok = 1;
    for (i = 0; i < ERI_NUM_EMOTIONS; i++) {
        if (!str_eq(eri_emotion_name(i), emotions[i])) {
            ok = 0;
            printf("# eri_emotion_name(%d) = \"%s\", expected \"%s\"\n", i, eri_emotion_name(i) ? eri_emotion_name(i) : "(NULL)", emotions[i]);
        }
    }
    check(ok, "eri_emotion_name(0…6) in SPEC §1 order", "see above");
    check(eri_emotion_name(-1) == NULL && eri_emotion_name(7) == NULL && eri_emotion_name(INT32_MIN) == NULL &&
              eri_emotion_name(INT32_MAX) == NULL,
          "eri_emotion_name outside 0…6 is NULL", "got a name");
}

/* ---- argument checks ---- */

static void test_arguments(const char *good) {
    eri_model_options opts;
    eri_model *m = sentinel();
    eri_status s;

    s = eri_model_options_init(NULL);
    check(s == ERI_ERR_INVALID_ARGUMENT && eri_last_error()[0] != 0, "eri_model_options_init(NULL) is INVALID_ARGUMENT",
          "status %d, message \"%s\"", (int)s, eri_last_error());
    memset(&opts, 0xAB, sizeof opts);
    s = eri_model_options_init(&opts);
    check(s == ERI_OK && opts.struct_size == sizeof opts && opts.n_threads == 0, "eri_model_options_init fills defaults",
          "status %d, struct_size %u (sizeof %u), n_threads %d", (int)s, (unsigned)opts.struct_size, (unsigned)sizeof opts,
          (int)opts.n_threads);

    s = eri_model_open(NULL, NULL, &m);
    check(s == ERI_ERR_INVALID_ARGUMENT && m == NULL && eri_last_error()[0] != 0, "open with a NULL path is INVALID_ARGUMENT",
          "status %d, out %p, message \"%s\"", (int)s, (void *)m, eri_last_error());
    s = eri_model_open(good, NULL, NULL);
    check(s == ERI_ERR_INVALID_ARGUMENT && eri_last_error()[0] != 0, "open with a NULL out_model is INVALID_ARGUMENT",
          "status %d, message \"%s\"", (int)s, eri_last_error());

    eri_model_options_init(&opts);
    opts.struct_size = 0;
    m = sentinel();
    s = eri_model_open(good, &opts, &m);
    check(s == ERI_ERR_INVALID_ARGUMENT && m == NULL && contains(eri_last_error(), "struct_size"),
          "open with options->struct_size 0 is INVALID_ARGUMENT", "status %d, out %p, message \"%s\"", (int)s, (void *)m,
          eri_last_error());
    eri_model_options_init(&opts);
    opts.struct_size = (uint32_t)sizeof opts - 1;
    s = eri_model_open(good, &opts, &m);
    check(s == ERI_ERR_INVALID_ARGUMENT && m == NULL, "open with options->struct_size too small is INVALID_ARGUMENT",
          "status %d, message \"%s\"", (int)s, eri_last_error());
    eri_model_options_init(&opts);
    opts.n_threads = -1;
    s = eri_model_open(good, &opts, &m);
    check(s == ERI_ERR_INVALID_ARGUMENT && m == NULL && eri_last_error()[0] != 0, "open with n_threads -1 is INVALID_ARGUMENT",
          "status %d, message \"%s\"", (int)s, eri_last_error());

    eri_model_options_init(&opts);
    opts.n_threads = 2;
    m = NULL;
    s = eri_model_open(good, &opts, &m);
    check(s == ERI_OK && m != NULL && eri_last_error()[0] == 0, "open with n_threads 2 succeeds and clears the last error",
          "status %d, message \"%s\"", (int)s, eri_last_error());
    eri_model_close(m);

    eri_model_close(NULL);
    check(1, "eri_model_close(NULL) is a no-op", "");
}

/* ---- model info ---- */

static void test_info(const char *path) {
    char name[512];
    eri_model *m = NULL;
    eri_model_details info;
    eri_status s = eri_model_open(path, NULL, &m);
    snprintf(name, sizeof name, "open %s", path);
    if (!check(s == ERI_OK && m != NULL && eri_last_error()[0] == 0, name, "status %d, message \"%s\"", (int)s, eri_last_error()))
        return;

    memset(&info, 0, sizeof info);
    s = eri_model_get_info(m, &info);
    check(s == ERI_ERR_INVALID_ARGUMENT && contains(eri_last_error(), "struct_size"),
          "eri_model_info with struct_size 0 is INVALID_ARGUMENT", "status %d, message \"%s\"", (int)s, eri_last_error());
    s = eri_model_get_info(NULL, &info);
    check(s == ERI_ERR_INVALID_ARGUMENT, "eri_model_get_info(NULL model) is INVALID_ARGUMENT", "status %d", (int)s);
    s = eri_model_get_info(m, NULL);
    check(s == ERI_ERR_INVALID_ARGUMENT, "eri_model_get_info(NULL info) is INVALID_ARGUMENT", "status %d", (int)s);

    memset(&info, 0xCD, sizeof info);
    info.struct_size = sizeof info;
    s = eri_model_get_info(m, &info);
    snprintf(name, sizeof name, "eri_model_info %s", path);
    if (check(s == ERI_OK && info.preset != NULL && info.config_json != NULL, name, "status %d, message \"%s\"", (int)s,
              eri_last_error())) {
        int video_only = contains(info.preset, "-video"), audio_only = contains(info.preset, "-audio");
        int tiny = strncmp(info.preset, "dbn-tiny", 8) == 0;
        printf("# %s: preset %s, video %d, audio %d, frames %d, image %d px, channels %d, sample rate %d Hz, "
               "%llu parameters, config %u bytes, provenance \"%s\", metrics %s\n",
               path, info.preset, (int)info.has_video, (int)info.has_audio, (int)info.n_frames, (int)info.image_size,
               (int)info.n_channels, (int)info.sample_rate, (unsigned long long)info.n_parameters,
               (unsigned)strlen(info.config_json), info.provenance ? info.provenance : "(NULL)",
               info.metrics ? info.metrics : "(NULL)");
        check(info.struct_size == sizeof info, "info.struct_size is sizeof(eri_model_details)", "%u", (unsigned)info.struct_size);
        check(info.has_video == !audio_only && info.has_audio == !video_only, "info branches match the preset name",
              "preset %s, has_video %d, has_audio %d", info.preset, (int)info.has_video, (int)info.has_audio);
        check(info.has_video ? info.n_frames > 0 && info.image_size > 0 && (info.n_channels == 1 || info.n_channels == 3)
                             : info.n_frames == 0 && info.image_size == 0 && info.n_channels == 0,
              "info video fields agree with has_video", "frames %d, image %d, channels %d", (int)info.n_frames,
              (int)info.image_size, (int)info.n_channels);
        check(info.has_audio ? info.sample_rate > 0 : info.sample_rate == 0, "info sample_rate agrees with has_audio",
              "sample_rate %d", (int)info.sample_rate);
        if (tiny)
            check((!info.has_video || (info.n_frames == 8 && info.image_size == 48 && info.n_channels == 1)) &&
                      (!info.has_audio || info.sample_rate == 16000),
                  "info numbers are dbn-tiny's (SPEC §3)", "frames %d, image %d, channels %d, rate %d", (int)info.n_frames,
                  (int)info.image_size, (int)info.n_channels, (int)info.sample_rate);
        check(info.n_parameters > 0 && info.config_json[0] == '{' && strlen(info.config_json) > 100 &&
                  contains(info.config_json, "\"emotions\""),
              "info n_parameters and config_json are set", "n_parameters %llu, config \"%.60s\"",
              (unsigned long long)info.n_parameters, info.config_json);
        check(contains(info.provenance, "random initialisation") && info.metrics == NULL,
              "info provenance of an eri init model, no metrics", "provenance %s, metrics %s",
              info.provenance ? info.provenance : "(NULL)", info.metrics ? info.metrics : "(NULL)");
        check(info.random_weights == 1 && info.clip_seconds == 0, "info says random weights, no training clip length",
              "random_weights %d, clip_seconds %g", (int)info.random_weights, info.clip_seconds);
    }

    {   /* A caller built against liberi 0.1's header passes the struct without random_weights and clip_seconds:
           it is filled up to its size and not one byte further. */
        union { eri_model_details info; unsigned char bytes[sizeof(eri_model_details)]; } old;
        size_t v1 = offsetof(eri_model_details, random_weights), i, touched = 0;
        memset(&old, 0xCD, sizeof old);
        old.info.struct_size = (uint32_t)v1;
        s = eri_model_get_info(m, &old.info);
        for (i = v1; i < sizeof old; i++) touched += old.bytes[i] != 0xCD;
        check(s == ERI_OK && old.info.struct_size == v1 && old.info.preset != NULL && touched == 0,
              "eri_model_get_info fills a 0.1-sized struct and nothing past it", "status %d, struct_size %u of %u, %u bytes past it written",
              (int)s, (unsigned)old.info.struct_size, (unsigned)v1, (unsigned)touched);
        old.info.struct_size = (uint32_t)v1 - 4;
        s = eri_model_get_info(m, &old.info);
        check(s == ERI_ERR_INVALID_ARGUMENT, "a struct_size below 0.1's is INVALID_ARGUMENT", "status %d", (int)s);
    }

    {   /* The call's first name (deprecated: C++ cannot use it beside the struct's tag) keeps working. */
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
        struct eri_model_info same;
        memset(&same, 0, sizeof same);
        same.struct_size = sizeof same;
        s = eri_model_info(m, &same);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
        check(s == ERI_OK && same.n_parameters == info.n_parameters && same.preset == info.preset,
              "the deprecated eri_model_info still answers as eri_model_get_info", "status %d", (int)s);
    }

    {   /* A caller built against a newer header passes a bigger struct. */
        union { eri_model_details info; unsigned char bytes[sizeof(eri_model_details) + 64]; } big;
        memset(&big, 0, sizeof big);
        big.info.struct_size = sizeof big;
        s = eri_model_get_info(m, &big.info);
        check(s == ERI_OK && big.info.preset != NULL, "eri_model_info accepts a larger struct_size", "status %d, message \"%s\"",
              (int)s, eri_last_error());
    }
    eri_model_close(m);
}

/* ---- crafted bad files ---- */

static void test_manifest(const char *dir) {
    char manifest[1024], line[2048];
    FILE *f;
    int n = 0;
    snprintf(manifest, sizeof manifest, "%s/manifest.txt", dir);
    f = fopen(manifest, "r");
    if (!check(f != NULL, "read the bad-file manifest", "%s: %s", manifest, strerror(errno))) return;
    while (fgets(line, sizeof line, f)) {
        char *file = strtok(line, "\t"), *code = strtok(NULL, "\t"), *needle = strtok(NULL, "\n");
        char path[1536], name[1600];
        if (!file || !code || !needle) continue;
        snprintf(path, sizeof path, "%s/%s", dir, file);
        snprintf(name, sizeof name, "reject %s", file);
        expect_open_error(name, path, (eri_status)atoi(code), needle, 1);
        n++;
    }
    fclose(f);
    check(n >= 20, "the manifest lists every SPEC §2 case", "only %d cases", n);
}

static void test_io_errors(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/does-not-exist.eri", dir);
    expect_open_error("a missing file is ERI_ERR_IO", path, ERI_ERR_IO, "no such file", 1);
    expect_open_error("a directory is ERI_ERR_IO", dir, ERI_ERR_IO, "is a directory", 1);
    expect_open_error("/dev/null is ERI_ERR_IO", "/dev/null", ERI_ERR_IO, "not a regular file", 1);
    expect_open_error("an empty path is ERI_ERR_IO", "", ERI_ERR_IO, "", 0);
}

/* A file the process may not read: ERI_ERR_IO "permission denied". Root ignores
   file modes, so as root a child drops to nobody (65534) first. Must run before
   any thread is started (fork copies only the calling thread). */
static void test_permission(const char *good) {
    char dir[] = "/tmp/eri-perm-XXXXXX", path[256];
    if (!check(mkdtemp(dir) != NULL, "make a folder for the permission test", "%s", strerror(errno))) return;
    snprintf(path, sizeof path, "%s/locked.eri", dir);
    if (chmod(dir, 0755) != 0 || !copy_file(good, path) || chmod(path, 0000) != 0) {
        check(0, "make a mode-000 model file", "%s: %s", path, strerror(errno));
    } else if (geteuid() != 0) {
        expect_open_error("an unreadable file is ERI_ERR_IO \"permission denied\"", path, ERI_ERR_IO, "permission denied", 1);
    } else {
        pid_t pid;
        int wstatus = 0;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            eri_model *m = sentinel();
            eri_status s;
            if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(77);
            s = eri_model_open(path, NULL, &m);
            if (s == ERI_ERR_IO && m == NULL && contains(eri_last_error(), "permission denied") && contains(eri_last_error(), path))
                _exit(0);
            fprintf(stdout, "# child (uid 65534): status %d, message \"%s\"\n", (int)s, eri_last_error());
            fflush(stdout);
            _exit(1);
        }
        if (pid < 0 || waitpid(pid, &wstatus, 0) != pid) {
            check(0, "an unreadable file is ERI_ERR_IO \"permission denied\" (as nobody)", "fork: %s", strerror(errno));
        } else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 77) {
            n_pass++;
            printf("ok %d - an unreadable file is ERI_ERR_IO \"permission denied\" # SKIP cannot drop root privileges\n",
                   n_pass + n_fail);
        } else {
            check(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0,
                  "an unreadable file is ERI_ERR_IO \"permission denied\" (as nobody)", "child wait status %d", wstatus);
        }
    }
    unlink(path);
    rmdir(dir);
}

/* ---- thread-local last error ---- */

static pthread_barrier_t barrier;

struct thread_case {
    char path[256];
    const char *other;
    eri_status status;
    char seen[1024];
};

static void *thread_open(void *arg) {
    struct thread_case *c = arg;
    eri_model *m = NULL;
    c->status = eri_model_open(c->path, NULL, &m);
    pthread_barrier_wait(&barrier); /* both threads have failed before either reads */
    snprintf(c->seen, sizeof c->seen, "%s", eri_last_error());
    pthread_barrier_wait(&barrier);
    eri_model_close(m);
    return NULL;
}

static void test_thread_local_errors(const char *dir) {
    struct thread_case a, b;
    pthread_t ta, tb;
    char main_path[256];
    eri_model *m = NULL;
    snprintf(main_path, sizeof main_path, "%s/main-thread-missing.eri", dir);
    eri_model_open(main_path, NULL, &m);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    snprintf(a.path, sizeof a.path, "%s/thread-a-missing.eri", dir);
    snprintf(b.path, sizeof b.path, "%s", dir); /* a directory: another error */
    a.other = b.path;
    b.other = a.path;
    pthread_barrier_init(&barrier, NULL, 2);
    pthread_create(&ta, NULL, thread_open, &a);
    pthread_create(&tb, NULL, thread_open, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&barrier);
    check(a.status == ERI_ERR_IO && contains(a.seen, a.path) && contains(a.seen, "no such file"),
          "eri_last_error is thread-local (thread A sees its own error)", "status %d, message \"%s\"", (int)a.status, a.seen);
    check(b.status == ERI_ERR_IO && contains(b.seen, "is a directory") && !contains(b.seen, "thread-a"),
          "eri_last_error is thread-local (thread B sees its own error)", "status %d, message \"%s\"", (int)b.status, b.seen);
    check(contains(eri_last_error(), "main-thread-missing.eri"), "the main thread's last error survives other threads' errors",
          "message \"%s\"", eri_last_error());
}

/* ---- log callback ---- */

struct log_record {
    int calls;
    int bad_user_data;
    int32_t last_level;
    char last[512];
};

static struct log_record *log_expected_user_data;

static void on_log(int32_t level, const char *message, void *user_data) {
    struct log_record *r = log_expected_user_data;
    if (user_data != (void *)r) r->bad_user_data++;
    r->calls++;
    r->last_level = level;
    snprintf(r->last, sizeof r->last, "%s", message ? message : "(NULL)");
}

static void test_log_callback(const char *good, const char *dir) {
    struct log_record rec;
    eri_model *m = NULL;
    eri_status s;
    char missing[512];
    int after_error;
    memset(&rec, 0, sizeof rec);
    snprintf(missing, sizeof missing, "%s/log-missing.eri", dir);

    log_expected_user_data = &rec;
    eri_set_log_callback(on_log, &rec);
    s = eri_model_open(good, NULL, &m);
    check(s == ERI_OK && rec.calls == 0, "a successful open logs nothing (quiet by default)", "status %d, %d log calls, last \"%s\"",
          (int)s, rec.calls, rec.last);
    eri_model_close(m);
    eri_model_open(missing, NULL, &m);
    after_error = rec.calls;
    printf("# a failed open with a callback set: %d log call(s)%s%s\n", after_error, after_error ? ", last: " : "",
           after_error ? rec.last : "");
    if (after_error)
        check(rec.last_level >= ERI_LOG_ERROR && rec.last_level <= ERI_LOG_DEBUG && contains(rec.last, "log-missing.eri") &&
                  rec.bad_user_data == 0,
              "log messages carry a level, the error text and user_data", "level %d, message \"%s\", %d wrong user_data",
              (int)rec.last_level, rec.last, rec.bad_user_data);
    eri_set_log_callback(NULL, NULL);
    eri_model_open(missing, NULL, &m);
    check(rec.calls == after_error, "eri_set_log_callback(NULL) turns logging off", "%d calls after unsetting (%d before)",
          rec.calls, after_error);
}

/* ---- leak check ---- */

static void test_leaks(const char *good) {
    int i, failures = 0;
    long before, after;
    for (i = 0; i < 20; i++) { /* warm up the allocator and the runtime's caches */
        eri_model *m = NULL;
        if (eri_model_open(good, NULL, &m) != ERI_OK) failures++;
        eri_model_close(m);
    }
    before = rss_bytes();
    for (i = 0; i < 200; i++) {
        eri_model *m = NULL;
        eri_model_details info;
        if (eri_model_open(good, NULL, &m) != ERI_OK) failures++;
        info.struct_size = sizeof info;
        eri_model_get_info(m, &info);
        eri_model_close(m);
    }
    after = rss_bytes();
    printf("# RSS %.1f MB → %.1f MB over 200 open/info/close cycles\n", before / 1048576.0, after / 1048576.0);
    check(failures == 0 && before > 0 && after - before < 4L << 20, "200 open/close cycles grow RSS by < 4 MB (no leak)",
          "%d failures, RSS grew by %.1f MB", failures, (after - before) / 1048576.0);
}

int main(int argc, char **argv) {
    const char *bad_dir;
    int i;
    if (argc < 3) {
        fprintf(stderr, "usage: %s BAD_DIR MODEL.eri...\n", argv[0]);
        return 2;
    }
    bad_dir = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);

    test_static_strings();
    test_arguments(argv[2]);
    for (i = 2; i < argc; i++) test_info(argv[i]);
    test_manifest(bad_dir);
    test_io_errors(bad_dir);
    test_permission(argv[2]); /* before any thread exists */
    test_thread_local_errors(bad_dir);
    test_log_callback(argv[2], bad_dir);
    test_leaks(argv[2]);

    printf("1..%d\n# test_c: %d passed, %d failed\n", n_pass + n_fail, n_pass, n_fail);
    return n_fail ? 1 : 0;
}
