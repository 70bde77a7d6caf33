/* USER resolution against the image's /etc/passwd and /etc/group, with
 * the semantics of runc's GetExecUser (what Docker uses):
 *   - the user part is a name, or a number taken as a uid; a uid found in
 *     passwd takes its gid (and name) from there, an unknown uid is used
 *     as is with gid 0; an unknown name is an error;
 *   - the group part, when given, is a name or a number taken as a gid
 *     (an unknown number is used as is, an unknown name is an error) and
 *     then there are no supplementary groups;
 *   - without a group part, the supplementary groups are the groups of
 *     /etc/group that list the user's name.
 * Streams the files through a fixed buffer and never allocates: the
 * sandbox child calls it (see internal.h). */
#include "sandbox/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"

#define FIELD_MAX 256
#define ID_MAX 2147483647u

typedef struct reader {
	int fd;
	char buf[4096];
	size_t pos;
	size_t len;
	int err; /* errno of a failed read */
} reader;

static int rd_getc(reader *r)
{
	if (r->pos == r->len) {
		if (r->fd < 0)
			return -1;
		ssize_t k;
		do {
			k = read(r->fd, r->buf, sizeof(r->buf));
		} while (k < 0 && errno == EINTR);
		if (k <= 0) {
			if (k < 0)
				r->err = errno;
			return -1;
		}
		r->pos = 0;
		r->len = (size_t)k;
	}
	return (unsigned char)r->buf[r->pos++];
}

/* Reads one field up to ':' (or also ',' when commas), '\n' or the end.
 * out gets at most FIELD_MAX-1 bytes; *trunc says when more were
 * dropped.  Returns the separator, or -1 at the end of the file (*any
 * says whether anything was read before it). */
static int rd_field(reader *r, bool commas, char out[FIELD_MAX], bool *trunc,
	bool *any)
{
	size_t n = 0;
	*trunc = false;
	*any = false;
	for (;;) {
		int c = rd_getc(r);
		if (c < 0 || c == '\n' || c == ':' || (commas && c == ',')) {
			out[n] = '\0';
			return c;
		}
		*any = true;
		if (n + 1 < FIELD_MAX)
			out[n++] = (char)c;
		else
			*trunc = true;
	}
}

static int rd_skip_line(reader *r, int sep)
{
	while (sep >= 0 && sep != '\n')
		sep = rd_getc(r);
	return sep;
}

static bool parse_id(const char *s, uint32_t *out)
{
	if (!*s)
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > 0xffffffffu)
			v = 0x100000000u; /* stays out of range */
	}
	*out = v > 0xffffffffu ? 0xffffffffu : (uint32_t)v;
	return true;
}

static int fmt(char *msg, size_t msglen, int code, const char *f, ...)
	__attribute__((format(printf, 4, 5)));
static int fmt(char *msg, size_t msglen, int code, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	vsnprintf(msg, msglen, f, ap);
	va_end(ap);
	return -code;
}

/* Opens etc/NAME inside the root; -1 with errno ENOENT when it is not
 * there (an image without the file simply has no entries). */
static int open_etc(int rootfd, const char *name, int *fd_out)
{
	int fd = sbx_open_in_root(rootfd, name, O_RDONLY);
	if (fd < 0 && fd != -ENOENT)
		return fd;
	*fd_out = fd < 0 ? -1 : fd;
	return 0;
}

typedef struct pw_match {
	bool found;
	char name[FIELD_MAX];
	uint32_t uid;
	uint32_t gid;
} pw_match;

/* The first passwd entry whose name is `name` (or whose uid is `uid` when
 * by_uid). */
static int passwd_find(int fd, bool by_uid, const char *name, uint32_t uid,
	pw_match *m)
{
	reader r = { .fd = fd };
	char f[4][FIELD_MAX];
	m->found = false;
	for (;;) {
		bool trunc[4] = { false }, any = false, anyline = false;
		int sep = 0;
		int nf = 0;
		while (nf < 4) {
			sep = rd_field(&r, false, f[nf], &trunc[nf], &any);
			anyline |= any;
			nf++;
			if (sep != ':')
				break;
		}
		if (sep < 0 && !anyline)
			break;
		sep = rd_skip_line(&r, sep);
		uint32_t u, g;
		if (nf == 4 && !trunc[0] && parse_id(f[2], &u) && parse_id(f[3], &g)
			&& (by_uid ? u == uid : strcmp(f[0], name) == 0)) {
			m->found = true;
			memcpy(m->name, f[0], sizeof(m->name));
			m->uid = u;
			m->gid = g;
			return 0;
		}
		if (sep < 0)
			break;
	}
	return r.err ? -r.err : 0;
}

/* With `group` set: the gid of the first group named `group` (or with gid
 * `gid` when by_gid) into *found_gid.  With `member` set: every group that
 * lists member, appended to u->groups. */
