/* One function per command, each in cli/cmd_NAME.c. */
#ifndef HOIST_CLI_CMDS_H
#define HOIST_CLI_CMDS_H

#include "hoist/ctx.h"

int cmd_cp(hoist_ctx *ctx, int argc, char **argv);
int cmd_inspect(hoist_ctx *ctx, int argc, char **argv);
int cmd_manifest(hoist_ctx *ctx, int argc, char **argv);
int cmd_config(hoist_ctx *ctx, int argc, char **argv);
int cmd_digest(hoist_ctx *ctx, int argc, char **argv);
int cmd_history(hoist_ctx *ctx, int argc, char **argv);
int cmd_images(hoist_ctx *ctx, int argc, char **argv);
int cmd_rmi(hoist_ctx *ctx, int argc, char **argv);
int cmd_gc(hoist_ctx *ctx, int argc, char **argv);
int cmd_tag(hoist_ctx *ctx, int argc, char **argv);
int cmd_ls(hoist_ctx *ctx, int argc, char **argv);
int cmd_catalog(hoist_ctx *ctx, int argc, char **argv);
int cmd_delete(hoist_ctx *ctx, int argc, char **argv);
int cmd_login(hoist_ctx *ctx, int argc, char **argv);
int cmd_logout(hoist_ctx *ctx, int argc, char **argv);
int cmd_append(hoist_ctx *ctx, int argc, char **argv);
int cmd_mutate(hoist_ctx *ctx, int argc, char **argv);
int cmd_rebase(hoist_ctx *ctx, int argc, char **argv);
int cmd_export(hoist_ctx *ctx, int argc, char **argv);
int cmd_ls_layer(hoist_ctx *ctx, int argc, char **argv);
int cmd_pack(hoist_ctx *ctx, int argc, char **argv);
int cmd_build(hoist_ctx *ctx, int argc, char **argv);
int cmd_run(hoist_ctx *ctx, int argc, char **argv);

#endif
