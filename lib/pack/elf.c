/* ELF reading for hoist pack: the program headers, PT_INTERP and the
 * dynamic section (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH, DT_FLAGS_1),
 * from ELF32 or ELF64 of either byte order.  The file comes from the user:
 * every read is a pread checked against the file size, and counts and
 * sizes have limits (HOIST_ELF_MAX_*), so a truncated or hostile file gives
 * an error, never a crash or a huge allocation. */
#include "hoist/pack.h"

#include <elf.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"

#ifndef EM_RISCV
#define EM_RISCV 243
#endif
#ifndef EM_LOONGARCH
#define EM_LOONGARCH 258
#endif
#ifndef DF_1_PIE
#define DF_1_PIE 0x08000000
#endif

/* Bytes read per step when looking for the end of a string. */
#define STR_CHUNK 256

typedef struct rd {
	int fd;
	uint64_t size;
	const char *name;
	bool swap; /* file byte order differs from ours */
	bool is64;
} rd;

/* A program header in host form. */
typedef struct phdr {
	uint32_t type;
	uint64_t offset, vaddr, filesz;
} phdr;

static int truncated(rd *r, const char *what, uint64_t off, uint64_t n,
	hoist_error **err)
{
	return hoist_error_set(err, HOIST_E_INVALID,
		"'%s': truncated ELF: %s (%" PRIu64 " bytes at offset %" PRIu64
		") extends past the end of the file (%" PRIu64 " bytes)",
		r->name, what, n, off, r->size);
}

static int read_at(rd *r, void *buf, size_t n, uint64_t off, const char *what,
	hoist_error **err)
{
	uint64_t end;
	if (__builtin_add_overflow(off, (uint64_t)n, &end) || end > r->size)
		return truncated(r, what, off, n, err);
	size_t done = 0;
	while (done < n) {
		ssize_t k = pread(r->fd, (char *)buf + done, n - done,
			(off_t)(off + done));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return hoist_error_errno(err, errno, "read '%s'", r->name);
		if (k == 0)
			return truncated(r, what, off, n, err);
		done += (size_t)k;
	}
	return 0;
}

static uint16_t g16(const rd *r, uint16_t v)
{
	return r->swap ? __builtin_bswap16(v) : v;
}
static uint32_t g32(const rd *r, uint32_t v)
{
	return r->swap ? __builtin_bswap32(v) : v;
}
static uint64_t g64(const rd *r, uint64_t v)
{
	return r->swap ? __builtin_bswap64(v) : v;
}

void hoist_elf_free(hoist_elf *e)
{
	if (!e)
		return;
	free(e->interp);
	free(e->soname);
	free(e->rpath);
	free(e->runpath);
	for (size_t i = 0; i < e->n_needed; i++)
		free(e->needed[i]);
	free(e->needed);
	free(e);
}
HOIST_DEFINE_CLEANUP(hoist_elf, hoist_elf_free)

static int not_elf(rd *r, const unsigned char *head, size_t n, hoist_error **err)
{
	if (n >= 2 && head[0] == '#' && head[1] == '!')
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': not an ELF executable (it is a '#!' script)", r->name);
	return hoist_error_set(err, HOIST_E_INVALID,
		"'%s': not an ELF executable", r->name);
}

/* The file offset of virtual address a, through the PT_LOAD that maps it
 * from the file; *avail gets the bytes of that mapping from a on. */
static int vaddr_to_offset(rd *r, const phdr *ph, size_t n, uint64_t a,
	uint64_t *off, uint64_t *avail, const char *what, hoist_error **err)
{
	for (size_t i = 0; i < n; i++) {
		if (ph[i].type != PT_LOAD)
			continue;
		uint64_t end;
		if (__builtin_add_overflow(ph[i].vaddr, ph[i].filesz, &end))
			continue;
		if (a < ph[i].vaddr || a >= end)
			continue;
		if (__builtin_add_overflow(ph[i].offset, a - ph[i].vaddr, off))
			break;
		*avail = end - a;
		return 0;
	}
	return hoist_error_set(err, HOIST_E_INVALID,
		"'%s': %s address 0x%" PRIx64 " is not in any loaded segment",
		r->name, what, a);
}

typedef struct strtab {
	uint64_t off, len;
} strtab;

