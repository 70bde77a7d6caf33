/* Packing compiled programs with exactly the shared libraries they load
 * (`hoist pack BINARY... -t DST`).
 *
 * Two parts:
 *  - hoist_elf: what the kernel and the dynamic loader read from an ELF
 *    file (ELF32/ELF64, either byte order), read with bounded preads: every
 *    offset and size is checked against the file size, counts have limits.
 *  - hoist_pack_plan: decides, without running anything, the files of a
 *    minimal non-root image: the programs, their PT_INTERP, every library
 *    they load (resolved as glibc's ld.so would: RPATH, RUNPATH, $ORIGIN,
 *    /etc/ld.so.conf in ld.so.cache order, default directories), the CA
 *    bundle when asked, /etc/passwd, /etc/group, /etc/nsswitch.conf,
 *    /home/nonroot and /tmp; and the config values to set (entrypoint,
 *    user 65532:65532, env, platform).
 *
 * Libraries are stored as regular files (symlinks resolved) at the path the
 * loader looks them up by (the directory it found them in + the DT_NEEDED
 * name), the interpreter at its PT_INTERP path, so the image has no
 * dangling links.  No /etc/ld.so.cache goes in the image: libraries that
 * the host found only through ld.so.conf directories the loader does not
 * search by itself get LD_LIBRARY_PATH in the env; all others are found by
 * the loader's default directories or by the objects' own RPATH/RUNPATH.
 *
 * Not detected (nothing is run): libraries opened with dlopen (NSS modules
 * other than the built-in files/dns of glibc >= 2.34, gconv, plugins),
 * glibc-hwcaps and legacy hwcap subdirectories (the baseline library is
 * taken, which the loader also falls back to), relative RPATH entries. */
#ifndef HOIST_PACK_H
#define HOIST_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hoist/config.h"
#include "hoist/error.h"
#include "hoist/layer.h"
#include "hoist/media.h"

/* The user the image runs as (distroless "nonroot"). */
#define HOIST_PACK_UID 65532
#define HOIST_PACK_GID 65532

/* Limits on what an ELF file may claim. */
#define HOIST_ELF_MAX_PHDR_BYTES 65536     /* as the kernel's loader */
#define HOIST_ELF_MAX_DYNAMIC (1024 * 1024) /* bytes of PT_DYNAMIC */
#define HOIST_ELF_MAX_STRING 65536         /* one DT_NEEDED/RPATH string */
#define HOIST_ELF_MAX_NEEDED 4096
#define HOIST_ELF_MAX_INTERP 4096

typedef struct hoist_elf {
	unsigned char elf_class; /* ELFCLASS32 or ELFCLASS64 */
	unsigned char data;      /* ELFDATA2LSB or ELFDATA2MSB */
	unsigned char osabi;     /* EI_OSABI */
	uint16_t type;           /* ET_EXEC or ET_DYN (others are refused) */
	uint16_t machine;        /* EM_* */
	uint32_t flags;          /* e_flags (ARM float ABI) */
	uint64_t entry;          /* e_entry (0 in most shared libraries) */
	bool dynamic;            /* has PT_DYNAMIC */
	bool static_pie;         /* ET_DYN, no PT_INTERP, DF_1_PIE */
	char *interp;            /* PT_INTERP path, NULL when static */
	char *soname;            /* DT_SONAME, or NULL */
	char *rpath;             /* DT_RPATH as written (':' separated), or NULL */
	char *runpath;           /* DT_RUNPATH, or NULL */
	char **needed;           /* DT_NEEDED names, in file order */
	size_t n_needed;
	uint64_t flags_1;        /* DT_FLAGS_1 (DF_1_NODEFLIB, DF_1_PIE) */
} hoist_elf;

/* Reads the ELF headers of the file open at fd (not closed, read with
 * pread).  `name` names it in errors, e.g. "'./x': not an ELF executable",
 * "'./x': truncated ELF: ...".  Fails with HOIST_E_INVALID for malformed
 * input, HOIST_E_LIMIT for counts or sizes beyond the limits above. */
int hoist_elf_read_fd(hoist_elf **out, int fd, const char *name,
	hoist_error **err);
/* Same, opening path. */
int hoist_elf_read(hoist_elf **out, const char *path, hoist_error **err);
void hoist_elf_free(hoist_elf *e);

/* OCI architecture of the ELF ("amd64", "arm64", "arm", "386", "riscv64",
 * "ppc64le", "s390x", ...), a static string, or NULL when hoist does not
 * know the machine/class/byte order combination. */
const char *hoist_elf_architecture(const hoist_elf *e);

