/* .dockerignore: which files of the build context are left out, with
 * Docker's rules (moby/patternmatcher and its ignorefile reader).
 *
 * The file: one pattern a line; a line starting with '#' is a comment;
 * lines are trimmed; "!pattern" is an exception (re-includes); patterns are
 * cleaned like Go's filepath.Clean and a leading '/' is dropped, so "/a/b/"
 * is "a/b".  In a pattern, '*' is any run of characters but '/', '?' one
 * character but '/', "[a-z]" / "[^a-z]" a class, '\' escapes, and "**"
 * any number of directories ("**" + "/" matches zero or more).
 *
 * A path is excluded when the last pattern that matches it - or any of its
 * parent directories - is not an exception.  So "docs" excludes
 * "docs/a.md", and "docs" then "!docs/README.md" keeps "docs/README.md".
 * "*.md" matches at the top only; "**" followed by "/" and "*.md" matches at
 * any depth. */
#ifndef HOIST_DOCKERIGNORE_H
#define HOIST_DOCKERIGNORE_H

#include <stdbool.h>
#include <stddef.h>

#include "hoist/error.h"

/* An ignore file larger than this, or a pattern longer than a path can
 * be, is refused (HOIST_E_LIMIT). */
#define HOIST_DOCKERIGNORE_MAX (1024 * 1024)
#define HOIST_DOCKERIGNORE_PATTERN_MAX 4096

typedef struct hoist_dockerignore hoist_dockerignore;

/* Parses an ignore file's content; name for messages (".dockerignore").
 * A malformed pattern ("[a-", "!" alone) fails with HOIST_E_INVALID:
 * ".dockerignore:3: bad pattern '[a-'". */
int hoist_dockerignore_parse(hoist_dockerignore **out, const char *name,
	const char *data, size_t len, hoist_error **err);
/* The ignore file of a build: "DOCKERFILE.dockerignore" when dockerfile
 * (a path relative to the cwd, or absolute; may be NULL) is given and that
 * file exists, else ".dockerignore" in the context directory.  Neither
 * existing gives a matcher that excludes nothing. */
int hoist_dockerignore_load(hoist_dockerignore **out, int context_dirfd,
	const char *dockerfile, hoist_error **err);
void hoist_dockerignore_free(hoist_dockerignore *d);

/* Whether path (relative to the context, '/'-separated; cleaned here) is
 * excluded.  The context root "." never is. */
bool hoist_dockerignore_matches(const hoist_dockerignore *d, const char *path);
/* For a directory that matches: whether an exception could re-include a
 * path below it (so the walker must descend).  false means the whole
 * directory can be skipped.  Conservative: true when unsure. */
bool hoist_dockerignore_may_reinclude(const hoist_dockerignore *d,
	const char *dir);
/* Whether any pattern is an exception. */
bool hoist_dockerignore_has_exceptions(const hoist_dockerignore *d);

/* The cleaned patterns, in order ("!" kept in front of exceptions), for
 * display and cache keys.  Borrowed. */
size_t hoist_dockerignore_n_patterns(const hoist_dockerignore *d);
const char *hoist_dockerignore_pattern(const hoist_dockerignore *d, size_t i);

#endif
