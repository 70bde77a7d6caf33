/* hoist pack: ELF reading, library resolution, the plan, and the proof
 * that matters: the planned files, put in an empty root, run the programs
 * as uid 65532 under chroot.
 *
 * The programs are compiled at test time with the host's cc into a
 * temporary directory (group setup); the host's own loader
 * (LD_TRACE_LOADED_OBJECTS) is the reference for what must be found. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hoist/config.h"
#include "hoist/error.h"
#include "hoist/io.h"
#include "hoist/layer.h"
#include "hoist/media.h"
#include "hoist/pack.h"
#include "pack/internal.h"
#include "util/cleanup.h"

typedef struct fixture {
	char dir[256];
	bool have_static_pie;
} fixture;

static fixture fx;

static char *tpath(const char *rel)
{
	char *s = NULL;
	assert_true(asprintf(&s, "%s/%s", fx.dir, rel) > 0);
	return s;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = NULL;
	int n = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	int rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

/* Runs cmd, returns its exit status (or -1) and output in *out. */
static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = NULL;
	int n = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	FILE *f = popen(cmd, "r");
	free(cmd);
	if (!f)
		return -1;
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	size_t k;
	while (buf && (k = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += k;
		if (cap - len < 2) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	int st = pclose(f);
	if (buf)
		buf[len] = '\0';
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int write_file(const char *path, const char *content, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	size_t n = strlen(content);
	int rc = write(fd, content, n) == (ssize_t)n ? 0 : -1;
	close(fd);
	return rc;
}

static const char dyn_c[] =
	"#include <math.h>\n#include <stdio.h>\n#include <stdlib.h>\n"
	"#include <unistd.h>\n"
	"int main(int argc, char **argv) {\n"
	"  double x = argc > 1 ? strtod(argv[1], NULL) : 0.0;\n"
	"  printf(\"cos=%.3f uid=%u\\n\", cos(x), (unsigned)getuid());\n"
	"  for (int i = 2; i < argc; i++) {\n"
	"    FILE *f = fopen(argv[i], \"w\");\n"
	"    printf(\"write %s=%s\\n\", argv[i], f && fputs(\"x\", f) >= 0 &&\n"
	"      fclose(f) == 0 ? \"ok\" : \"failed\");\n"
	"  }\n"
	"  return 0;\n}\n";

static int group_setup(void **state)
{
	(void)state;
	const char *tmp = getenv("TMPDIR");
	snprintf(fx.dir, sizeof(fx.dir), "%s/hoist-pack-XXXXXX",
		tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(fx.dir))
		return -1;
	const char *d = fx.dir;
	char p[512];
	snprintf(p, sizeof(p), "%s/dyn.c", d);
	if (write_file(p, dyn_c, 0644) < 0)
		return -1;
	snprintf(p, sizeof(p), "%s/foo.c", d);
	write_file(p, "int foo(void) { return 42; }\n", 0644);
	snprintf(p, sizeof(p), "%s/usefoo.c", d);
	write_file(p, "#include <stdio.h>\nint foo(void);\n"
		"int main(void) { printf(\"foo=%d\\n\", foo()); return 0; }\n", 0644);
	snprintf(p, sizeof(p), "%s/baz.c", d);
	write_file(p, "int baz(void) { return 7; }\n", 0644);
	snprintf(p, sizeof(p), "%s/mid.c", d);
	write_file(p, "int baz(void);\nint mid(void) { return baz() * 6; }\n", 0644);
	snprintf(p, sizeof(p), "%s/usemid.c", d);
	write_file(p, "#include <stdio.h>\nint mid(void);\n"
		"int main(void) { printf(\"mid=%d\\n\", mid()); return 0; }\n", 0644);
	snprintf(p, sizeof(p), "%s/bar.c", d);
	write_file(p, "int bar(void) { return 1; }\n", 0644);
	snprintf(p, sizeof(p), "%s/usebar.c", d);
	write_file(p, "int bar(void);\nint main(void) { return bar(); }\n", 0644);
	snprintf(p, sizeof(p), "%s/my.c", d);
	write_file(p, "int my(void) { return 5; }\n", 0644);
	snprintf(p, sizeof(p), "%s/usemy.c", d);
	write_file(p, "#include <stdio.h>\nint my(void);\n"
		"int main(void) { printf(\"my=%d\\n\", my()); return 0; }\n", 0644);
	snprintf(p, sizeof(p), "%s/script.sh", d);
	write_file(p, "#!/bin/sh\necho hi\n", 0755);
	snprintf(p, sizeof(p), "%s/empty", d);
	write_file(p, "", 0755);

	if (sh("cd '%s' && cc -O1 -o dyn dyn.c -lm", d) < 0 ||
		sh("cd '%s' && cc -O1 -static -o static dyn.c -lm", d) < 0 ||
		sh("cd '%s' && mkdir -p bin lib lib2 sub && "
			"cc -shared -fPIC -o lib/libfoo.so.1.0 -Wl,-soname,libfoo.so.1 foo.c && "
			"ln -s libfoo.so.1.0 lib/libfoo.so.1 && ln -s libfoo.so.1 lib/libfoo.so && "
			"cc -o bin/usefoo usefoo.c -Llib -lfoo "
			"-Wl,--enable-new-dtags,-rpath,'$ORIGIN/../lib'", d) < 0 ||
		/* libmid needs libbaz and has no search path of its own: found
		 * through the program's DT_RPATH (inherited), not its RUNPATH */
		sh("cd '%s' && cc -shared -fPIC -o lib2/libbaz.so -Wl,-soname,libbaz.so baz.c && "
			"cc -shared -fPIC -o lib2/libmid.so -Wl,-soname,libmid.so mid.c -Llib2 -lbaz && "
			"cc -o bin/usemid usemid.c -Llib2 -lmid -Wl,-rpath-link,lib2 "
			"-Wl,--disable-new-dtags,-rpath,'$ORIGIN/../lib2' && "
			"cc -o bin/usemid_runpath usemid.c -Llib2 -lmid -Wl,-rpath-link,lib2 "
			"-Wl,--enable-new-dtags,-rpath,'$ORIGIN/../lib2'", d) < 0 ||
		sh("cd '%s' && cc -shared -fPIC -o libbar.so bar.c && "
			"cc -o usebar usebar.c -L. -lbar && rm libbar.so", d) < 0 ||
		sh("cd '%s' && cc -shared -fPIC -o libmy.so -Wl,-soname,libmy.so my.c && "
			"cc -o usemy usemy.c -L. -lmy && cp dyn sub/dyn", d) < 0)
		return -1;
	/* $LIB and $PLATFORM as this host's loader expands them (x86-64
	 * Debian: lib/x86_64-linux-gnu, x86_64), and a DT_NEEDED that is an
	 * absolute path (a library without SONAME linked by its path) */
	if (sh("cd '%s' && mkdir -p dst/bin dst/lib/x86_64-linux-gnu/x86_64 abs && "
		"cp lib/libfoo.so.1.0 dst/lib/x86_64-linux-gnu/x86_64/libfoo.so.1 && "
		"cc -o dst/bin/usefoo usefoo.c -Llib -lfoo "
		"-Wl,--enable-new-dtags,-rpath,'$ORIGIN/../$LIB/${PLATFORM}' && "
		"cc -shared -fPIC -o abs/libabs.so bar.c && "
		"cc -o useabs usebar.c '%s/abs/libabs.so'", d, d) < 0)
		return -1;
	fx.have_static_pie = sh("cd '%s' && cc -O1 -static-pie -fPIE -o spie dyn.c "
		"-lm 2>/dev/null", d) == 0;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (fx.dir[0])
		sh("rm -rf '%s'", fx.dir);
	return 0;
}

static hoist_pack_plan *plan_of(const char *const *bins, size_t n,
	const hoist_pack_opts *o)
{
	hoist_pack_plan *p = NULL;
	hoist_error *err = NULL;
	int rc = hoist_pack_plan_new(&p, bins, n, o, &err);
	if (rc < 0)
		fail_msg("plan: %s", err->msg);
	assert_null(err);
	return p;
}

static char *plan_error(const char *const *bins, size_t n,
	const hoist_pack_opts *o)
{
	hoist_pack_plan *p = NULL;
	hoist_error *err = NULL;
	int rc = hoist_pack_plan_new(&p, bins, n, o, &err);
	assert_true(rc < 0);
	assert_null(p);
	assert_non_null(err);
	assert_int_equal(-rc, err->code);
	char *m = strdup(err->msg);
	hoist_error_free(err);
	return m;
}

static const hoist_pack_entry *entry_at(const hoist_pack_plan *p,
	const char *path)
{
	for (size_t i = 0; i < hoist_pack_plan_size(p); i++)
		if (!strcmp(hoist_pack_plan_entry(p, i)->path, path))
			return hoist_pack_plan_entry(p, i);
	return NULL;
}

static size_t count_kind(const hoist_pack_plan *p, hoist_pack_kind k)
{
	size_t n = 0;
	for (size_t i = 0; i < hoist_pack_plan_size(p); i++)
		n += hoist_pack_plan_entry(p, i)->kind == k;
	return n;
}

static const char *env_of(const hoist_pack_plan *p, const char *key)
{
	const hoist_pack_config *c = hoist_pack_plan_config(p);
	size_t k = strlen(key);
	for (size_t i = 0; i < c->n_env; i++)
		if (!strncmp(c->env[i], key, k) && c->env[i][k] == '=')
			return c->env[i] + k + 1;
	return NULL;
}

/* Every file of the plan is a regular host file (no links in the image),
 * parents come before children, and every path is absolute. */
static void check_well_formed(const hoist_pack_plan *p)
{
	for (size_t i = 0; i < hoist_pack_plan_size(p); i++) {
		const hoist_pack_entry *e = hoist_pack_plan_entry(p, i);
		assert_true(e->path[0] == '/');
		if (e->host_path) {
			struct stat st;
			assert_int_equal(lstat(e->host_path, &st), 0);
			assert_true(S_ISREG(st.st_mode));
		}
		char *dir = pack_path_dirname(e->path);
		if (strcmp(dir, "/") != 0) {
			bool before = false;
			for (size_t k = 0; k < i; k++)
				before |= !strcmp(hoist_pack_plan_entry(p, k)->path, dir) &&
					hoist_pack_plan_entry(p, k)->kind == HOIST_PACK_DIR;
			if (!before)
				fail_msg("'%s' comes before its directory", e->path);
		}
		free(dir);
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(hoist_pack_plan_entry(p, k)->path,
				e->path);
	}
}

static void test_elf_real(void **state)
{
	(void)state;
	_cleanup_free_ char *dyn = tpath("dyn"), *st = tpath("static");
	hoist_elf *e = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_elf_read(&e, dyn, &err), 0);
	assert_true(e->dynamic);
	assert_false(e->static_pie);
	assert_non_null(e->interp);
	assert_true(e->interp[0] == '/');
	bool libc = false, libm = false;
	for (size_t i = 0; i < e->n_needed; i++) {
		libc |= !strcmp(e->needed[i], "libc.so.6");
		libm |= !strcmp(e->needed[i], "libm.so.6");
	}
	assert_true(libc && libm);
	hoist_platform host = { 0 };
	assert_int_equal(hoist_platform_host(&host, NULL), 0);
	assert_non_null(hoist_elf_architecture(e));
	assert_string_equal(hoist_elf_architecture(e), host.architecture);
	hoist_platform_release(&host);
	hoist_elf_free(e);

	assert_int_equal(hoist_elf_read(&e, st, &err), 0);
	assert_null(e->interp);
	assert_int_equal(e->n_needed, 0);
	assert_false(e->static_pie);
	hoist_elf_free(e);

	if (fx.have_static_pie) {
		_cleanup_free_ char *spie = tpath("spie");
		assert_int_equal(hoist_elf_read(&e, spie, &err), 0);
		assert_null(e->interp);
		assert_true(e->dynamic);
		assert_true(e->static_pie);
		assert_int_equal(e->n_needed, 0);
		hoist_elf_free(e);
	}

	_cleanup_free_ char *foo = tpath("bin/usefoo");
	assert_int_equal(hoist_elf_read(&e, foo, &err), 0);
	assert_string_equal(e->runpath, "$ORIGIN/../lib");
	assert_null(e->rpath);
	hoist_elf_free(e);
	_cleanup_free_ char *mid = tpath("bin/usemid");
	assert_int_equal(hoist_elf_read(&e, mid, &err), 0);
	assert_string_equal(e->rpath, "$ORIGIN/../lib2");
	assert_null(e->runpath);
	hoist_elf_free(e);
	_cleanup_free_ char *lib = tpath("lib/libfoo.so.1");
	assert_int_equal(hoist_elf_read(&e, lib, &err), 0);
	assert_string_equal(e->soname, "libfoo.so.1");
	assert_int_equal(e->type, ET_DYN);
	hoist_elf_free(e);
	assert_null(err);
}

static void test_elf_not_elf(void **state)
{
	(void)state;
	_cleanup_free_ char *script = tpath("script.sh"), *empty = tpath("empty");
	hoist_elf *e = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_elf_read(&e, script, &err), -HOIST_E_INVALID);
	assert_null(e);
	_cleanup_free_ char *want = NULL;
	assert_true(asprintf(&want, "'%s': not an ELF executable (it is a '#!' script)",
		script) > 0);
	assert_string_equal(err->msg, want);
	hoist_error_freep(&err);
	assert_int_equal(hoist_elf_read(&e, empty, &err), -HOIST_E_INVALID);
	assert_non_null(strstr(err->msg, "not an ELF executable"));
	hoist_error_freep(&err);
	assert_int_equal(hoist_elf_read(&e, fx.dir, &err), -HOIST_E_INVALID);
	assert_non_null(strstr(err->msg, "not a regular file"));
	hoist_error_freep(&err);

	/* through the plan */
	const char *bins[] = { script };
	_cleanup_free_ char *m = plan_error(bins, 1, NULL);
	assert_non_null(strstr(m, "not an ELF executable"));
	assert_non_null(strstr(m, script));
}