/* The NUL-terminated string at index idx of the string table. */
static int read_string(rd *r, const strtab *st, uint64_t idx, const char *what,
	char **out, hoist_error **err)
{
	if (idx >= st->len)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': %s string offset %" PRIu64
			" is outside the string table (%" PRIu64 " bytes)",
			r->name, what, idx, st->len);
	uint64_t max = st->len - idx;
	if (max > HOIST_ELF_MAX_STRING)
		max = HOIST_ELF_MAX_STRING;
	_cleanup_free_ char *s = malloc((size_t)max + 1);
	if (!s)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	uint64_t got = 0;
	while (got < max) {
		size_t step = max - got < STR_CHUNK ? (size_t)(max - got) : STR_CHUNK;
		int rc = read_at(r, s + got, step, st->off + idx + got, what, err);
		if (rc < 0)
			return rc;
		char *nul = memchr(s + got, '\0', step);
		if (nul) {
			*out = strdup(s);
			return *out ? 0 : hoist_error_set(err, HOIST_E_NOMEM,
				"out of memory");
		}
		got += step;
	}
	if (max == HOIST_ELF_MAX_STRING && st->len - idx > max)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"'%s': %s string longer than %d bytes", r->name, what,
			HOIST_ELF_MAX_STRING);
	return hoist_error_set(err, HOIST_E_INVALID,
		"'%s': %s string is not terminated", r->name, what);
}

static int read_phdrs(rd *r, uint64_t phoff, uint16_t phentsize, uint16_t phnum,
	phdr **out, hoist_error **err)
{
	size_t ent = r->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	if (phnum == 0)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': ELF file has no program headers", r->name);
	if (phentsize != ent)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': program header size %u, expected %zu", r->name,
			phentsize, ent);
	/* PN_XNUM (0xffff) moves the count to section 0; the kernel refuses
	 * more than 64 KiB of program headers anyway. */
	size_t bytes = (size_t)phnum * ent;
	if (phnum == PN_XNUM || bytes > HOIST_ELF_MAX_PHDR_BYTES)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"'%s': %u program headers exceed the limit of %d bytes",
			r->name, phnum, HOIST_ELF_MAX_PHDR_BYTES);
	_cleanup_free_ unsigned char *raw = malloc(bytes);
	_cleanup_free_ phdr *ph = calloc(phnum, sizeof(*ph));
	if (!raw || !ph)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int rc = read_at(r, raw, bytes, phoff, "program headers", err);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < phnum; i++) {
		if (r->is64) {
			Elf64_Phdr p;
			memcpy(&p, raw + i * ent, sizeof(p));
			ph[i] = (phdr){ g32(r, p.p_type), g64(r, p.p_offset),
				g64(r, p.p_vaddr), g64(r, p.p_filesz) };
		} else {
			Elf32_Phdr p;
			memcpy(&p, raw + i * ent, sizeof(p));
			ph[i] = (phdr){ g32(r, p.p_type), g32(r, p.p_offset),
				g32(r, p.p_vaddr), g32(r, p.p_filesz) };
		}
	}
	*out = steal_ptr(&ph);
	return 0;
}

static int read_interp(rd *r, const phdr *p, hoist_elf *e, hoist_error **err)
{
	if (p->filesz == 0 || p->filesz > HOIST_ELF_MAX_INTERP)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': PT_INTERP of %" PRIu64 " bytes (expected 1 to %d)",
			r->name, p->filesz, HOIST_ELF_MAX_INTERP);
	_cleanup_free_ char *s = malloc((size_t)p->filesz + 1);
	if (!s)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int rc = read_at(r, s, (size_t)p->filesz, p->offset, "PT_INTERP", err);
	if (rc < 0)
		return rc;
	s[p->filesz] = '\0';
	/* The kernel refuses an interpreter path not ending in NUL. */
	if (s[p->filesz - 1] != '\0')
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': PT_INTERP is not terminated", r->name);
	if (s[0] != '/')
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': interpreter '%s' is not an absolute path", r->name, s);
	e->interp = steal_ptr(&s);
	return 0;
}

static int add_needed(rd *r, hoist_elf *e, char *name, size_t *cap,
	hoist_error **err)
{
	if (e->n_needed == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		char **n = realloc(e->needed, ncap * sizeof(*n));
		if (!n) {
			free(name);
			return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
		}
		e->needed = n;
		*cap = ncap;
	}
	e->needed[e->n_needed++] = name;
	return 0;
}

