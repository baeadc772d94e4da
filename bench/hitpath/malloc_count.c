// LD_PRELOAD counter of heap allocations (malloc, calloc, realloc,
// aligned allocs; operator new ends in malloc) for bench/hitpath/probe.py.
// Every 50 ms a thread writes the running total to $MALLOC_COUNT_FILE.
// Build: cc -O2 -shared -fPIC -o malloc_count.so malloc_count.c -ldl -lpthread
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_ulong count;
extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);

void* malloc(size_t n) { atomic_fetch_add_explicit(&count, 1, memory_order_relaxed); return __libc_malloc(n); }
void* calloc(size_t a, size_t b) { atomic_fetch_add_explicit(&count, 1, memory_order_relaxed); return __libc_calloc(a, b); }
void* realloc(void* p, size_t n) { atomic_fetch_add_explicit(&count, 1, memory_order_relaxed); return __libc_realloc(p, n); }
void* memalign(size_t a, size_t n) { atomic_fetch_add_explicit(&count, 1, memory_order_relaxed); return __libc_memalign(a, n); }
void* aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
int posix_memalign(void** p, size_t a, size_t n) {
  *p = memalign(a, n);
  return *p ? 0 : 12;
}

static void* writer(void* path) {
  for (;;) {
    int fd = open((const char*)path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      char buf[32];
      int len = snprintf(buf, sizeof buf, "%lu\n", atomic_load(&count));
      if (write(fd, buf, (size_t)len) < 0) {}
      close(fd);
    }
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return NULL;
}

__attribute__((constructor)) static void start(void) {
  const char* path = getenv("MALLOC_COUNT_FILE");
  if (!path) return;
  pthread_t t;
  pthread_create(&t, NULL, writer, strdup(path));
  pthread_detach(t);
}
