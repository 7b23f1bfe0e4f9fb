/* LD_PRELOAD shim for TestHostileMySQLTrafficDoesNotKillTheObserver: the first send of a MySQL
 * COM_STMT_EXECUTE longer than 16 KiB sends only the packet header and the command byte, as the
 * kernel does when the socket's send buffer has room for no more (libmariadb sends with
 * MSG_DONTWAIT and writes the rest in the next call, as after any short write). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <sys/socket.h>

static size_t shorten(const void *buf, size_t len)
{
	const uint8_t *b = buf;

	if (len > 5 && b[3] == 0 && b[4] == 0x17 && (b[0] | b[1] << 8 | b[2] << 16) > 16384)
		return 5;
	return len;
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	static ssize_t (*real)(int, const void *, size_t, int);

	if (!real)
		real = (ssize_t (*)(int, const void *, size_t, int))dlsym(RTLD_NEXT, "send");
	return real(fd, buf, shorten(buf, len), flags);
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr, socklen_t alen)
{
	static ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);

	if (!real)
		real = (ssize_t (*)(int, const void *, size_t, int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "sendto");
	return real(fd, buf, shorten(buf, len), flags, addr, alen);
}
