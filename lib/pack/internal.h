/* Internals of lib/pack: the sysroot, path helpers, ld.so.conf and the
 * static emulation of ld.so's library search (resolve.c), used by the plan
 * (pack.c). */
#ifndef HOIST_PACK_INTERNAL_H
#define HOIST_PACK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hoist/error.h"
#include "hoist/pack.h"

/* Bounds on what one program may pull in and on ld.so.conf. */
#define PACK_MAX_OBJECTS 4096
#define PACK_MAX_CONF_BYTES (1024 * 1024)
#define PACK_MAX_CONF_DEPTH 8
#define PACK_MAX_CONF_DIRS 1024
#define PACK_MAX_INCLUDES 1024
#define PACK_MAX_PATH 4096

/* The file system libraries are taken from. */
typedef struct pack_root {
	int fd;       /* O_PATH directory */
	char *path;   /* as given, for messages */
	bool is_host; /* "/": plain opens are equivalent */
} pack_root;

int pack_root_open(pack_root *rt, const char *sysroot, hoist_error **err);
void pack_root_release(pack_root *rt);
/* Opens absolute `path` resolved inside the root (symlinks, "..", absolute
 * links stay in it); in_root=false opens a plain host path.  Returns an fd
 * or -errno. */
int pack_root_open_file(const pack_root *rt, const char *path, bool in_root,
	int flags);
/* The host path of the file open at fd (symlinks resolved). */
int pack_fd_path(int fd, char **out, hoist_error **err);

/* Lexically normalised absolute path ("//", ".", ".." folded); NULL when p
 * is not absolute or out of memory. */
char *pack_path_normalise(const char *p);
/* a + "/" + b (one slash). NULL when out of memory. */
char *pack_path_join(const char *a, const char *b);
/* Directory part ("/" for "/x"). NULL when out of memory. */
char *pack_path_dirname(const char *p);

typedef struct pack_dirs {
	char **v;
	size_t n;
} pack_dirs;
void pack_dirs_release(pack_dirs *d);

/* The directories of /etc/ld.so.conf (comments, `include` globs relative to
 * the including file, trailing slashes dropped, duplicates dropped) in the
 * order ld.so.cache would find a library in them.  A missing file gives
 * no directories. */
int pack_ldconf_read(pack_dirs *out, const pack_root *rt, const char *conf,
	hoist_error **err);

typedef enum pack_via {
	PACK_VIA_PROGRAM = 0,
	PACK_VIA_INTERP,
	PACK_VIA_PATH,    /* DT_NEEDED with a '/' */
	PACK_VIA_RPATH,
	PACK_VIA_RUNPATH,
	PACK_VIA_CONF,    /* an ld.so.conf directory (ld.so.cache) */
	PACK_VIA_DEFAULT, /* a default directory */
} pack_via;

/* One loaded object of a program. */
typedef struct pack_obj {
	hoist_elf *elf;
	char *lookup;       /* path it was opened by (inside root when in_root) */
	bool in_root;
	char *display;      /* for messages: host path, sysroot prefixed */
	char *real;         /* host path of the regular file */
	char *image;        /* path in the image */
	char *origin;       /* $ORIGIN for lookups */
	char *image_origin; /* $ORIGIN in the image */
	char *name;         /* DT_NEEDED (PT_INTERP) that loaded it */
	size_t loader;      /* index of the object that first needed it */
	pack_via via;
	size_t dir_index;   /* CONF, DEFAULT: position in the search order */
} pack_obj;

/* What the search needs to know once per plan (all programs share an
 * architecture). */
typedef struct pack_search {
	const pack_root *rt;
	pack_dirs conf;
	pack_dirs defaults;
	char *lib;            /* $LIB: "lib/<multiarch>", "lib64" or "lib" */
	const char *platform; /* $PLATFORM, NULL when unknown */
	unsigned char elf_class, data;
	uint16_t machine;
	uint32_t float_abi;   /* ARM EF_ARM_ABI_FLOAT_* bits */
} pack_search;

int pack_search_init(pack_search *s, const pack_root *rt, const hoist_elf *prog,
	hoist_error **err);
void pack_search_release(pack_search *s);
/* Whether a library in image directory dir is found by the loader without
 * ld.so.cache (its built-in directories). */
bool pack_search_trusted(const pack_search *s, const pack_obj *interp,
	const char *dir);

/* All the objects one program loads: objs[0] the program, then breadth
 * first each library once; the interpreter apart. */
typedef struct pack_walk {
	pack_obj *objs;
	size_t n, cap;
	pack_obj interp; /* elf == NULL for a static program */
} pack_walk;

/* Resolves everything `binary` (host path, already read as prog, whose
 * image path is `image`) loads.  Takes ownership of prog. */
int pack_walk_run(pack_walk *w, const pack_search *s, const char *binary,
	hoist_elf *prog, const char *image, hoist_error **err);
void pack_walk_release(pack_walk *w);

#endif