typedef struct hoist_pack_opts {
	/* Root of the file system the libraries, ld.so.conf and the CA bundle
	 * are taken from; every path is resolved inside it (absolute symlinks
	 * too; openat2 RESOLVE_IN_ROOT, so a root other than the host's needs
	 * Linux >= 5.6).  NULL: "/".  The binaries themselves are host paths.
	 * Copying needs /proc (the host path of each file opened in the
	 * root). */
	const char *sysroot;
	/* Image directory of the binaries; NULL: "/usr/local/bin", which is on
	 * the PATH of every image, so each packed program can be run by name
	 * (`docker run IMG other-tool`) and the PATH needs no edit.  Another
	 * directory is prepended to PATH. */
	const char *bin_dir;
	/* Adds the CA bundle at /etc/ssl/certs/ca-certificates.crt and sets
	 * SSL_CERT_FILE (OpenSSL's default path, /usr/lib/ssl/cert.pem on
	 * Debian, is not in the image).  Missing bundle: HOIST_E_NOTFOUND. */
	bool ca_certs;
	/* Host path of the bundle; NULL: /etc/ssl/certs/ca-certificates.crt
	 * inside sysroot. */
	const char *ca_file;
	/* Leave out the 0755 entries for parent directories (/usr, /usr/lib,
	 * ...).  For layers on a base image, whose directories may be symlinks
	 * (merged /usr: /lib -> usr/lib) that a directory entry would replace. */
	bool no_parent_dirs;
	/* Leave out /etc/passwd, /etc/group, /etc/nsswitch.conf, /home/nonroot
	 * and /tmp (a base image that has its own). */
	bool no_user_files;
} hoist_pack_opts;

void hoist_pack_opts_init(hoist_pack_opts *o);

typedef enum hoist_pack_kind {
	HOIST_PACK_BINARY = 0, /* a program given by the caller */
	HOIST_PACK_INTERP,     /* a PT_INTERP (the dynamic loader) */
	HOIST_PACK_LIBRARY,    /* a DT_NEEDED, transitively */
	HOIST_PACK_FILE,       /* another host file (the CA bundle) */
	HOIST_PACK_DATA,       /* generated content (passwd, group, ...) */
	HOIST_PACK_DIR,        /* a directory */
} hoist_pack_kind;

/* One entry of the image; all pointers are owned by the plan. */
typedef struct hoist_pack_entry {
	hoist_pack_kind kind;
	const char *path;      /* absolute, normalised path in the image */
	/* BINARY, INTERP, LIBRARY, FILE: host path of the regular file to
	 * copy (symlinks resolved); NULL for DATA and DIR. */
	const char *host_path;
	const char *data;      /* DATA: the content (len bytes) */
	size_t len;
	/* DATA, DIR: permission bits; files: 0 (keep the host file's). */
	mode_t mode;
	/* Wanted owner: 0:0 except /home/nonroot (65532:65532, 0700). */
	uint32_t uid, gid;
	/* LIBRARY: the DT_NEEDED name; INTERP: the PT_INTERP string. */
	const char *name;
	/* LIBRARY, INTERP: the object that first needed it (host path). */
	const char *needed_by;
} hoist_pack_entry;

/* What the image config should say.  Borrowed from the plan. */
typedef struct hoist_pack_config {
	hoist_platform platform;        /* os "linux", architecture from ELF */
	const char *user;               /* "65532:65532" */
	const char *const *entrypoint;  /* { path of the first binary } */
	size_t n_entrypoint;
	const char *const *env;         /* "PATH=...", then LD_LIBRARY_PATH=,
	                                   SSL_CERT_FILE= when needed */
	size_t n_env;
} hoist_pack_config;

typedef struct hoist_pack_plan hoist_pack_plan;

/* Plans the image of the n binaries (host paths; the first is the
 * entrypoint).  All must be Linux ELF executables of the same architecture
 * (dynamic, static or static-pie).  Each program's libraries are resolved
 * on their own (as in its own process); two programs needing different
 * files at one image path is an error.  Entries come in a deterministic order:
 * the binaries (in the order given), the interpreters, the libraries
 * (sorted by path), the CA bundle, /etc/passwd, /etc/group,
 * /etc/nsswitch.conf, /home/nonroot, /tmp; each parent directory comes
 * once, right before the first entry under it.  Errors name the file:
 * "library 'libx.so.1' needed by '/src/app': not found", "'./x': not an ELF
 * executable", "'b': architecture 'arm64' differs from 'amd64' of 'a'". */
int hoist_pack_plan_new(hoist_pack_plan **out, const char *const *binaries,
	size_t n, const hoist_pack_opts *o, hoist_error **err);
void hoist_pack_plan_free(hoist_pack_plan *p);

size_t hoist_pack_plan_size(const hoist_pack_plan *p);
/* i-th entry (borrowed), NULL when out of range. */
const hoist_pack_entry *hoist_pack_plan_entry(const hoist_pack_plan *p,
	size_t i);
/* Borrowed; valid as long as the plan. */
const hoist_pack_config *hoist_pack_plan_config(const hoist_pack_plan *p);

/* Sets platform, entrypoint, user and env (replacing those keys) in c. */
int hoist_pack_plan_apply_config(const hoist_pack_plan *p, hoist_config *c,
	hoist_error **err);

/* Writes every entry into w, in plan order.  The layer writer gives every
 * entry the one owner of its options (0:0 by default), so /home/nonroot,
 * which should be 65532's with mode 0700, is written 01777 (sticky and
 * writable by all, like /tmp) for the non-root user to own its home. */
int hoist_pack_plan_write_layer(const hoist_pack_plan *p,
	hoist_layer_writer *w, hoist_error **err);

#endif
