/* Fuzzes hoist_elf_read_fd (the ELF reader of hoist pack) through a memfd.
 * Beyond not crashing: a failure has a well-formed message, a success
 * gives a consistent record (a known class and byte order, ET_EXEC or
 * ET_DYN, an absolute interpreter, non-empty DT_NEEDED names). */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hoist/pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void require(int ok, const char *what, const char *detail)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz_elf: %s: %s\n", what, detail ? detail : "");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("elf", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	hoist_elf *e = NULL;
	hoist_error *err = NULL;
	int rc = hoist_elf_read_fd(&e, fd, "input", &err);
	close(fd);
	if (rc < 0) {
		require(e == NULL, "no result on failure", NULL);
		require(err && err->msg && err->msg[0], "failure with a message", NULL);
		require(err->code == -rc, "code matches return", err->msg);
		require(!strncmp(err->msg, "'input'", 7) ||
			strstr(err->msg, "'input'") != NULL, "message names the file",
			err->msg);
		require(err->msg[strlen(err->msg) - 1] != '.', "no trailing period",
			err->msg);
		hoist_error_free(err);
		return 0;
	}
	require(err == NULL, "no error on success", NULL);
	require(e->elf_class == ELFCLASS32 || e->elf_class == ELFCLASS64, "class", NULL);
	require(e->data == ELFDATA2LSB || e->data == ELFDATA2MSB, "byte order", NULL);
	require(e->type == ET_EXEC || e->type == ET_DYN, "type", NULL);
	require(!e->interp || e->interp[0] == '/', "absolute interpreter", e->interp);
	require(e->n_needed <= HOIST_ELF_MAX_NEEDED, "needed bound", NULL);
	for (size_t i = 0; i < e->n_needed; i++)
		require(e->needed[i] && e->needed[i][0], "needed name", NULL);
	require(!e->static_pie || !e->interp, "static-pie has no interpreter", NULL);
	(void)hoist_elf_architecture(e);
	hoist_elf_free(e);
	return 0;
}
