/* Risky libc calls, banned at compile time (git's banned.h).  Force-included
 * into every libhoist and cli source by meson (-include); it pulls in the
 * headers that declare them first so that later includes are no-ops and only
 * calls in our code hit the macros. */
#ifndef HOIST_UTIL_BANNED_H
#define HOIST_UTIL_BANNED_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOIST_BANNED(func) sorry_##func##_is_banned_in_hoist

#undef strcpy
#define strcpy(x, y) HOIST_BANNED(strcpy)
#undef strcat
#define strcat(x, y) HOIST_BANNED(strcat)
#undef sprintf
#define sprintf(...) HOIST_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) HOIST_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) HOIST_BANNED(strtok)
#undef gets
#define gets(x) HOIST_BANNED(gets)
#undef atoi
#define atoi(x) HOIST_BANNED(atoi)

#endif
