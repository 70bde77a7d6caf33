/* The demo's program: built by the first stage of ./Dockerfile, run by
 * `hoist run hello:demo` in a minimal image as a non-root user. */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *who = argc > 1 ? argv[1] : "hoist";
	printf("Hello from %s! I am running as uid %d, gid %d.\n", who,
		(int)getuid(), (int)getgid());
	return 0;
}
