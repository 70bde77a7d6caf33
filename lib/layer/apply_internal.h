/* Internal to lib/layer: hooks of the layer applier for the tests. */
#ifndef HOIST_LAYER_APPLY_INTERNAL_H
#define HOIST_LAYER_APPLY_INTERNAL_H

#include "hoist/layer.h"

/* Resolve paths with the component walk that stands in for openat2 on
 * kernels without it, so that the tests run both resolvers. */
#define HOIST_APPLY_FORCE_WALK 0x1u

/* hoist_layer_apply with HOIST_APPLY_* flags. */
int hoist_layer_apply_ex(int rootfd, hoist_reader *tar,
	const hoist_apply_opts *o, unsigned flags, hoist_change_fn on_change,
	void *ud, hoist_error **err);

#endif
