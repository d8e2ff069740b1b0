#ifndef CERI_SUPPORT_H
#define CERI_SUPPORT_H
/* The public header's types (eri_image, eri_model_info, …) for the Swift façade. */
#include "../../../include/eri.h"

/* The thread-local message behind eri_last_error(): Swift has no thread-local
   storage class, C11 does. Messages longer than the buffer are cut. */
void liberi_set_last_error(const char *message);
const char *liberi_last_error(void);
/* The thread-local text behind eri_prediction.warning_text. */
void liberi_set_warning_text(const char *message);
const char *liberi_warning_text(void);
#endif