/* A synthetic ELF of any class and byte order: PT_INTERP, PT_LOAD,
 * PT_DYNAMIC with two DT_NEEDED, DT_RUNPATH, DT_SONAME. */
typedef struct synth {
	unsigned char b[0x400];
	bool is64, be;
} synth;

static void put(synth *s, size_t off, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		s->b[off + (size_t)(s->be ? n - 1 - i : i)] = (unsigned char)(v >> (8 * i));
}

enum { S_INTERP = 0x100, S_STR = 0x200, S_DYN = 0x300, S_BASE = 0x10000 };
static const char synth_str[] = "\0libc.so.6\0libm.so.6\0/opt/$ORIGIN/lib\0libx.so.2";

static void synth_make(synth *s, bool is64, bool be, uint16_t machine,
	uint32_t flags)
{
	memset(s, 0, sizeof(*s));
	s->is64 = is64;
	s->be = be;
	memcpy(s->b, ELFMAG, SELFMAG);
	s->b[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
	s->b[EI_DATA] = be ? ELFDATA2MSB : ELFDATA2LSB;
	s->b[EI_VERSION] = EV_CURRENT;
	int w = is64 ? 8 : 4;
	size_t ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	put(s, 16, ET_EXEC, 2);
	put(s, 18, machine, 2);
	put(s, 20, EV_CURRENT, 4);
	put(s, 24, S_BASE + 0x80, w);            /* e_entry */
	put(s, 24 + w, ehsize, w);               /* e_phoff */
	put(s, 24 + 3 * (size_t)w, flags, 4);    /* e_flags */
	size_t h = 24 + 3 * (size_t)w + 4;
	put(s, h, ehsize, 2);
	put(s, h + 2, phsize, 2);
	put(s, h + 4, 3, 2);                     /* e_phnum */

	static const char interp[] = "/lib/ld-test.so.1";
	memcpy(s->b + S_INTERP, interp, sizeof(interp));
	memcpy(s->b + S_STR, synth_str, sizeof(synth_str));
	struct {
		uint32_t type;
		uint64_t off, filesz;
	} ph[3] = {
		{ PT_INTERP, S_INTERP, sizeof(interp) },
		{ PT_LOAD, 0, sizeof(s->b) },
		{ PT_DYNAMIC, S_DYN, 8 * 2 * (uint64_t)w },
	};
	for (size_t i = 0; i < 3; i++) {
		size_t o = ehsize + i * phsize;
		put(s, o, ph[i].type, 4);
		if (is64) {
			put(s, o + 8, ph[i].off, 8);
			put(s, o + 16, S_BASE + ph[i].off, 8);
			put(s, o + 32, ph[i].filesz, 8);
		} else {
			put(s, o + 4, ph[i].off, 4);
			put(s, o + 8, S_BASE + ph[i].off, 4);
			put(s, o + 16, ph[i].filesz, 4);
		}
	}
	uint64_t dyn[][2] = {
		{ DT_NEEDED, 1 }, { DT_NEEDED, 11 }, { DT_RUNPATH, 21 },
		{ DT_SONAME, 38 }, { DT_STRTAB, S_BASE + S_STR },
		{ DT_STRSZ, sizeof(synth_str) }, { DT_FLAGS_1, DF_1_NODEFLIB },
		{ DT_NULL, 0 },
	};
	for (size_t i = 0; i < 8; i++) {
		put(s, S_DYN + i * 2 * (size_t)w, dyn[i][0], w);
		put(s, S_DYN + i * 2 * (size_t)w + (size_t)w, dyn[i][1], w);
	}
}

static int synth_write(const synth *s, size_t len, const char *name)
{
	_cleanup_free_ char *p = tpath(name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd < 0)
		return -1;
	int rc = write(fd, s->b, len) == (ssize_t)len ? 0 : -1;
	close(fd);
	return rc;
}

static void test_elf_synthetic(void **state)
{
	(void)state;
	static const struct {
		bool is64, be;
		uint16_t machine;
		uint32_t flags;
		const char *arch;
	} cases[] = {
		{ true, false, EM_X86_64, 0, "amd64" },
		{ true, false, EM_AARCH64, 0, "arm64" },
		{ false, false, EM_ARM, EF_ARM_ABI_FLOAT_HARD, "arm" },
		{ false, false, EM_386, 0, "386" },
		{ true, false, EM_RISCV, 0, "riscv64" },
		{ true, false, EM_PPC64, 0, "ppc64le" },
		{ true, true, EM_PPC64, 0, "ppc64" },
		{ true, true, EM_S390, 0, "s390x" },
		{ false, true, EM_MIPS, 0, "mips" },
		{ false, true, EM_SPARC, 0, NULL },
		{ false, false, EM_X86_64, 0, NULL }, /* x32 */
	};
	_cleanup_free_ char *path = tpath("synth");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		synth s;
		synth_make(&s, cases[i].is64, cases[i].be, cases[i].machine,
			cases[i].flags);
		assert_int_equal(synth_write(&s, sizeof(s.b), "synth"), 0);
		hoist_elf *e = NULL;
		hoist_error *err = NULL;
		int rc = hoist_elf_read(&e, path, &err);
		if (rc < 0)
			fail_msg("case %zu: %s", i, err->msg);
		assert_int_equal(e->elf_class, cases[i].is64 ? ELFCLASS64 : ELFCLASS32);
		assert_int_equal(e->data, cases[i].be ? ELFDATA2MSB : ELFDATA2LSB);
		assert_int_equal(e->machine, cases[i].machine);
		assert_int_equal(e->flags, cases[i].flags);
		assert_int_equal(e->type, ET_EXEC);
		assert_string_equal(e->interp, "/lib/ld-test.so.1");
		assert_int_equal(e->n_needed, 2);
		assert_string_equal(e->needed[0], "libc.so.6");
		assert_string_equal(e->needed[1], "libm.so.6");
		assert_string_equal(e->runpath, "/opt/$ORIGIN/lib");
		assert_string_equal(e->soname, "libx.so.2");
		assert_null(e->rpath);
		assert_int_equal(e->flags_1, DF_1_NODEFLIB);
		if (cases[i].arch)
			assert_string_equal(hoist_elf_architecture(e), cases[i].arch);
		else
			assert_null(hoist_elf_architecture(e));
		hoist_elf_free(e);
	}
}

