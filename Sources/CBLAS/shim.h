// OpenBLAS's CBLAS interface. Debian ships it as cblas.h next to the
// openblas-pthread include folder that `pkg-config --cflags openblas` names.
#include <cblas.h>
