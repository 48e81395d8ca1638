/*
 * Built into the Ceph 20 root by cephlab (cephlab/local/rootfs.py) and preloaded into
 * rbd-fuse only (cephlab/local/releases.py says why).
 *
 * rbd-fuse 20.2 initialises its string options (-c, -p, -r) to string literals; libfuse's
 * option parser frees an option's previous value before storing the new one, so giving any
 * of them makes rbd-fuse free a string literal and crash at start. This free() ignores
 * pointers into the program's own loaded image (where such literals live) and passes every
 * other pointer to the real free().
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>

static uintptr_t image_lo, image_hi;
static void (*next_free)(void *);

static int program_image(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (!image_lo || lo < image_lo)
            image_lo = lo;
        if (hi > image_hi)
            image_hi = hi;
    }
    return 1; /* the first object listed is the program itself */
}

__attribute__((constructor)) static void find_program_image(void)
{
    dl_iterate_phdr(program_image, NULL);
    next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
}

void free(void *ptr)
{
    uintptr_t at = (uintptr_t)ptr;
    if (ptr == NULL || (at >= image_lo && at < image_hi))
        return;
    if (!next_free)
        next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    next_free(ptr);
}