static char *synth_error(synth *s, size_t len)
{
	assert_int_equal(synth_write(s, len, "synth-bad"), 0);
	_cleanup_free_ char *path = tpath("synth-bad");
	hoist_elf *e = NULL;
	hoist_error *err = NULL;
	int rc = hoist_elf_read(&e, path, &err);
	if (rc == 0)
		fail_msg("a broken ELF was accepted");
	assert_null(e);
	char *m = strdup(err->msg);
	hoist_error_free(err);
	return m;
}

static void test_elf_malformed(void **state)
{
	(void)state;
	synth s;
	char *m;
	/* DT_STRTAB outside every PT_LOAD */
	synth_make(&s, true, false, EM_X86_64, 0);
	put(&s, S_DYN + 4 * 16 + 8, 0x900000, 8);
	m = synth_error(&s, sizeof(s.b));
	assert_non_null(strstr(m, "not in any loaded segment"));
	free(m);
	/* a DT_NEEDED offset beyond DT_STRSZ */
	synth_make(&s, true, false, EM_X86_64, 0);
	put(&s, S_DYN + 8, 5000, 8);
	m = synth_error(&s, sizeof(s.b));
	assert_non_null(strstr(m, "outside the string table"));
	free(m);
	/* a string running past DT_STRSZ */
	synth_make(&s, true, false, EM_X86_64, 0);
	put(&s, S_DYN + 5 * 16 + 8, 4, 8);
	m = synth_error(&s, sizeof(s.b));
	assert_non_null(strstr(m, "not terminated"));
	free(m);
	/* absurd program header count */
	synth_make(&s, false, true, EM_MIPS, 0);
	put(&s, 24 + 12 + 4 + 4, 0xfff0, 2);
	m = synth_error(&s, sizeof(s.b));
	assert_non_null(strstr(m, "exceed the limit"));
	free(m);
	/* wrong program header size */
	synth_make(&s, true, false, EM_X86_64, 0);
	put(&s, 24 + 24 + 4 + 2, 48, 2);
	m = synth_error(&s, sizeof(s.b));
	assert_non_null(strstr(m, "program header size 48"));
	free(m);
	/* PT_INTERP not NUL-terminated */
	synth_make(&s, true, false, EM_X86_64, 0);
	s.b[S_INTERP + strlen("/lib/ld-test.so.1")] = 'x';
	m = synth_error(&s, sizeof(s.b));
	assert_non_null(strstr(m, "PT_INTERP is not terminated"));
	free(m);
	/* dynamic section larger than the file */
	synth_make(&s, true, false, EM_X86_64, 0);
	put(&s, 64 + 2 * 56 + 32, 0x100000, 8);
	m = synth_error(&s, sizeof(s.b));
	assert_non_null(strstr(m, "truncated ELF"));
	free(m);
	/* a relocatable object is no program */
	synth_make(&s, true, false, EM_X86_64, 0);
	put(&s, 16, ET_REL, 2);
	m = synth_error(&s, sizeof(s.b));
	assert_non_null(strstr(m, "ELF type 1"));
	free(m);
}

