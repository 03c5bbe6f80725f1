/* Unit tests for the slot pool push and pull share (src/pipeline/pool.c): sizing, LIFO hand-out, exhaustion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/error.h"
#include "pipeline.h"

#include "expect.h"

#define CHUNK (1u << 20)

static struct ferry_loop *loop;

static int setup(void **state)
{
	(void)state;
	return ferry_loop_create(&loop, NULL) == FERRY_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	ferry_loop_destroy(loop);
	return 0;
}

/* The pool holds what the budget allows, capped by depth, in buffers that fit a frame. */
static void sizing(void **state)
{
	struct ferry_slots s;
	size_t size = (ferry_frame_bound(CHUNK) + 4095) & ~(size_t)4095;

	(void)state;
	CTX("memory 0, no cap");
	EXPECT_ERR(ferry_slots_create(&s, loop, 0, 2, CHUNK, 0), FERRY_OK);
	EXPECT(s.n == ferry_pipeline_pairs(DEFAULT_MEMORY, store_codec_reserve(2, CHUNK), size, 0));
	EXPECT(s.n > 8 && s.nfree == s.n);
	EXPECT(s.bufs.size == size && s.bufs.size >= ferry_frame_bound(CHUNK) && s.bufs.size % 4096 == 0);
	ferry_slots_destroy(&s, loop);

	CTX("depth 8");
	EXPECT_ERR(ferry_slots_create(&s, loop, 0, 2, CHUNK, 8), FERRY_OK);
	EXPECT(s.n == 8 && s.nfree == 8);
	ferry_slots_destroy(&s, loop);

	CTX("a budget smaller than the codecs' reserve still gets the minimum");
	EXPECT_ERR(ferry_slots_create(&s, loop, 1u << 20, 2, CHUNK, 0), FERRY_OK);
	EXPECT(s.n == 4);
	ferry_slots_destroy(&s, loop);
	EXPECT(s.n == 0 && s.free == NULL && s.bufs.buf == NULL);
}

/* The slot put back last is handed out next; an empty pool says so; buffers are distinct. */
static void lifo(void **state)
{
	struct ferry_slots s;
	int got[8];

	(void)state;
	CTX("lifo");
	EXPECT_ERR(ferry_slots_create(&s, loop, 0, 2, CHUNK, 8), FERRY_OK);
	for (int k = 0; k < 8; k++) {
		got[k] = ferry_slots_get(&s);
		if (got[k] < 0)
			fail_msg("slot %d: pool empty", k);
		/* as from a list the slots were pushed on in order: the last one first */
		EXPECT(got[k] == 7 - k);
		EXPECT(s.bufs.used[got[k]] == 1);
	}
	EXPECT(s.nfree == 0);
	/* EXPECT evaluates its condition twice: take each slot first */
	int a = ferry_slots_get(&s), b, c;
	EXPECT(a == -1);
	ferry_slots_put(&s, 3);
	ferry_slots_put(&s, 5);
	a = ferry_slots_get(&s);
	b = ferry_slots_get(&s);
	c = ferry_slots_get(&s);
	EXPECT(a == 5 && b == 3 && c == -1);

	for (unsigned i = 0; i < s.n; i++) {
		uint8_t *plain, *frame;
		int pbi, fbi;

		ferry_slots_buffers(&s, i, &plain, &pbi, &frame, &fbi);
		EXPECT(plain && frame && plain != frame);
		EXPECT(((uintptr_t)plain & 4095) == 0 && ((uintptr_t)frame & 4095) == 0);
		EXPECT(pbi == (int)(2 * i) && fbi == (int)(2 * i + 1));
		EXPECT(plain == s.bufs.buf[pbi] && frame == s.bufs.buf[fbi]);
		memset(plain, 0xa5, s.bufs.size); /* the whole buffer is ours: ASan would say otherwise */
		memset(frame, 0x5a, s.bufs.size);
	}
	ferry_slots_destroy(&s, loop);
}

/* A pool never created (zeroed, as in a run whose setup failed early) can be destroyed. */
static void destroy_zeroed(void **state)
{
	struct ferry_slots s;

	(void)state;
	memset(&s, 0, sizeof(s));
	ferry_slots_destroy(&s, loop);
	EXPECT(s.n == 0 && s.free == NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizing),
		cmocka_unit_test(lifo),
		cmocka_unit_test(destroy_zeroed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
