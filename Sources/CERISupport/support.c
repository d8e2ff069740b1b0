#include "CERISupport.h"
#include <string.h>

static _Thread_local char last_error[4096];

void liberi_set_last_error(const char *message) {
    if (!message) {
        last_error[0] = 0;
        return;
    }
    size_t n = strlen(message);
    if (n >= sizeof last_error) n = sizeof last_error - 1;
    memcpy(last_error, message, n);
    last_error[n] = 0;
}

const char *liberi_last_error(void) { return last_error; }
