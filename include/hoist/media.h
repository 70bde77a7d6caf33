/* Media types, descriptors and platforms (OCI image spec + Docker schema 2). */
#ifndef HOIST_MEDIA_H
#define HOIST_MEDIA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "hoist/digest.h"
#include "hoist/error.h"

#define HOIST_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define HOIST_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define HOIST_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define HOIST_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define HOIST_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define HOIST_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define HOIST_MT_OCI_EMPTY "application/vnd.oci.empty.v1+json"
#define HOIST_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define HOIST_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define HOIST_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define HOIST_MT_DOCKER_LAYER "application/vnd.docker.image.rootfs.diff.tar"
#define HOIST_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define HOIST_MT_DOCKER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define HOIST_MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define HOIST_MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* The Accept header value listing every manifest type hoist reads. */
#define HOIST_MT_ACCEPT_MANIFESTS                                              \
	HOIST_MT_OCI_INDEX ", " HOIST_MT_DOCKER_LIST ", " HOIST_MT_OCI_MANIFEST \
	", " HOIST_MT_DOCKER_MANIFEST

typedef enum hoist_media_kind {
	HOIST_MEDIA_UNKNOWN = 0,
	HOIST_MEDIA_MANIFEST,  /* OCI or Docker image manifest */
	HOIST_MEDIA_INDEX,     /* OCI index or Docker manifest list */
	HOIST_MEDIA_CONFIG,
	HOIST_MEDIA_LAYER,
	HOIST_MEDIA_SCHEMA1,   /* recognised, not supported */
} hoist_media_kind;

typedef enum hoist_compression {
	HOIST_COMPRESSION_NONE = 0,
	HOIST_COMPRESSION_GZIP,
	HOIST_COMPRESSION_ZSTD,
	HOIST_COMPRESSION_UNKNOWN,
} hoist_compression;

hoist_media_kind hoist_media_kind_of(const char *media_type);
bool hoist_media_is_docker(const char *media_type);
/* Compression implied by a layer media type. */
hoist_compression hoist_media_layer_compression(const char *media_type);

typedef struct hoist_platform {
	char *os;           /* "linux" */
	char *architecture; /* "amd64", "arm64" */
	char *variant;      /* "v8", NULL */
	char *os_version;   /* NULL unless given */
} hoist_platform;

/* "os/arch[/variant]"; normalises aliases (x86_64->amd64, aarch64->arm64,
 * armhf->arm/v7, ...). */
int hoist_platform_parse(hoist_platform *out, const char *s, hoist_error **err);
/* The platform this process runs on. */
int hoist_platform_host(hoist_platform *out, hoist_error **err);
void hoist_platform_release(hoist_platform *p);
int hoist_platform_copy(hoist_platform *dst, const hoist_platform *src,
	hoist_error **err);
/* "linux/arm64/v8". Caller frees. */
char *hoist_platform_string(const hoist_platform *p);
/* Whether `have` satisfies `want`: os and architecture equal, variant
 * equal when want has one (arm64 with no variant matches v8). */
bool hoist_platform_match(const hoist_platform *want, const hoist_platform *have);

typedef struct hoist_descriptor {
	char *media_type;
	hoist_digest digest;
	int64_t size;
	hoist_platform *platform; /* NULL when absent */
	char *artifact_type;      /* NULL when absent */
	json_t *annotations;      /* object or NULL; owned reference */
	json_t *urls;             /* array or NULL; owned reference */
} hoist_descriptor;

/* Parses a descriptor object, checking mediaType, digest, size >= 0. `where`
 * names it in errors ("layers[2]"). */
int hoist_descriptor_parse(hoist_descriptor *out, json_t *obj, const char *where,
	hoist_error **err);
void hoist_descriptor_release(hoist_descriptor *d);
int hoist_descriptor_copy(hoist_descriptor *dst, const hoist_descriptor *src,
	hoist_error **err);
/* Builds the JSON object for d (new reference). */
json_t *hoist_descriptor_to_json(const hoist_descriptor *d);
/* The org.opencontainers.image.ref.name annotation, or NULL. Borrowed. */
const char *hoist_descriptor_ref_name(const hoist_descriptor *d);

#endif