static int group_scan(int fd, const char *group, bool by_gid, uint32_t gid,
	uint32_t *found_gid, bool *found, const char *member,
	hoist_sandbox_user *u, char *msg, size_t msglen)
{
	reader r = { .fd = fd };
	char f[FIELD_MAX];
	char gname[FIELD_MAX];
	*found = false;
	for (;;) {
		bool trunc = false, name_trunc = false, any = false, anyline = false;
		uint32_t g = 0;
		bool gid_ok = false;
		int sep = rd_field(&r, false, gname, &name_trunc, &any);
		anyline |= any;
		int nf = 1;
		while (sep == ':' && nf < 3) {
			sep = rd_field(&r, false, f, &trunc, &any);
			anyline |= any;
			if (nf == 2)
				gid_ok = parse_id(f, &g);
			nf++;
		}
		if (sep < 0 && !anyline)
			break;
		if (nf == 3 && sep == ':' && gid_ok && member) {
			/* The member list. */
			bool is_member = false;
			do {
				sep = rd_field(&r, true, f, &trunc, &any);
				if (!trunc && strcmp(f, member) == 0)
					is_member = true;
			} while (sep == ',');
			if (is_member) {
				bool dup = false;
				for (size_t i = 0; i < u->n_groups; i++)
					dup |= u->groups[i] == g;
				if (!dup) {
					if (u->n_groups == HOIST_SANDBOX_MAX_GROUPS)
						return fmt(msg, msglen, HOIST_E_LIMIT,
							"user '%s' is in more than %d groups",
							member, HOIST_SANDBOX_MAX_GROUPS);
					u->groups[u->n_groups++] = g;
				}
			}
		} else if (nf == 3 && gid_ok && group && !*found
			&& (by_gid ? g == gid : (!name_trunc && strcmp(gname, group) == 0))) {
			*found = true;
			*found_gid = g;
		}
		sep = rd_skip_line(&r, sep);
		if (sep < 0)
			break;
	}
	if (r.err)
		return fmt(msg, msglen, HOIST_E_IO, "read '/etc/group': %s",
			strerror(r.err));
	return 0;
}

int sbx_user_resolve(hoist_sandbox_user *out, int rootfd, const char *spec,
	char *msg, size_t msglen)
{
	char ubuf[FIELD_MAX], gbuf[FIELD_MAX];
	const char *gpart = NULL;
	memset(out, 0, sizeof(*out));
	if (!spec)
		spec = "";
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	if (ulen >= sizeof(ubuf) || (colon && strlen(colon + 1) >= sizeof(gbuf)))
		return fmt(msg, msglen, HOIST_E_INVALID, "user '%s' is too long", spec);
	memcpy(ubuf, spec, ulen);
	ubuf[ulen] = '\0';
	if (colon) {
		/* Like runc, "user:group:more" keeps only two fields. */
		const char *g = colon + 1;
		const char *c2 = strchr(g, ':');
		size_t glen = c2 ? (size_t)(c2 - g) : strlen(g);
		memcpy(gbuf, g, glen);
		gbuf[glen] = '\0';
		gpart = gbuf[0] ? gbuf : NULL;
	}

	uint32_t uid = 0, gid_arg = 0;
	/* The empty user is root: look it up by uid like a numeric one,
	 * for its gid and groups, without requiring an entry. */
	bool by_uid = ubuf[0] == '\0' || parse_id(ubuf, &uid);
	bool gid_numeric = gpart && parse_id(gpart, &gid_arg);
	if ((by_uid && uid > ID_MAX) || (gid_numeric && gid_arg > ID_MAX))
		return fmt(msg, msglen, HOIST_E_INVALID,
			"user '%s': uids and gids must be in range 0-%u", spec, ID_MAX);

	_cleanup_close_ int pwfd = -1;
	int r = open_etc(rootfd, "/etc/passwd", &pwfd);
	if (r < 0)
		return fmt(msg, msglen, HOIST_E_IO, "open '/etc/passwd': %s",
			strerror(-r));
	pw_match m;
	r = passwd_find(pwfd, by_uid, ubuf, uid, &m);
	if (r < 0)
		return fmt(msg, msglen, HOIST_E_IO, "read '/etc/passwd': %s",
			strerror(-r));
	if (m.found) {
		out->uid = m.uid;
		out->gid = m.gid;
	} else if (by_uid) {
		out->uid = uid;
		out->gid = 0;
	} else {
		return fmt(msg, msglen, HOIST_E_NOTFOUND,
			"unable to find user %s: no matching entries in passwd file",
			ubuf);
	}

	if (!gpart && !m.found)
		return 0;
	_cleanup_close_ int grfd = -1;
	r = open_etc(rootfd, "/etc/group", &grfd);
	if (r < 0)
		return fmt(msg, msglen, HOIST_E_IO, "open '/etc/group': %s",
			strerror(-r));
	bool found = false;
	uint32_t g = 0;
	r = group_scan(grfd, gpart, gid_numeric, gid_arg, &g, &found,
		gpart ? NULL : m.name, out, msg, msglen);
	if (r < 0)
		return r;
	if (gpart) {
		if (found)
			out->gid = g;
		else if (gid_numeric)
			out->gid = gid_arg;
		else
			return fmt(msg, msglen, HOIST_E_NOTFOUND,
				"unable to find group %s: no matching entries in group file",
				gpart);
	}
	return 0;
}

int hoist_sandbox_user_resolve(hoist_sandbox_user *out, int rootfd,
	const char *spec, hoist_error **err)
{
	char msg[512];
	int r = sbx_user_resolve(out, rootfd, spec, msg, sizeof(msg));
	if (r < 0)
		return hoist_error_set(err, -r, "%s", msg);
	return 0;
}
