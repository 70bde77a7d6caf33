#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hoist/dockerignore.h"
#include "hoist/error.h"

static hoist_dockerignore *load(const char *content)
{
	hoist_dockerignore *d = NULL;
	hoist_error *err = NULL;
	int r = hoist_dockerignore_parse(&d, ".dockerignore", content, strlen(content),
		&err);
	if (r)
		fprintf(stderr, "parse [%s]: %s\n", content, err->msg);
	assert_int_equal(r, 0);
	return d;
}

typedef struct mcase {
	const char *pattern;
	const char *path;
	bool match;
} mcase;

/* moby/patternmatcher TestMatches and TestMatch (Go's filepath.Match
 * cases), with MatchesOrParentMatches semantics: a parent directory
 * matching counts. */
static const mcase single[] = {
	{ "**", "file", true },
	{ "**", "dir/file", true },
	{ "**/", "dir/file", true },
	{ "**/", "file", true },
	{ "**/**", "dir/file", true },
	{ "dir/**", "dir/file", true },
	{ "dir/**", "dir/dir2/file", true },
	{ "**/dir", "dir", true },
	{ "**/dir", "dir/file", true },
	{ "**/dir2/*", "dir/dir2/file", true },
	{ "**/dir2/*", "dir/dir2/file/", true },
	{ "**/dir2/**", "dir/dir2/dir3/file", true },
	{ "**file", "file", true },
	{ "**file", "dir/file", true },
	{ "**/file", "dir/file", true },
	{ "**file", "dir/dir/file", true },
	{ "**/file", "dir/dir/file", true },
	{ "**/file*", "dir/dir/file", true },
	{ "**/file*", "dir/dir/file.txt", true },
	{ "**/file*txt", "dir/dir/file.txt", true },
	{ "**/file*.txt", "dir/dir/file.txt", true },
	{ "**/file*.txt*", "dir/dir/file.txt", true },
	{ "**/**/*.txt", "dir/dir/file.txt", true },
	{ "**/**/*.txt2", "dir/dir/file.txt", false },
	{ "**/*.txt", "file.txt", true },
	{ "**/**/*.txt", "file.txt", true },
	{ "a**/*.txt", "a/file.txt", true },
	{ "a**/*.txt", "a/dir/file.txt", true },
	{ "a**/*.txt", "a/dir/dir/file.txt", true },
	{ "a/*.txt", "a/dir/file.txt", false },
	{ "a/*.txt", "a/file.txt", true },
	{ "a/*.txt**", "a/file.txt", true },
	{ "a[b-d]e", "ae", false },
	{ "a[b-d]e", "ace", true },
	{ "a[b-d]e", "aae", false },
	{ "a[^b-d]e", "aze", true },
	{ ".*", ".foo", true },
	{ ".*", "foo", false },
	{ "abc.def", "abcdef", false },
	{ "abc.def", "abc.def", true },
	{ "abc.def", "abcZdef", false },
	{ "abc?def", "abcZdef", true },
	{ "abc?def", "abcdef", false },
	{ "**/foo/bar", "foo/bar", true },
	{ "**/foo/bar", "dir/foo/bar", true },
	{ "**/foo/bar", "dir/dir2/foo/bar", true },
	{ "abc/**", "abc", false },
	{ "abc/**", "abc/def", true },
	{ "abc/**", "abc/def/ghi", true },
	{ "**/.foo", ".foo", true },
	{ "**/.foo", "bar.foo", false },
	{ "a(b)c/def", "a(b)c/def", true },
	{ "a(b)c/def", "a(b)c/xyz", false },
	{ "a.|)$(}+{bc", "a.|)$(}+{bc", true },
	{ "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
	  "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true },
	{ "dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true },
	{ "a\\\\", "a\\", true },
	{ "a\\*b", "a*b", true },
	{ "a\\*b", "ab", false },
	{ "abc", "abc", true },
	{ "*", "abc", true },
	{ "*c", "abc", true },
	{ "a*", "a", true },
	{ "a*", "ab/c", true },
	{ "a*/b", "abc/b", true },
	{ "a*/b", "a/c/b", false },
	{ "a*b*c*d*e*/f", "axbxcxdxe/f", true },
	{ "a*b*c*d*e*/f", "axbxcxdxexxx/f", true },
	{ "a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false },
	{ "a*b*c*d*e*/f", "axbxcxdxexxx/fff", false },
	{ "a*b?c*x", "abxbbxdbxebxczzx", true },
	{ "a*b?c*x", "abxbbxdbxebxczzy", false },
	{ "ab[c]", "abc", true },
	{ "ab[b-d]", "abc", true },
	{ "ab[e-g]", "abc", false },
	{ "ab[^c]", "abc", false },
	{ "ab[^b-d]", "abc", false },
	{ "ab[^e-g]", "abc", true },
	{ "a?b", "a\xe2\x98\xba" "b", true },
	{ "a[^a]b", "a\xe2\x98\xba" "b", true },
	{ "a???b", "a\xe2\x98\xba" "b", false },
	{ "[a-\xce\xb6]*", "\xce\xb1", true },
	{ "*[a-\xce\xb6]", "A", false },
	{ "a?b", "a/b", false },
	{ "a*b", "a/b", false },
	{ "[\\]a]", "]", true },
	{ "[\\-]", "-", true },
	{ "[x\\-]", "x", true },
	{ "[x\\-]", "-", true },
	{ "[x\\-]", "z", false },
	{ "[\\-x]", "a", false },
	{ "*x", "xxx", true },
	/* the docs' examples: top level only, one level, leading slash */
	{ "*.md", "README.md", true },
	{ "*.md", "docs/README.md", false },
	{ "docs/*.md", "docs/a.md", true },
	{ "docs/*.md", "docs/sub/a.md", false },
	{ "docs/*.md", "a.md", false },
	{ "**/*.md", "docs/sub/a.md", true },
	{ "*/temp*", "somedir/temporary.txt", true },
	{ "*/*/temp*", "somedir/subdir/temporary.txt", true },
	{ "temp?", "tempa", true },
	{ "/foo/bar", "foo/bar", true },
	{ "/foo/bar", "foo/bar/baz", true },
	{ "foo/../bar", "bar", true },
	{ "./foo", "foo", true },
	{ "dir/", "dir/x/y", true },
	{ "dir/", "dirx", false },
	{ "**.md", "a/b/c.md", true },
};

typedef struct multicase {
	const char *patterns;
	const char *path;
	bool match;
} multicase;

static const multicase multi[] = {
	{ "**\n!util/docker/web\n", "util/docker/web/foo", false },
	{ "**\n!util/docker/web\nutil/docker/web/foo\n", "util/docker/web/foo", true },
	{ "**\n!dist/*.whl\n", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false },
	{ "*\n!fileutils.go\n", "fileutils.go", false },
	{ "!fileutils.go\n*.go\n", "fileutils.go", true },
	{ "*.go\n!fileutils.go\n", "fileutils.go", false },
	{ "docs\n!docs/README.md\n", "docs/README.md", false },
	{ "docs\n!docs/README.md\n", "docs/other.md", true },
	{ "docs/\n!docs/README.md\n", "docs/README.md", false },
	{ "docs/*\n!docs/README.md\n", "docs/README.md", false },
	{ "*.md\n!README*.md\nREADME-secret.md\n", "README-secret.md", true },
	{ "*.md\n!README*.md\nREADME-secret.md\n", "README.md", false },
	{ "*.md\n!README*.md\nREADME-secret.md\n", "CHANGES.md", true },
	{ "node_modules\n!node_modules/keep\n", "node_modules/keep/x.js", false },
	{ "node_modules\n!node_modules/keep\n", "node_modules/drop/x.js", true },
	{ "# comment\n  \n#*.go\n", "x.go", false },
	{ " # not a comment\n", "# not a comment", true },
	{ "build\r\n!build/keep\r\n", "build/keep", false },
	{ "\xef\xbb\xbf" "bom\n", "bom", true },
	{ "a\n", ".", false },
};

static void test_match_table(void **state)
{
	(void)state;
	size_t n = sizeof(single) / sizeof(single[0]);
	assert_true(n >= 30);
	for (size_t i = 0; i < n; i++) {
		hoist_dockerignore *d = load(single[i].pattern);
		bool got = hoist_dockerignore_matches(d, single[i].path);
		if (got != single[i].match)
			fprintf(stderr, "pattern [%s] path [%s]: got %d\n", single[i].pattern,
				single[i].path, got);
		assert_int_equal(got, single[i].match);
		hoist_dockerignore_free(d);
	}
	for (size_t i = 0; i < sizeof(multi) / sizeof(multi[0]); i++) {
		hoist_dockerignore *d = load(multi[i].patterns);
		bool got = hoist_dockerignore_matches(d, multi[i].path);
		if (got != multi[i].match)
			fprintf(stderr, "patterns [%s] path [%s]: got %d\n", multi[i].patterns,
				multi[i].path, got);
		assert_int_equal(got, multi[i].match);
		hoist_dockerignore_free(d);
	}
}

static void test_bad_patterns(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char content[64];
		snprintf(content, sizeof(content), "ok\n%s\n", bad[i]);
		hoist_dockerignore *d = NULL;
		hoist_error *err = NULL;
		assert_int_equal(hoist_dockerignore_parse(&d, ".dockerignore", content,
			strlen(content), &err), -HOIST_E_INVALID);
		assert_null(d);
		char want[64];
		snprintf(want, sizeof(want), ".dockerignore:2: bad pattern '%s'", bad[i]);
		assert_string_equal(err->msg, want);
		hoist_error_free(err);
	}
	hoist_dockerignore *d = NULL;
	hoist_error *err = NULL;
	assert_int_equal(hoist_dockerignore_parse(&d, "x.dockerignore", "a\n! \n", 5,
		&err), -HOIST_E_INVALID);
	assert_string_equal(err->msg, "x.dockerignore:2: illegal exclusion pattern '!'");
	hoist_error_free(err);
}

static void test_read_rules(void **state)
{
	(void)state;
	/* patternmatcher's ignorefile test, without the "!" lines (errors) */
	hoist_dockerignore *d = load("test1\n/test2\n/a/file/here\n\nlastfile\n"
		"# this is a comment\n! /inverted/abs/path\n  spaced  \ndir/sub/\n/\n");
	static const char *const want[] = {
		"test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path",
		"spaced", "dir/sub", "/",
	};
	assert_int_equal(hoist_dockerignore_n_patterns(d), 8);
	for (size_t i = 0; i < 8; i++)
		assert_string_equal(hoist_dockerignore_pattern(d, i), want[i]);
	assert_null(hoist_dockerignore_pattern(d, 8));
	assert_true(hoist_dockerignore_has_exceptions(d));
	assert_true(hoist_dockerignore_matches(d, "test2"));
	assert_true(hoist_dockerignore_matches(d, "./a/file/here/x"));
	assert_true(hoist_dockerignore_matches(d, "/lastfile"));
	assert_false(hoist_dockerignore_matches(d, "a/file"));
	hoist_dockerignore_free(d);

	d = load("");
	assert_int_equal(hoist_dockerignore_n_patterns(d), 0);
	assert_false(hoist_dockerignore_matches(d, "anything"));
	assert_false(hoist_dockerignore_has_exceptions(d));
	hoist_dockerignore_free(d);
}

static void test_may_reinclude(void **state)
{
	(void)state;
	hoist_dockerignore *d = load("node_modules\nbuild\n!node_modules/keep\n");
	assert_true(hoist_dockerignore_matches(d, "node_modules"));
	assert_true(hoist_dockerignore_may_reinclude(d, "node_modules"));
	assert_true(hoist_dockerignore_matches(d, "build"));
	assert_false(hoist_dockerignore_may_reinclude(d, "build"));
	assert_false(hoist_dockerignore_may_reinclude(d, "node_modules/drop"));
	assert_true(hoist_dockerignore_may_reinclude(d, "."));
	hoist_dockerignore_free(d);

	/* wildcard exceptions reach into any directory they could match */
	d = load("*\n!**/*.keep\n");
	assert_true(hoist_dockerignore_may_reinclude(d, "anything"));
	assert_true(hoist_dockerignore_may_reinclude(d, "a/b/c"));
	hoist_dockerignore_free(d);

	d = load("docs\nsrc\n!docs/*.md\n!src/**/gen\n!lib/x\n");
	assert_true(hoist_dockerignore_may_reinclude(d, "docs"));
	assert_false(hoist_dockerignore_may_reinclude(d, "docs/sub"));
	assert_true(hoist_dockerignore_may_reinclude(d, "src"));
	assert_true(hoist_dockerignore_may_reinclude(d, "src/a/b"));
	assert_false(hoist_dockerignore_may_reinclude(d, "other"));
	/* an exception matching a parent directory re-includes everything */
	assert_true(hoist_dockerignore_may_reinclude(d, "lib/x/deep"));
	hoist_dockerignore_free(d);

	d = load("tmp\n");
	assert_false(hoist_dockerignore_may_reinclude(d, "tmp"));
	assert_false(hoist_dockerignore_may_reinclude(d, "."));
	hoist_dockerignore_free(d);

	d = load("cache\n!cache/keep**\n");
	assert_true(hoist_dockerignore_may_reinclude(d, "cache"));
	assert_false(hoist_dockerignore_may_reinclude(d, "cache/other"));
	assert_true(hoist_dockerignore_may_reinclude(d, "cache/keeper"));
	assert_false(hoist_dockerignore_matches(d, "cache/keeper/x"));
	hoist_dockerignore_free(d);
}

static void write_file(int dfd, const char *name, const char *content)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static void test_load_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/hoist-ignore-XXXXXX";
	assert_non_null(mkdtemp(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	hoist_dockerignore *d = NULL;
	hoist_error *err = NULL;

	/* nothing: excludes nothing */
	assert_int_equal(hoist_dockerignore_load(&d, dfd, NULL, &err), 0);
	assert_int_equal(hoist_dockerignore_n_patterns(d), 0);
	hoist_dockerignore_free(d);

	write_file(dfd, ".dockerignore", "from-context\n");
	assert_int_equal(mkdirat(dfd, "sub", 0755), 0);
	write_file(dfd, "sub/app.Dockerfile", "FROM a\n");
	char df[300];
	snprintf(df, sizeof(df), "%s/sub/app.Dockerfile", dir);
	assert_int_equal(hoist_dockerignore_load(&d, dfd, df, &err), 0);
	assert_true(hoist_dockerignore_matches(d, "from-context"));
	hoist_dockerignore_free(d);

	/* DOCKERFILE.dockerignore next to the Dockerfile wins */
	write_file(dfd, "sub/app.Dockerfile.dockerignore", "from-dockerfile\n[\n");
	assert_int_equal(hoist_dockerignore_load(&d, dfd, df, &err), -HOIST_E_INVALID);
	assert_non_null(strstr(err->msg, "app.Dockerfile.dockerignore:2: bad pattern '['"));
	hoist_error_free(err);
	err = NULL;
	write_file(dfd, "sub/app.Dockerfile.dockerignore", "from-dockerfile\n");
	assert_int_equal(hoist_dockerignore_load(&d, dfd, df, &err), 0);
	assert_true(hoist_dockerignore_matches(d, "from-dockerfile"));
	assert_false(hoist_dockerignore_matches(d, "from-context"));
	hoist_dockerignore_free(d);

	unlinkat(dfd, "sub/app.Dockerfile.dockerignore", 0);
	unlinkat(dfd, "sub/app.Dockerfile", 0);
	unlinkat(dfd, "sub", AT_REMOVEDIR);
	unlinkat(dfd, ".dockerignore", 0);
	close(dfd);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_bad_patterns),
		cmocka_unit_test(test_read_rules),
		cmocka_unit_test(test_may_reinclude),
		cmocka_unit_test(test_load_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