/* Every truncation of a real program, and of the synthetic ones: an error
 * or a result, never a crash (ASan watches). */
static void test_elf_truncations(void **state)
{
	(void)state;
	_cleanup_free_ char *dyn = tpath("dyn"), *cut = tpath("cut");
	int src = open(dyn, O_RDONLY | O_CLOEXEC);
	assert_true(src >= 0);
	struct stat st;
	assert_int_equal(fstat(src, &st), 0);
	size_t size = (size_t)st.st_size;
	unsigned char *data = malloc(size);
	assert_non_null(data);
	assert_int_equal(pread(src, data, size, 0), (ssize_t)size);
	close(src);
	int fd = open(cut, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, size), (ssize_t)size);
	size_t ok = 0, failed = 0;
	for (size_t len = size + 1; len-- > 0;) {
		/* every length in the first 16 KiB, then every 61st */
		if (len > 16384 && len % 61 && len != size)
			continue;
		assert_int_equal(ftruncate(fd, (off_t)len), 0);
		hoist_elf *e = NULL;
		hoist_error *err = NULL;
		if (hoist_elf_read_fd(&e, fd, "cut", &err) == 0) {
			ok++;
			hoist_elf_free(e);
		} else {
			assert_non_null(err);
			assert_null(e);
			failed++;
			hoist_error_free(err);
		}
	}
	/* the headers are at the start: short files fail, long ones read */
	assert_true(ok > 0 && failed > 0);
	hoist_elf *e = NULL;
	hoist_error *err = NULL;
	assert_int_equal(pwrite(fd, data, 40, 0), 40);
	assert_int_equal(hoist_elf_read_fd(&e, fd, "cut", &err), -HOIST_E_INVALID);
	assert_non_null(strstr(err->msg, "'cut': truncated ELF"));
	hoist_error_freep(&err);

	/* random corruption of the headers (fixed seed: reproducible) */
	unsigned seed = 12345;
	for (int round = 0; round < 3000; round++) {
		unsigned char *m = malloc(size);
		assert_non_null(m);
		memcpy(m, data, size);
		int flips = 1 + round % 8;
		for (int f = 0; f < flips; f++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % (size < 4096 ? size : 4096);
			seed = seed * 1103515245u + 12345u;
			m[at] = (unsigned char)(seed >> 16);
		}
		assert_int_equal(ftruncate(fd, 0), 0);
		assert_int_equal(pwrite(fd, m, size, 0), (ssize_t)size);
		if (hoist_elf_read_fd(&e, fd, "corrupt", &err) == 0)
			hoist_elf_free(e);
		else
			hoist_error_freep(&err);
		e = NULL;
		free(m);
	}
	close(fd);
	free(data);

	for (int v = 0; v < 4; v++) {
		synth s;
		synth_make(&s, v & 1, v & 2, EM_X86_64, 0);
		for (size_t len = 0; len <= sizeof(s.b); len++) {
			assert_int_equal(synth_write(&s, len, "synth-cut"), 0);
			_cleanup_free_ char *p = tpath("synth-cut");
			if (hoist_elf_read(&e, p, &err) == 0) {
				/* only the whole dynamic section reads */
				assert_true(len >= S_DYN + 8 * 2 * (size_t)(v & 1 ? 8 : 4));
				hoist_elf_free(e);
			} else {
				hoist_error_freep(&err);
			}
			e = NULL;
		}
	}
}

