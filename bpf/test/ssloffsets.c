// SPDX-License-Identifier: Apache-2.0
/*
 * Checks the structure offsets the OpenSSL probes' fd fallback reads (openssl_fd in
 * netobserver.bpf.c) against the installed libssl: an SSL whose fd was set with SSL_set_fd must
 * show, read raw, ssl_st.rbio at 0x10, bio_st.method at 0x8 with a socket BIO's type (0x0505)
 * first, and bio_st.num = the fd at 0x38 (OpenSSL 3.0; 1.1.1 has no bio_st.libctx: method at 0x0,
 * num at 0x30, which this check cannot see here: Debian 12 ships no libssl1.1).
 */
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SSL_RBIO 0x10
#define BIO_METHOD_V3 0x8
#define BIO_NUM_V3 0x38

int main(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	const int fd = 4242;
	void *bio, *method;
	int32_t type, num;

	printf("ssloffsets: %s\n", OpenSSL_version(OPENSSL_VERSION));
	if (OPENSSL_VERSION_MAJOR != 3 || OpenSSL_version_num() >> 28 != 3) {
		fprintf(stderr, "ssloffsets: FAIL: not OpenSSL 3 (the probes' offsets are for 1.1 and 3.0/3.1)\n");
		return 1;
	}
	if (!ssl || !SSL_set_fd(ssl, fd) || SSL_get_fd(ssl) != fd) {
		fprintf(stderr, "ssloffsets: FAIL: SSL_new/SSL_set_fd\n");
		return 1;
	}
	memcpy(&bio, (char *)ssl + SSL_RBIO, sizeof(bio));
	if (bio != SSL_get_rbio(ssl)) {
		fprintf(stderr, "ssloffsets: FAIL: ssl_st.rbio is not at %#x\n", SSL_RBIO);
		return 1;
	}
	memcpy(&method, (char *)bio + BIO_METHOD_V3, sizeof(method));
	memcpy(&type, method, sizeof(type));
	memcpy(&num, (char *)bio + BIO_NUM_V3, sizeof(num));
	if (type != BIO_TYPE_SOCKET || BIO_method_type(bio) != BIO_TYPE_SOCKET) {
		fprintf(stderr, "ssloffsets: FAIL: bio_st.method->type at %#x reads %#x, not BIO_TYPE_SOCKET (%#x)\n",
			BIO_METHOD_V3, type, BIO_TYPE_SOCKET);
		return 1;
	}
	if (num != fd) {
		fprintf(stderr, "ssloffsets: FAIL: bio_st.num at %#x reads %d, not the fd %d\n", BIO_NUM_V3, num, fd);
		return 1;
	}
	printf("ssloffsets: ok: ssl_st.rbio 0x%x, bio_st.method 0x%x (type 0x%x), bio_st.num 0x%x\n", SSL_RBIO,
	       BIO_METHOD_V3, type, BIO_NUM_V3);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return 0;
}
