/* malloc_count.so: counts heap calls of a process, for bench/syscalls.py.
 *
 *   cc -O2 -shared -fPIC -o malloc_count.so bench/malloc_count.c
 *   MALLOC_COUNT_FILE=/tmp/counts LD_PRELOAD=./malloc_count.so PROGRAM ...
 *
 * Wraps malloc, calloc, realloc, free, posix_memalign, aligned_alloc and
 * memalign (C++'s operator new and delete call these) and forwards to
 * glibc's __libc_* functions. The counters live in MALLOC_COUNT_FILE, mapped
 * shared, so a reader sees them at any moment without a signal, and a
 * process's forked children (nginx's workers) add to the same counters.
 * The file is an array of uint64 (see `enum`); bench/syscalls.py reads it.
 * Without MALLOC_COUNT_FILE the totals go to stderr at exit. Counting costs
 * one relaxed atomic add per call. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

enum { MAGIC, ALLOCS, CALLOCS, REALLOCS, FREES, ALIGNED, BYTES, NCOUNTERS };
#define MALLOC_COUNT_MAGIC 0x6d616c6c6f63636eULL /* "mallocc n" */

static _Atomic uint64_t early[NCOUNTERS];    /* before the constructor ran */
static _Atomic uint64_t *counters = early;

static inline void count(int which, size_t bytes) {
  atomic_fetch_add_explicit(&counters[which], 1, memory_order_relaxed);
  if (bytes)
    atomic_fetch_add_explicit(&counters[BYTES], bytes, memory_order_relaxed);
}

__attribute__((constructor)) static void malloc_count_init(void) {
  const char *path = getenv("MALLOC_COUNT_FILE");
  if (!path || !*path)
    return;
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ftruncate(fd, 4096) != 0) {
    if (fd >= 0)
      close(fd);
    return;
  }
  void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (m == MAP_FAILED)
    return;
  _Atomic uint64_t *shared = m;
  for (int i = 1; i < NCOUNTERS; ++i)
    atomic_store(&shared[i], atomic_load(&early[i]));
  atomic_store(&shared[MAGIC], MALLOC_COUNT_MAGIC);
  counters = shared;
}

__attribute__((destructor)) static void malloc_count_report(void) {
  if (counters != early)
    return;
  fprintf(stderr,
          "malloc_count: pid %d: malloc %llu calloc %llu realloc %llu free %llu aligned %llu bytes %llu\n",
          (int)getpid(), (unsigned long long)counters[ALLOCS], (unsigned long long)counters[CALLOCS],
          (unsigned long long)counters[REALLOCS], (unsigned long long)counters[FREES],
          (unsigned long long)counters[ALIGNED], (unsigned long long)counters[BYTES]);
}

void *malloc(size_t n) {
  count(ALLOCS, n);
  return __libc_malloc(n);
}

void *calloc(size_t n, size_t size) {
  count(CALLOCS, n * size);
  return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n) {
  count(REALLOCS, n);
  return __libc_realloc(p, n);
}

void free(void *p) {
  if (p)
    count(FREES, 0);
  __libc_free(p);
}

void *memalign(size_t align, size_t n) {
  count(ALIGNED, n);
  return __libc_memalign(align, n);
}

void *aligned_alloc(size_t align, size_t n) {
  return memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n) {
  void *p = memalign(align, n);
  if (!p)
    return 12; /* ENOMEM */
  *out = p;
  return 0;
}

void *valloc(size_t n) {
  return memalign((size_t)sysconf(_SC_PAGESIZE), n);
}
