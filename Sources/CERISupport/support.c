#include "CERISupport.h"
#include <string.h>

/* Per-thread text the API hands out "until the next liberi call on this thread". */
static _Thread_local char last_error[4096];
static _Thread_local char warning_text[4096];

static void copy_text(char *buffer, size_t size, const char *message) {
    if (!message) {
        buffer[0] = 0;
        return;
    }
    size_t n = strlen(message);
    if (n >= size) n = size - 1;
    memcpy(buffer, message, n);
    buffer[n] = 0;
}

void liberi_set_last_error(const char *message) { copy_text(last_error, sizeof last_error, message); }
const char *liberi_last_error(void) { return last_error; }
void liberi_set_warning_text(const char *message) { copy_text(warning_text, sizeof warning_text, message); }
const char *liberi_warning_text(void) { return warning_text; }