/* The host's loader says where each library of prog is. */
static void check_against_ld_so(const hoist_pack_plan *p, const char *prog)
{
	char *out = NULL;
	int rc = run(&out, "LD_TRACE_LOADED_OBJECTS=1 '%s'", prog);
	assert_int_equal(rc, 0);
	size_t checked = 0;
	for (char *line = out; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *arrow = strstr(line, " => /");
		if (arrow) {
			char *path = arrow + 4;
			char *sp = strchr(path, ' ');
			if (sp)
				*sp = '\0';
			const hoist_pack_entry *e = entry_at(p, path);
			if (!e)
				fail_msg("ld.so loads '%s', the plan lacks it", path);
			assert_int_equal(e->kind, HOIST_PACK_LIBRARY);
			char *real = realpath(path, NULL);
			assert_non_null(real);
			assert_string_equal(e->host_path, real);
			free(real);
			checked++;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(out);
	assert_int_equal(checked, count_kind(p, HOIST_PACK_LIBRARY));
}

static void test_plan_dynamic(void **state)
{
	(void)state;
	_cleanup_free_ char *dyn = tpath("dyn");
	const char *bins[] = { dyn };
	hoist_pack_plan *p = plan_of(bins, 1, NULL);
	check_well_formed(p);

	const hoist_pack_entry *e = hoist_pack_plan_entry(p, 0);
	while (e->kind == HOIST_PACK_DIR)
		e++;
	assert_int_equal(e->kind, HOIST_PACK_BINARY);
	assert_string_equal(e->path, "/usr/local/bin/dyn");

	hoist_elf *elf = NULL;
	assert_int_equal(hoist_elf_read(&elf, dyn, NULL), 0);
	const hoist_pack_entry *in = entry_at(p, elf->interp);
	assert_non_null(in);
	assert_int_equal(in->kind, HOIST_PACK_INTERP);
	assert_int_equal(count_kind(p, HOIST_PACK_INTERP), 1);
	hoist_elf_free(elf);

	bool libc = false, libm = false;
	const char *prev = NULL;
	for (size_t i = 0; i < hoist_pack_plan_size(p); i++) {
		e = hoist_pack_plan_entry(p, i);
		if (e->kind != HOIST_PACK_LIBRARY)
			continue;
		/* libraries sorted by path */
		if (prev)
			assert_true(strcmp(prev, e->path) < 0);
		prev = e->path;
		libc |= !strcmp(e->name, "libc.so.6");
		libm |= !strcmp(e->name, "libm.so.6");
		const char *base = strrchr(e->path, '/') + 1;
		assert_string_equal(base, e->name);
		/* the loader is libc's DT_NEEDED too: satisfied by PT_INTERP */
		assert_null(strstr(e->name, "ld-linux"));
		assert_non_null(e->needed_by);
	}
	assert_true(libc && libm);
	check_against_ld_so(p, dyn);

	const hoist_pack_config *c = hoist_pack_plan_config(p);
	assert_string_equal(c->user, "65532:65532");
	assert_int_equal(c->n_entrypoint, 1);
	assert_string_equal(c->entrypoint[0], "/usr/local/bin/dyn");
	assert_string_equal(c->platform.os, "linux");
	assert_string_equal(env_of(p, "PATH"), "/usr/local/bin:/usr/bin:/bin");
	/* the host's libraries are in the loader's own directories */
	assert_null(env_of(p, "LD_LIBRARY_PATH"));
	assert_null(env_of(p, "SSL_CERT_FILE"));

	const hoist_pack_entry *pw = entry_at(p, "/etc/passwd");
	assert_non_null(pw);
	assert_int_equal(pw->kind, HOIST_PACK_DATA);
	assert_non_null(strstr(pw->data, "root:x:0:0:"));
	assert_non_null(strstr(pw->data,
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"));
	const hoist_pack_entry *gr = entry_at(p, "/etc/group");
	assert_non_null(strstr(gr->data, "root:x:0:\n"));
	assert_non_null(strstr(gr->data, "nonroot:x:65532:\n"));
	assert_non_null(strstr(entry_at(p, "/etc/nsswitch.conf")->data,
		"hosts: files dns\n"));
	const hoist_pack_entry *home = entry_at(p, "/home/nonroot");
	assert_int_equal(home->kind, HOIST_PACK_DIR);
	assert_int_equal(home->uid, 65532);
	assert_int_equal(home->gid, 65532);
	assert_int_equal(home->mode, 0700);
	assert_int_equal(entry_at(p, "/tmp")->mode, 01777);
	assert_int_equal(entry_at(p, "/usr")->mode, 0755);

	/* deterministic: a second plan is the same entry for entry */
	hoist_pack_plan *q = plan_of(bins, 1, NULL);
	assert_int_equal(hoist_pack_plan_size(p), hoist_pack_plan_size(q));
	for (size_t i = 0; i < hoist_pack_plan_size(p); i++) {
		const hoist_pack_entry *a = hoist_pack_plan_entry(p, i);
		const hoist_pack_entry *b = hoist_pack_plan_entry(q, i);
		assert_int_equal(a->kind, b->kind);
		assert_string_equal(a->path, b->path);
		assert_int_equal(a->mode, b->mode);
		if (a->host_path)
			assert_string_equal(a->host_path, b->host_path);
	}
	assert_null(hoist_pack_plan_entry(p, hoist_pack_plan_size(p)));
	hoist_pack_plan_free(q);
	hoist_pack_plan_free(p);
}

static void test_plan_static(void **state)
{
	(void)state;
	_cleanup_free_ char *st = tpath("static");
	const char *bins[] = { st };
	hoist_pack_opts o;
	hoist_pack_opts_init(&o);
	o.no_user_files = true;
	hoist_pack_plan *p = plan_of(bins, 1, &o);
	check_well_formed(p);
	assert_int_equal(count_kind(p, HOIST_PACK_LIBRARY), 0);
	assert_int_equal(count_kind(p, HOIST_PACK_INTERP), 0);
	assert_int_equal(count_kind(p, HOIST_PACK_BINARY), 1);
	assert_null(entry_at(p, "/etc/passwd"));
	/* /usr, /usr/local, /usr/local/bin, the program */
	assert_int_equal(hoist_pack_plan_size(p), 4);
	hoist_pack_plan_free(p);

	if (fx.have_static_pie) {
		_cleanup_free_ char *spie = tpath("spie");
		bins[0] = spie;
		o.no_parent_dirs = true;
		p = plan_of(bins, 1, &o);
		assert_int_equal(hoist_pack_plan_size(p), 1);
		assert_string_equal(hoist_pack_plan_entry(p, 0)->path,
			"/usr/local/bin/spie");
		hoist_pack_plan_free(p);
	}
}

static void test_plan_origin(void **state)
{
	(void)state;
	_cleanup_free_ char *prog = tpath("bin/usefoo");
	const char *bins[] = { prog };
	hoist_pack_opts o;
	hoist_pack_opts_init(&o);
	o.bin_dir = "/app";
	hoist_pack_plan *p = plan_of(bins, 1, &o);
	check_well_formed(p);
	/* $ORIGIN/../lib from /app/usefoo, under the DT_NEEDED name,
	 * holding the real file behind the symlinks */
	const hoist_pack_entry *e = entry_at(p, "/lib/libfoo.so.1");
	assert_non_null(e);
	assert_int_equal(e->kind, HOIST_PACK_LIBRARY);
	_cleanup_free_ char *real = tpath("lib/libfoo.so.1.0");
	assert_string_equal(e->host_path, real);
	assert_string_equal(e->needed_by, prog);
	assert_string_equal(env_of(p, "PATH"), "/app:/usr/local/bin:/usr/bin:/bin");
	assert_null(env_of(p, "LD_LIBRARY_PATH"));
	hoist_pack_plan_free(p);

	/* default bin dir: /usr/local/bin/../lib */
	p = plan_of(bins, 1, NULL);
	assert_non_null(entry_at(p, "/usr/local/lib/libfoo.so.1"));
	hoist_pack_plan_free(p);
}

static void test_plan_dst_and_paths(void **state)
{
	(void)state;
	hoist_platform host = { 0 };
	assert_int_equal(hoist_platform_host(&host, NULL), 0);
	bool amd64 = !strcmp(host.architecture, "amd64");
	hoist_platform_release(&host);
	_cleanup_free_ char *dst = tpath("dst/bin/usefoo"), *abs = tpath("useabs"),
		*abs_lib = tpath("abs/libabs.so");
	hoist_pack_opts o;
	hoist_pack_opts_init(&o);
	o.bin_dir = "/app";
	if (amd64 && access("/usr/lib/x86_64-linux-gnu", F_OK) == 0) {
		/* the host's loader agrees */
		char *out = NULL;
		assert_int_equal(run(&out, "'%s'", dst), 0);
		assert_string_equal(out, "foo=42\n");
		free(out);
		const char *bins[] = { dst };
		hoist_pack_plan *p = plan_of(bins, 1, &o);
		const hoist_pack_entry *e =
			entry_at(p, "/lib/x86_64-linux-gnu/x86_64/libfoo.so.1");
		assert_non_null(e);
		assert_int_equal(e->kind, HOIST_PACK_LIBRARY);
		hoist_pack_plan_free(p);
	} else {
		print_message("skipping $LIB/$PLATFORM: not a Debian x86-64 host\n");
	}

	hoist_elf *elf = NULL;
	assert_int_equal(hoist_elf_read(&elf, abs, NULL), 0);
	bool by_path = false;
	for (size_t i = 0; i < elf->n_needed; i++)
		by_path |= !strcmp(elf->needed[i], abs_lib);
	hoist_elf_free(elf);
	if (!by_path) {
		print_message("skipping DT_NEEDED paths: the linker gave a name\n");
		return;
	}
	const char *bins[] = { abs };
	hoist_pack_plan *p = plan_of(bins, 1, &o);
	const hoist_pack_entry *e = entry_at(p, abs_lib);
	assert_non_null(e);
	assert_string_equal(e->name, abs_lib);
	assert_string_equal(e->host_path, abs_lib);
	hoist_pack_plan_free(p);
}

static void test_plan_rpath_inherited(void **state)
{
	(void)state;
	_cleanup_free_ char *rp = tpath("bin/usemid"), *run_p = tpath("bin/usemid_runpath");
	/* what the host's loader does */
	char *out = NULL;
	assert_int_equal(run(&out, "'%s'", rp), 0);
	assert_string_equal(out, "mid=42\n");
	free(out);
	assert_true(run(&out, "'%s' 2>&1", run_p) != 0);
	assert_non_null(strstr(out, "libbaz.so"));
	free(out);

	const char *bins[] = { rp };
	hoist_pack_opts o;
	hoist_pack_opts_init(&o);
	o.bin_dir = "/app";
	hoist_pack_plan *p = plan_of(bins, 1, &o);
	const hoist_pack_entry *mid = entry_at(p, "/lib2/libmid.so");
	const hoist_pack_entry *baz = entry_at(p, "/lib2/libbaz.so");
	assert_non_null(mid);
	assert_non_null(baz);
	/* as the loader opened it: through the program's $ORIGIN */
	_cleanup_free_ char *mid_path = tpath("bin/../lib2/libmid.so");
	assert_string_equal(baz->needed_by, mid_path);
	_cleanup_free_ char *mid_real = tpath("lib2/libmid.so");
	assert_string_equal(mid->host_path, mid_real);
	hoist_pack_plan_free(p);

	/* RUNPATH is not inherited: libmid's libbaz is nowhere */
	bins[0] = run_p;
	_cleanup_free_ char *m = plan_error(bins, 1, &o);
	assert_non_null(strstr(m, "library 'libbaz.so' needed by '"));
	assert_non_null(strstr(m, "libmid.so': not found"));
}

static void test_plan_missing(void **state)
{
	(void)state;
	_cleanup_free_ char *prog = tpath("usebar");
	const char *bins[] = { prog };
	_cleanup_free_ char *m = plan_error(bins, 1, NULL);
	_cleanup_free_ char *want = NULL;
	assert_true(asprintf(&want, "library 'libbar.so' needed by '%s': not found",
		prog) > 0);
	assert_string_equal(m, want);
}

static void test_plan_errors(void **state)
{
	(void)state;
	_cleanup_free_ char *dyn = tpath("dyn"), *st = tpath("static"),
		*sub = tpath("sub/dyn"), *lib = tpath("lib/libfoo.so.1"),
		*arm = tpath("arm"), *none = tpath("nonexistent");
	hoist_error *err = NULL;
	hoist_pack_plan *p = NULL;
	assert_int_equal(hoist_pack_plan_new(&p, NULL, 0, NULL, &err),
		-HOIST_E_INVALID);
	hoist_error_freep(&err);

	const char *two[] = { dyn, sub };
	char *m = plan_error(two, 2, NULL);
	assert_non_null(strstr(m, "would both be '/usr/local/bin/dyn'"));
	free(m);

	synth s;
	synth_make(&s, false, false, EM_ARM, EF_ARM_ABI_FLOAT_HARD);
	assert_int_equal(synth_write(&s, sizeof(s.b), "arm"), 0);
	const char *mixed[] = { dyn, arm };
	m = plan_error(mixed, 2, NULL);
	_cleanup_free_ char *want = NULL;
	assert_true(asprintf(&want, "'%s': architecture 'arm' differs from", arm) > 0);
	assert_non_null(strstr(m, want));
	free(m);

	const char *shlib[] = { lib };
	m = plan_error(shlib, 1, NULL);
	assert_non_null(strstr(m, "a shared library, not a program"));
	free(m);
	_cleanup_free_ char *mid = tpath("lib2/libmid.so");
	shlib[0] = mid;
	m = plan_error(shlib, 1, NULL);
	assert_non_null(strstr(m, "needs shared libraries but has no interpreter"));
	free(m);

	const char *missing[] = { none };
	m = plan_error(missing, 1, NULL);
	assert_non_null(strstr(m, "nonexistent"));
	free(m);

	/* interpreter missing in a sysroot */
	_cleanup_free_ char *empty_root = tpath("emptyroot");
	assert_int_equal(mkdir(empty_root, 0755), 0);
	hoist_pack_opts o;
	hoist_pack_opts_init(&o);
	o.sysroot = empty_root;
	const char *one[] = { dyn };
	m = plan_error(one, 1, &o);
	assert_non_null(strstr(m, "interpreter '/lib64/ld-linux-x86-64.so.2' not found in sysroot")
		|| strstr(m, "not found in sysroot"));
	free(m);

	/* CA bundle asked for but absent */
	o.sysroot = NULL;
	o.ca_certs = true;
	o.ca_file = none;
	const char *stat_only[] = { st };
	m = plan_error(stat_only, 1, &o);
	assert_non_null(strstr(m, "ca certificates '"));
	assert_non_null(strstr(m, "No such file"));
	free(m);

	o.bin_dir = "relative";
	o.ca_certs = false;
	m = plan_error(stat_only, 1, &o);
	assert_non_null(strstr(m, "not an absolute path"));
	free(m);
}

static void test_plan_ca_and_multi(void **state)
{
	(void)state;
	_cleanup_free_ char *dyn = tpath("dyn"), *st = tpath("static"),
		*ca = tpath("ca.pem");
	assert_int_equal(write_file(ca, "-----BEGIN CERTIFICATE-----\n", 0644), 0);
	const char *bins[] = { st, dyn };
	hoist_pack_opts o;
	hoist_pack_opts_init(&o);
	o.ca_certs = true;
	o.ca_file = ca;
	hoist_pack_plan *p = plan_of(bins, 2, &o);
	check_well_formed(p);
	const hoist_pack_entry *e = entry_at(p, "/etc/ssl/certs/ca-certificates.crt");
	assert_non_null(e);
	assert_int_equal(e->kind, HOIST_PACK_FILE);
	assert_string_equal(e->host_path, ca);
	assert_string_equal(env_of(p, "SSL_CERT_FILE"),
		"/etc/ssl/certs/ca-certificates.crt");
	/* the first program is the entrypoint; both are in, in order */
	const hoist_pack_config *c = hoist_pack_plan_config(p);
	assert_string_equal(c->entrypoint[0], "/usr/local/bin/static");
	size_t bi = 0;
	for (size_t i = 0; i < hoist_pack_plan_size(p); i++) {
		e = hoist_pack_plan_entry(p, i);
		if (e->kind == HOIST_PACK_BINARY)
			assert_string_equal(e->path, bi++ == 0 ? "/usr/local/bin/static"
				: "/usr/local/bin/dyn");
	}
	assert_int_equal(bi, 2);
	assert_true(count_kind(p, HOIST_PACK_LIBRARY) >= 2);

	/* the config values land in an image config */
	hoist_config *cfg = NULL;
	hoist_platform plat = { .os = (char *)"linux", .architecture = (char *)"arm64" };
	assert_int_equal(hoist_config_new(&cfg, &plat, NULL), 0);
	assert_int_equal(hoist_config_set_env(cfg, "PATH=/usr/sbin:/usr/bin", NULL), 0);
	json_t *cmd = json_pack("[s]", "--help");
	assert_int_equal(hoist_config_set_cmd(cfg, cmd, NULL), 0);
	json_decref(cmd);
	assert_int_equal(hoist_pack_plan_apply_config(p, cfg, NULL), 0);
	assert_string_equal(hoist_config_architecture(cfg), c->platform.architecture);
	assert_string_equal(hoist_config_user(cfg), "65532:65532");
	assert_string_equal(json_string_value(json_array_get(
		hoist_config_entrypoint(cfg), 0)), "/usr/local/bin/static");
	assert_null(hoist_config_cmd(cfg));
	/* a base's PATH is kept, ours goes first */
	assert_string_equal(hoist_config_get_env(cfg, "PATH"),
		"/usr/local/bin:/bin:/usr/sbin:/usr/bin");
	assert_string_equal(hoist_config_get_env(cfg, "SSL_CERT_FILE"),
		"/etc/ssl/certs/ca-certificates.crt");
	hoist_config_free(cfg);
	hoist_pack_plan_free(p);

	/* the host bundle, when the host has one */
	if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0) {
		o.ca_file = NULL;
		p = plan_of(bins, 1, &o);
		e = entry_at(p, "/etc/ssl/certs/ca-certificates.crt");
		assert_non_null(e);
		char *real = realpath("/etc/ssl/certs/ca-certificates.crt", NULL);
		assert_string_equal(e->host_path, real);
		free(real);
		hoist_pack_plan_free(p);
	}
}

static void test_ldconf(void **state)
{
	(void)state;
	_cleanup_free_ char *root = tpath("confroot");
	assert_int_equal(sh("mkdir -p '%s/etc/ld.so.conf.d' '%s/etc/other'", root, root), 0);
	char p[600];
	snprintf(p, sizeof(p), "%s/etc/ld.so.conf", root);
	assert_int_equal(write_file(p,
		"# the main file\n"
		"/opt/first/   \n"
		"\tinclude ld.so.conf.d/*.conf  other/x.conf # relative\n"
		"relative/dir\n"
		"hwcap 1 foo\n"
		"/opt/first\n"
		"/usr/lib//\n", 0644), 0);
	snprintf(p, sizeof(p), "%s/etc/ld.so.conf.d/b.conf", root);
	assert_int_equal(write_file(p, "/opt/b # after a\ninclude /etc/ld.so.conf\n", 0644), 0);
	snprintf(p, sizeof(p), "%s/etc/ld.so.conf.d/a.conf", root);
	assert_int_equal(write_file(p, "/opt/a\n", 0644), 0);
	snprintf(p, sizeof(p), "%s/etc/ld.so.conf.d/.hidden.conf", root);
	assert_int_equal(write_file(p, "/opt/hidden\n", 0644), 0);
	snprintf(p, sizeof(p), "%s/etc/ld.so.conf.d/c.conf.off", root);
	assert_int_equal(write_file(p, "/opt/off\n", 0644), 0);
	snprintf(p, sizeof(p), "%s/etc/other/x.conf", root);
	assert_int_equal(write_file(p, "/opt/x", 0644), 0);

	pack_root rt;
	hoist_error *err = NULL;
	assert_int_equal(pack_root_open(&rt, root, &err), 0);
	assert_false(rt.is_host);
	pack_dirs d;
	/* b.conf includes the main file again: bounded by the depth limit */
	assert_int_equal(pack_ldconf_read(&d, &rt, "/etc/ld.so.conf", &err),
		-HOIST_E_LIMIT);
	assert_non_null(strstr(err->msg, "nested deeper than"));
	hoist_error_freep(&err);

	snprintf(p, sizeof(p), "%s/etc/ld.so.conf.d/b.conf", root);
	assert_int_equal(write_file(p, "/opt/b # after a\n", 0644), 0);
	assert_int_equal(pack_ldconf_read(&d, &rt, "/etc/ld.so.conf", &err), 0);
	const char *want[] = { "/opt/first", "/opt/a", "/opt/b", "/opt/x", "/usr/lib" };
	assert_int_equal(d.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(d.v[i], want[i]);
	pack_dirs_release(&d);

	/* missing file: no directories */
	assert_int_equal(pack_ldconf_read(&d, &rt, "/etc/nope.conf", &err), 0);
	assert_int_equal(d.n, 0);
	pack_dirs_release(&d);
	pack_root_release(&rt);

	char *n = pack_path_normalise("/a/./b//../c/../../..//x/");
	assert_string_equal(n, "/x");
	free(n);
	n = pack_path_normalise("/usr/local/bin/../lib");
	assert_string_equal(n, "/usr/local/lib");
	free(n);
	assert_null(pack_path_normalise("rel/x"));
}

/* Copies the plan into dir as an image would unpack. */
static void materialise(const hoist_pack_plan *p, const char *dir)
{
	assert_int_equal(sh("rm -rf '%s' && mkdir -p '%s' && chmod 0755 '%s'",
		dir, dir, dir), 0);
	for (size_t i = 0; i < hoist_pack_plan_size(p); i++) {
		const hoist_pack_entry *e = hoist_pack_plan_entry(p, i);
		char full[1024];
		snprintf(full, sizeof(full), "%s%s", dir, e->path);
		switch (e->kind) {
		case HOIST_PACK_DIR:
			assert_true(mkdir(full, e->mode) == 0 || errno == EEXIST);
			assert_int_equal(chmod(full, e->mode), 0);
			break;
		case HOIST_PACK_DATA: {
			int fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, e->mode);
			assert_true(fd >= 0);
			assert_int_equal(write(fd, e->data, e->len), (ssize_t)e->len);
			close(fd);
			break;
		}
		default: {
			struct stat st;
			assert_int_equal(stat(e->host_path, &st), 0);
			assert_int_equal(sh("cp '%s' '%s'", e->host_path, full), 0);
			assert_int_equal(chmod(full, st.st_mode & 07777), 0);
			break;
		}
		}
		if (geteuid() == 0)
			assert_int_equal(lchown(full, e->uid, e->gid), 0);
	}
}

/* Runs a command and checks its status and whole output. */
static void expect_run(int want_rc, const char *want_out, const char *cmd)
{
	char *out = NULL;
	int rc = run(&out, "%s", cmd);
	if (rc != want_rc || !out || strcmp(out, want_out) != 0) {
		print_error("'%s' exited %d with:\n%s\n", cmd, rc, out ? out : "");
		free(out);
		fail();
	}
	free(out);
}

#define CHROOT_BIN "/usr/sbin/chroot"
#define CHROOT "env -i " CHROOT_BIN " --userspec=65532:65532"

static bool can_chroot(void)
{
	if (geteuid() != 0 || access(CHROOT_BIN, X_OK) != 0) {
		print_message("skipping the chroot runs: needs root and chroot\n");
		return false;
	}
	return true;
}

static void test_run_in_chroot(void **state)
{
	(void)state;
	if (!can_chroot()) {
		skip();
		return;
	}
	_cleanup_free_ char *dyn = tpath("dyn"), *st = tpath("static"),
		*foo = tpath("bin/usefoo"), *root = tpath("image");
	hoist_pack_opts o;
	hoist_pack_opts_init(&o);
	o.bin_dir = "/app";
	const char *bins[] = { dyn, st, foo };
	hoist_pack_plan *p = plan_of(bins, 3, &o);
	materialise(p, root);
	/* the image holds no symlink at all */
	char *out = NULL;
	assert_int_equal(run(&out, "find '%s' -type l | wc -l", root), 0);
	assert_string_equal(out, "0\n");
	free(out);

	const hoist_pack_config *c = hoist_pack_plan_config(p);
	assert_string_equal(c->entrypoint[0], "/app/dyn");
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), CHROOT " '%s' %s 0.5 /tmp/t /home/nonroot/h 2>&1",
		root, c->entrypoint[0]);
	expect_run(0, "cos=0.878 uid=65532\nwrite /tmp/t=ok\n"
		"write /home/nonroot/h=ok\n", cmd);
	snprintf(cmd, sizeof(cmd), CHROOT " '%s' /app/static 0 2>&1", root);
	expect_run(0, "cos=1.000 uid=65532\n", cmd);
	snprintf(cmd, sizeof(cmd), CHROOT " '%s' /app/usefoo 2>&1", root);
	expect_run(0, "foo=42\n", cmd);
	/* the non-root user cannot write where it must not */
	snprintf(cmd, sizeof(cmd), CHROOT " '%s' /app/dyn 0 /etc/x 2>&1", root);
	expect_run(0, "cos=1.000 uid=65532\nwrite /etc/x=failed\n", cmd);
	hoist_pack_plan_free(p);
	assert_int_equal(sh("rm -rf '%s'", root), 0);
}

static void write_layer(const hoist_pack_plan *p, const char *path,
	hoist_layer_info *info)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	hoist_writer *sink = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_writer_new_fd(&sink, fd, true, &err), 0);
	hoist_layer_opts o;
	hoist_layer_opts_init(&o);
	o.epoch = 0;
	hoist_layer_writer *lw = NULL;
	assert_int_equal(hoist_layer_writer_new(&lw, &o, sink, &err), 0);
	if (hoist_pack_plan_write_layer(p, lw, &err) < 0 ||
		hoist_layer_writer_finish(lw, info, &err) < 0)
		fail_msg("layer: %s", err->msg);
	hoist_layer_writer_free(lw);
	hoist_writer_free(sink);
}