static int read_dynamic(rd *r, const phdr *ph, size_t n, const phdr *dyn,
	hoist_elf *e, hoist_error **err)
{
	size_t ent = r->is64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);
	if (dyn->filesz > HOIST_ELF_MAX_DYNAMIC)
		return hoist_error_set(err, HOIST_E_LIMIT,
			"'%s': dynamic section of %" PRIu64
			" bytes exceeds the limit of %d", r->name, dyn->filesz,
			HOIST_ELF_MAX_DYNAMIC);
	size_t count = (size_t)dyn->filesz / ent;
	if (count == 0)
		return 0;
	_cleanup_free_ unsigned char *raw = malloc(count * ent);
	if (!raw)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	int rc = read_at(r, raw, count * ent, dyn->offset, "dynamic section", err);
	if (rc < 0)
		return rc;

	/* The string offsets are collected first: DT_STRTAB may come after
	 * the entries that use it. */
	_cleanup_free_ uint64_t *needed = NULL;
	size_t n_needed = 0;
	bool have_strtab = false, have_strsz = false;
	bool have_soname = false, have_rpath = false, have_runpath = false;
	uint64_t strtab_addr = 0, strsz = 0, soname = 0, rpath = 0, runpath = 0;
	for (size_t i = 0; i < count; i++) {
		int64_t tag;
		uint64_t val;
		if (r->is64) {
			Elf64_Dyn d;
			memcpy(&d, raw + i * ent, sizeof(d));
			tag = (int64_t)g64(r, (uint64_t)d.d_tag);
			val = g64(r, d.d_un.d_val);
		} else {
			Elf32_Dyn d;
			memcpy(&d, raw + i * ent, sizeof(d));
			tag = (int32_t)g32(r, (uint32_t)d.d_tag);
			val = g32(r, d.d_un.d_val);
		}
		if (tag == DT_NULL)
			break;
		switch (tag) {
		case DT_NEEDED:
			if (n_needed == HOIST_ELF_MAX_NEEDED)
				return hoist_error_set(err, HOIST_E_LIMIT,
					"'%s': more than %d DT_NEEDED entries",
					r->name, HOIST_ELF_MAX_NEEDED);
			if (!needed) {
				/* at most count entries, bounded by the
				 * dynamic section size */
				needed = calloc(count, sizeof(*needed));
				if (!needed)
					return hoist_error_set(err, HOIST_E_NOMEM,
						"out of memory");
			}
			needed[n_needed++] = val;
			break;
		/* As glibc, a repeated tag replaces the earlier one. */
		case DT_STRTAB: strtab_addr = val; have_strtab = true; break;
		case DT_STRSZ: strsz = val; have_strsz = true; break;
		case DT_SONAME: soname = val; have_soname = true; break;
		case DT_RPATH: rpath = val; have_rpath = true; break;
		case DT_RUNPATH: runpath = val; have_runpath = true; break;
		case DT_FLAGS_1: e->flags_1 = val; break;
		default: break;
		}
	}
	if (!n_needed && !have_soname && !have_rpath && !have_runpath)
		return 0;
	if (!have_strtab)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': dynamic section has strings but no DT_STRTAB",
			r->name);
	strtab st;
	uint64_t avail = 0;
	rc = vaddr_to_offset(r, ph, n, strtab_addr, &st.off, &avail, "DT_STRTAB",
		err);
	if (rc < 0)
		return rc;
	st.len = have_strsz && strsz < avail ? strsz : avail;

	size_t cap = 0;
	for (size_t i = 0; i < n_needed; i++) {
		char *s = NULL;
		if ((rc = read_string(r, &st, needed[i], "DT_NEEDED", &s, err)) < 0)
			return rc;
		if (!*s) {
			free(s);
			return hoist_error_set(err, HOIST_E_INVALID,
				"'%s': empty DT_NEEDED name", r->name);
		}
		if ((rc = add_needed(r, e, s, &cap, err)) < 0)
			return rc;
	}
	if (have_soname &&
		(rc = read_string(r, &st, soname, "DT_SONAME", &e->soname, err)) < 0)
		return rc;
	if (have_rpath &&
		(rc = read_string(r, &st, rpath, "DT_RPATH", &e->rpath, err)) < 0)
		return rc;
	if (have_runpath &&
		(rc = read_string(r, &st, runpath, "DT_RUNPATH", &e->runpath, err)) < 0)
		return rc;
	return 0;
}

int hoist_elf_read_fd(hoist_elf **out, int fd, const char *name,
	hoist_error **err)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return hoist_error_errno(err, errno, "stat '%s'", name);
	if (!S_ISREG(st.st_mode))
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': not a regular file", name);
	rd r = { .fd = fd, .size = (uint64_t)st.st_size, .name = name };

	unsigned char head[sizeof(Elf64_Ehdr)];
	size_t hn = r.size < sizeof(head) ? (size_t)r.size : sizeof(head);
	int rc = read_at(&r, head, hn, 0, "ELF header", err);
	if (rc < 0)
		return rc;
	if (hn < SELFMAG || memcmp(head, ELFMAG, SELFMAG) != 0)
		return not_elf(&r, head, hn, err);
	if (hn < EI_NIDENT)
		return truncated(&r, "ELF header", 0, sizeof(Elf32_Ehdr), err);
	unsigned char cls = head[EI_CLASS], data = head[EI_DATA];
	if (cls != ELFCLASS32 && cls != ELFCLASS64)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': unknown ELF class %u", name, cls);
	if (data != ELFDATA2LSB && data != ELFDATA2MSB)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': unknown ELF byte order %u", name, data);
	if (head[EI_VERSION] != EV_CURRENT)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': unknown ELF version %u", name, head[EI_VERSION]);
	r.is64 = cls == ELFCLASS64;
