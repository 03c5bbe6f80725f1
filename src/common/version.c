/* Version strings of ferry and of the libraries this build runs against. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <zstd.h>
#include <xxhash.h>

#include "ferry/ferry.h"

const char *ferry_version_libs(void)
{
	static char buf[256];
	unsigned x = XXH_versionNumber();

	snprintf(buf, sizeof(buf), "zstd %s, %s, xxHash %u.%u.%u", ZSTD_versionString(),
		 OpenSSL_version(OPENSSL_VERSION), x / 10000, (x / 100) % 100, x % 100);
	return buf;
}