/* The layer itself: reproducible, and once unpacked by the host's tar the
 * programs run as 65532 (its home is usable although the layer writer owns
 * every entry by root). */
static void test_layer_runs(void **state)
{
	(void)state;
	_cleanup_free_ char *dyn = tpath("dyn"), *st = tpath("static"),
		*l1 = tpath("layer1.tar.gz"), *l2 = tpath("layer2.tar.gz"),
		*root = tpath("image3");
	const char *bins[] = { dyn, st };
	hoist_pack_plan *p = plan_of(bins, 2, NULL);
	hoist_layer_info a, b;
	write_layer(p, l1, &a);
	hoist_pack_plan *q = plan_of(bins, 2, NULL);
	write_layer(q, l2, &b);
	hoist_pack_plan_free(q);
	assert_true(hoist_digest_equal(&a.digest, &b.digest));
	assert_true(hoist_digest_equal(&a.diff_id, &b.diff_id));

	/* the entries in plan order, no symlink */
	char *out = NULL;
	assert_int_equal(run(&out, "tar -tvzf '%s'", l1), 0);
	assert_null(strstr(out, " -> "));
	assert_non_null(strstr(out, "usr/local/bin/dyn"));
	free(out);
	assert_int_equal(run(&out, "tar -tzf '%s' | head -4", l1), 0);
	assert_string_equal(out, "usr/\nusr/local/\nusr/local/bin/\nusr/local/bin/dyn\n");
	free(out);

	if (!can_chroot()) {
		hoist_pack_plan_free(p);
		return;
	}
	assert_int_equal(sh("rm -rf '%s' && mkdir -m 0755 '%s' && tar -xzpf '%s' "
		"-C '%s'", root, root, l1, root), 0);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), CHROOT " '%s' %s 0.5 /tmp/t /home/nonroot/h 2>&1",
		root, hoist_pack_plan_config(p)->entrypoint[0]);
	expect_run(0, "cos=0.878 uid=65532\nwrite /tmp/t=ok\n"
		"write /home/nonroot/h=ok\n", cmd);
	snprintf(cmd, sizeof(cmd), CHROOT " '%s' /usr/local/bin/static 0 2>&1", root);
	expect_run(0, "cos=1.000 uid=65532\n", cmd);
	assert_int_equal(sh("rm -rf '%s'", root), 0);
	hoist_pack_plan_free(p);
}