#if __BYTE_ORDER == __LITTLE_ENDIAN
	r.swap = data != ELFDATA2LSB;
#else
	r.swap = data != ELFDATA2MSB;
#endif
	size_t ehsize = r.is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	if (hn < ehsize)
		return truncated(&r, "ELF header", 0, ehsize, err);

	_cleanup_(hoist_elf_freep) hoist_elf *e = calloc(1, sizeof(*e));
	if (!e)
		return hoist_error_set(err, HOIST_E_NOMEM, "out of memory");
	e->elf_class = cls;
	e->data = data;
	e->osabi = head[EI_OSABI];
	uint64_t phoff;
	uint16_t phentsize, phnum;
	if (r.is64) {
		Elf64_Ehdr h;
		memcpy(&h, head, sizeof(h));
		e->type = g16(&r, h.e_type);
		e->machine = g16(&r, h.e_machine);
		e->flags = g32(&r, h.e_flags);
		e->entry = g64(&r, h.e_entry);
		phoff = g64(&r, h.e_phoff);
		phentsize = g16(&r, h.e_phentsize);
		phnum = g16(&r, h.e_phnum);
	} else {
		Elf32_Ehdr h;
		memcpy(&h, head, sizeof(h));
		e->type = g16(&r, h.e_type);
		e->machine = g16(&r, h.e_machine);
		e->flags = g32(&r, h.e_flags);
		e->entry = g32(&r, h.e_entry);
		phoff = g32(&r, h.e_phoff);
		phentsize = g16(&r, h.e_phentsize);
		phnum = g16(&r, h.e_phnum);
	}
	if (e->type != ET_EXEC && e->type != ET_DYN)
		return hoist_error_set(err, HOIST_E_INVALID,
			"'%s': not an ELF executable or shared library (ELF type %u)",
			name, e->type);

	_cleanup_free_ phdr *ph = NULL;
	if ((rc = read_phdrs(&r, phoff, phentsize, phnum, &ph, err)) < 0)
		return rc;
	/* The first PT_INTERP and PT_DYNAMIC count, as for the kernel and
	 * ld.so. */
	const phdr *interp = NULL, *dyn = NULL;
	for (size_t i = 0; i < phnum; i++) {
		if (ph[i].type == PT_INTERP && !interp)
			interp = &ph[i];
		if (ph[i].type == PT_DYNAMIC && !dyn)
			dyn = &ph[i];
	}
	if (interp && (rc = read_interp(&r, interp, e, err)) < 0)
		return rc;
	if (dyn) {
		e->dynamic = true;
		if ((rc = read_dynamic(&r, ph, phnum, dyn, e, err)) < 0)
			return rc;
	}
	e->static_pie = e->type == ET_DYN && !e->interp && e->dynamic &&
		(e->flags_1 & DF_1_PIE);
	*out = steal_ptr(&e);
	return 0;
}

int hoist_elf_read(hoist_elf **out, const char *path, hoist_error **err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return hoist_error_errno(err, errno, "open '%s'", path);
	return hoist_elf_read_fd(out, fd, path, err);
}

const char *hoist_elf_architecture(const hoist_elf *e)
{
	bool is64 = e->elf_class == ELFCLASS64;
	bool le = e->data == ELFDATA2LSB;
	switch (e->machine) {
	case EM_X86_64: return is64 && le ? "amd64" : NULL;
	case EM_AARCH64: return is64 && le ? "arm64" : NULL;
	case EM_ARM: return !is64 && le ? "arm" : NULL;
	case EM_386: return !is64 && le ? "386" : NULL;
	case EM_RISCV: return is64 && le ? "riscv64" : NULL;
	case EM_PPC64: return !is64 ? NULL : le ? "ppc64le" : "ppc64";
	case EM_S390: return is64 && !le ? "s390x" : NULL;
	case EM_MIPS: return is64 ? (le ? "mips64le" : "mips64")
		: (le ? "mipsle" : "mips");
	case EM_LOONGARCH: return is64 && le ? "loong64" : NULL;
	default: return NULL;
	}
}
