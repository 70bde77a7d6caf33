/* Image names with their transport, one format everywhere in the CLI:
 *   REF | docker://REF          a registry reference (hoist/ref.h)
 *   oci:DIR[:TAG|@DIGEST]        an OCI image layout directory
 *   docker-archive:FILE[:TAG]    a `docker save` / `docker load` tarball
 *   local:NAME[:TAG|@DIGEST]     the local store ($HOIST_HOME)
 * As in skopeo, the path of oci: and docker-archive: ends at its first ':'
 * (paths cannot contain ':').  For oci: what follows is the image's name
 * in the layout (a tag such as "v1", or any ref.name string); "oci:DIR@DIGEST"
 * selects by digest.  For docker-archive: what follows is a docker
 * reference NAME[:TAG] (RepoTags), kept in `tag` in familiar form with its
 * tag ("busybox:latest"). */
#ifndef HOIST_IMGREF_H
#define HOIST_IMGREF_H

#include "hoist/error.h"
#include "hoist/ref.h"

typedef enum hoist_transport_kind {
	HOIST_TRANSPORT_REGISTRY = 0,
	HOIST_TRANSPORT_OCI = 1,
	HOIST_TRANSPORT_ARCHIVE = 2,
	HOIST_TRANSPORT_LOCAL = 3,
} hoist_transport_kind;

typedef struct hoist_imgref {
	hoist_transport_kind kind;
	char *input;     /* the string as given */
	hoist_ref *ref;  /* REGISTRY: the parsed reference; LOCAL: the name
	                    parsed as a reference (domain/path:tag) */
	char *path;      /* OCI: directory; ARCHIVE: file */
	char *tag;       /* OCI: name in the layout or NULL; ARCHIVE: familiar
	                    "name:tag" or NULL; LOCAL: copy of the ref's tag */
	char *digest;    /* OCI/LOCAL: "@digest" selection or NULL */
} hoist_imgref;

int hoist_imgref_parse(hoist_imgref **out, const char *s, hoist_error **err);
void hoist_imgref_free(hoist_imgref *r);
/* Canonical display form, e.g. "oci:/tmp/x:v1", "docker.io/library/a:1". */
char *hoist_imgref_string(const hoist_imgref *r);
const char *hoist_transport_name(hoist_transport_kind k);

/* The ref.name annotation hoist uses for a LOCAL image: the familiar name
 * with tag, e.g. "myapp:latest", "localhost:5000/x:1". Caller frees. */
char *hoist_imgref_local_name(const hoist_imgref *r);

#endif
