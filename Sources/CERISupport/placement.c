/* Where liberi's pool workers run (ERICore's WorkerPool). After the machine has been idle
   for a few milliseconds, Linux may wake a worker on the CPU of the thread that woke it,
   where the two then take turns for up to ~15 ms while another CPU idles, until the load
   balancer moves one (seen with perf sched on this project's 2-core machine: a 10 ms
   two-thread prediction took 17). A worker that finds itself on its caller's CPU steps off
   it: it leaves that CPU out of its affinity, which moves it at once to another CPU it may
   use, and puts its own mask back right away (it stays where it went until it sleeps). */
#define _GNU_SOURCE
#include "CERISupport.h"
#if defined(__linux__)
#include <sched.h>

int liberi_current_cpu(void) { return sched_getcpu(); }

int liberi_step_off_cpu(int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE || sched_getcpu() != cpu) return 0;
    cpu_set_t mine, others;
    if (sched_getaffinity(0, sizeof mine, &mine) != 0 || !CPU_ISSET(cpu, &mine)) return 0;
    others = mine;
    CPU_CLR(cpu, &others);
    if (CPU_COUNT(&others) == 0 || sched_setaffinity(0, sizeof others, &others) != 0) return 0;
    /* Put the mask back only if it is still the one set here: a host that changed this
       thread's affinity meanwhile (taskset -a -p) keeps its own. What is left is the
       microsecond between this check and the call. */
    cpu_set_t now;
    if (sched_getaffinity(0, sizeof now, &now) == 0 && CPU_EQUAL(&now, &others)) sched_setaffinity(0, sizeof mine, &mine);
    return 1;
}
#else
int liberi_current_cpu(void) { return -1; }
int liberi_step_off_cpu(int cpu) { (void)cpu; return 0; }
#endif
