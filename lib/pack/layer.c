/* Writing a pack plan into a layer.  Apart from pack.c so that programs
 * using only the plan do not link the layer writer. */
#include "hoist/pack.h"

#include "hoist/layer.h"

int hoist_pack_plan_write_layer(const hoist_pack_plan *p,
	hoist_layer_writer *w, hoist_error **err)
{
	size_t n = hoist_pack_plan_size(p);
	for (size_t i = 0; i < n; i++) {
		const hoist_pack_entry *e = hoist_pack_plan_entry(p, i);
		int rc;
		switch (e->kind) {
		case HOIST_PACK_DIR: {
			mode_t mode = e->mode;
			/* The writer owns every entry by one uid (its options):
			 * a directory meant for another user is made writable
			 * by all, sticky as /tmp, so that user can still use
			 * it. */
			if (e->uid != 0 || e->gid != 0)
				mode = 01777;
			rc = hoist_layer_writer_add_dir(w, e->path, mode, err);
			break;
		}
		case HOIST_PACK_DATA:
			rc = hoist_layer_writer_add_data(w, e->path, e->data, e->len,
				e->mode, err);
			break;
		default:
			rc = hoist_layer_writer_add_path(w, e->host_path, e->path, err);
			break;
		}
		if (rc < 0)
			return hoist_error_wrap(err, HOIST_E_IO, "pack '%s'", e->path);
	}
	return 0;
}
