// SPDX-License-Identifier: MIT OR Apache-2.0
//
// A measurement aid, not part of eightfold: an LD_PRELOAD library that makes Debian's knotd
// 3.2.6 load the XDP program in the file named by KNOT_XDP_OBJECT (tools/xdp/knot-compat.bpf.o)
// instead of the one built into its libknot, which this machine's kernel refuses. libknot
// hands its embedded object to libbpf's bpf_object__open_mem through the dynamic linker,
// so this definition is the one it calls; it reads the file and calls libbpf's own function
// with it. Knot's binary and libraries stay as installed. docs/xdp-notes.md says why.
//
//   cc -shared -fPIC -O2 -o knot-preload.so tools/xdp/knot-preload.c -ldl
//   LD_PRELOAD=$PWD/knot-preload.so KNOT_XDP_OBJECT=$PWD/tools/xdp/knot-compat.bpf.o knotd -c knot.conf
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bpf_object;
struct bpf_object_open_opts;
typedef struct bpf_object *(*open_mem_fn)(const void *, size_t, const struct bpf_object_open_opts *);

// The object's bytes, read once; libbpf copies what it keeps, so they could go after the
// call, but knotd opens the object once per interface and a few KiB are not worth rereading.
static char *object;
static size_t object_size;

static int read_object(void) {
    const char *path = getenv("KNOT_XDP_OBJECT");
    if (path == NULL || *path == '\0') {
        fprintf(stderr, "knot-preload: set KNOT_XDP_OBJECT to the XDP object knotd should load "
                        "(tools/xdp/knot-compat.bpf.o)\n");
        return -EINVAL;
    }
    FILE *file = fopen(path, "rb");
    if (file == NULL) {
        int error = errno;
        fprintf(stderr, "knot-preload: cannot open KNOT_XDP_OBJECT %s: %s\n", path, strerror(error));
        return -error;
    }
    size_t capacity = 1 << 16;
    object = malloc(capacity);
    object_size = object == NULL ? 0 : fread(object, 1, capacity, file);
    int complete = object != NULL && feof(file) && !ferror(file);
    fclose(file);
    if (!complete) {
        fprintf(stderr, "knot-preload: cannot read KNOT_XDP_OBJECT %s (at most %zu bytes)\n", path, capacity);
        free(object);
        object = NULL;
        return -EIO;
    }
    return 0;
}

struct bpf_object *bpf_object__open_mem(const void *buffer, size_t size, const struct bpf_object_open_opts *opts) {
    (void)buffer;
    (void)size;
    open_mem_fn libbpf_open_mem = (open_mem_fn)dlsym(RTLD_NEXT, "bpf_object__open_mem");
    if (libbpf_open_mem == NULL) {
        fprintf(stderr, "knot-preload: libbpf's bpf_object__open_mem not found: %s\n", dlerror());
        errno = ENOENT;
        return NULL;
    }
    if (object == NULL) {
        int error = read_object();
        if (error != 0) {
            errno = -error;
            return NULL;
        }
    }
    fprintf(stderr, "knot-preload: libknot's XDP object replaced by KNOT_XDP_OBJECT (%zu bytes)\n", object_size);
    return libbpf_open_mem(object, object_size, opts);
}