/* A sysroot with its own ld.so.conf: libmy is found only through it, so
 * the image needs LD_LIBRARY_PATH; absolute symlinks stay in the root. */
static void test_sysroot_ldconf(void **state)
{
	(void)state;
	_cleanup_free_ char *dyn = tpath("dyn"), *usemy = tpath("usemy"),
		*sys = tpath("sysroot"), *root = tpath("image2");
	const char *host_bins[] = { dyn };
	hoist_pack_plan *hp = plan_of(host_bins, 1, NULL);
	assert_int_equal(sh("rm -rf '%s' && mkdir -p '%s/etc/ld.so.conf.d' "
		"'%s/opt/mylib' && cp '%s/libmy.so' '%s/opt/mylib/'", sys, sys, sys,
		fx.dir, sys), 0);
	/* the host's C library, by the plan of a host program */
	const char *interp = NULL;
	for (size_t i = 0; i < hoist_pack_plan_size(hp); i++) {
		const hoist_pack_entry *e = hoist_pack_plan_entry(hp, i);
		if (e->kind != HOIST_PACK_LIBRARY && e->kind != HOIST_PACK_INTERP)
			continue;
		char *dir = pack_path_dirname(e->path);
		if (e->kind == HOIST_PACK_INTERP) {
			/* stored elsewhere, reached by an absolute symlink */
			interp = e->path;
			assert_int_equal(sh("mkdir -p '%s/real%s' '%s%s' && cp '%s' '%s/real%s' && "
				"ln -s '/real%s' '%s%s'", sys, dir, sys, dir, e->host_path,
				sys, e->path, e->path, sys, e->path), 0);
		} else {
			assert_int_equal(sh("mkdir -p '%s%s' && cp '%s' '%s%s'", sys, dir,
				e->host_path, sys, e->path), 0);
		}
		free(dir);
	}
	char p[600];
	snprintf(p, sizeof(p), "%s/etc/ld.so.conf", sys);
	assert_int_equal(write_file(p, "include /etc/ld.so.conf.d/*.conf\n", 0644), 0);
	snprintf(p, sizeof(p), "%s/etc/ld.so.conf.d/my.conf", sys);
	assert_int_equal(write_file(p, "# mine\n/opt/mylib/\n", 0644), 0);

	hoist_pack_opts o;
	hoist_pack_opts_init(&o);
	o.sysroot = sys;
	o.bin_dir = "/app";
	const char *bins[] = { usemy };
	hoist_pack_plan *p2 = plan_of(bins, 1, &o);
	check_well_formed(p2);
	const hoist_pack_entry *my = entry_at(p2, "/opt/mylib/libmy.so");
	assert_non_null(my);
	char want[700];
	snprintf(want, sizeof(want), "%s/opt/mylib/libmy.so", sys);
	assert_string_equal(my->host_path, want);
	const hoist_pack_entry *in = entry_at(p2, interp);
	assert_non_null(in);
	snprintf(want, sizeof(want), "%s/real%s", sys, interp);
	assert_string_equal(in->host_path, want);
	for (size_t i = 0; i < hoist_pack_plan_size(p2); i++) {
		const hoist_pack_entry *e = hoist_pack_plan_entry(p2, i);
		if (e->kind == HOIST_PACK_LIBRARY)
			assert_true(!strncmp(e->host_path, sys, strlen(sys)));
	}
	assert_string_equal(env_of(p2, "LD_LIBRARY_PATH"), "/opt/mylib");

	if (can_chroot()) {
		materialise(p2, root);
		char cmd[1024];
		snprintf(cmd, sizeof(cmd), "env -i LD_LIBRARY_PATH=%s "
			CHROOT_BIN " --userspec=65532:65532 '%s' /app/usemy 2>&1",
			env_of(p2, "LD_LIBRARY_PATH"), root);
		expect_run(0, "my=5\n", cmd);
		/* and it is needed */
		char *out = NULL;
		assert_true(run(&out, CHROOT " '%s' /app/usemy 2>&1", root) != 0);
		assert_non_null(strstr(out, "libmy.so"));
		free(out);
		assert_int_equal(sh("rm -rf '%s'", root), 0);
	}
	hoist_pack_plan_free(p2);
	hoist_pack_plan_free(hp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_real),
		cmocka_unit_test(test_elf_not_elf),
		cmocka_unit_test(test_elf_synthetic),
		cmocka_unit_test(test_elf_malformed),
		cmocka_unit_test(test_elf_truncations),
		cmocka_unit_test(test_ldconf),
		cmocka_unit_test(test_plan_dynamic),
		cmocka_unit_test(test_plan_static),
		cmocka_unit_test(test_plan_origin),
		cmocka_unit_test(test_plan_dst_and_paths),
		cmocka_unit_test(test_plan_rpath_inherited),
		cmocka_unit_test(test_plan_missing),
		cmocka_unit_test(test_plan_errors),
		cmocka_unit_test(test_plan_ca_and_multi),
		cmocka_unit_test(test_run_in_chroot),
		cmocka_unit_test(test_sysroot_ldconf),
		cmocka_unit_test(test_layer_runs),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
