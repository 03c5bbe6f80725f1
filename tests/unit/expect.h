/* Shared by the codec unit tests: assertions that say which case failed, and how. */
#ifndef FERRY_TEST_EXPECT_H
#define FERRY_TEST_EXPECT_H

static char ctx[192];
#define CTX(...) snprintf(ctx, sizeof(ctx), __VA_ARGS__)
#define EXPECT_ERR(expr, want)                                                                            \
	do {                                                                                              \
		int e_ = (expr), w_ = (want);                                                             \
		if (e_ != w_)                                                                             \
			print_message("[%s] %s: got %s (%d), want %s (%d)\n", ctx, #expr, ferry_strerror(e_), \
				      e_, ferry_strerror(w_), w_);                                      \
		assert_int_equal(e_, w_);                                                                 \
	} while (0)
#define EXPECT(cond)                                                           \
	do {                                                                   \
		if (!(cond))                                                   \
			print_message("[%s] failed: %s\n", ctx, #cond);        \
		assert_true(cond);                                             \
	} while (0)

#endif
