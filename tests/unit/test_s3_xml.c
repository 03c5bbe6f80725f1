/* S3 XML: listings, errors, multipart replies, request bodies, and hostile documents refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "s3_xml.h"

#define S(x) x, strlen(x)

static void test_error(void **state)
{
	struct s3_error e;

	(void)state;
	assert_int_equal(s3_xml_error(S("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code>"
					"<Message>The specified bucket does not exist</Message>"
					"<BucketName>b</BucketName><RequestId>tx1</RequestId></Error>"),
				      &e),
			 0);
	assert_string_equal(e.code, "NoSuchBucket");
	assert_string_equal(e.message, "The specified bucket does not exist");
	/* not an error document, or no code: refused */
	assert_int_equal(s3_xml_error(S("<ListBucketResult/>"), &e), -1);
	assert_int_equal(s3_xml_error(S("<Error><Message>x</Message></Error>"), &e), -1);
	assert_int_equal(s3_xml_error(S("<Error><Code>A</Code>"), &e), -1); /* unterminated */
}

static void test_listing(void **state)
{
	struct s3_listing l;

	(void)state;
	assert_int_equal(s3_xml_listing(S("<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
					  "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>"
					  "<NextContinuationToken>tok+/=</NextContinuationToken>"
					  "<Contents><Key>p/a &amp; b.txt</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>"
					  "<ETag>&quot;abc&quot;</ETag><Size>12</Size></Contents>"
					  "<Contents><Key>p/\xc3\xa9</Key><Size>0</Size></Contents>"
					  "</ListBucketResult>"),
					&l),
			 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.objects[0].key, "p/a & b.txt");
	assert_int_equal(l.objects[0].size, 12);
	assert_string_equal(l.objects[1].key, "p/\xc3\xa9");
	assert_int_equal(l.objects[1].size, 0);
	assert_true(l.truncated);
	assert_string_equal(l.next_token, "tok+/=");
	s3_listing_free(&l);

	/* the last page */
	assert_int_equal(s3_xml_listing(S("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"), &l), 0);
	assert_int_equal(l.n, 0);
	assert_false(l.truncated);
	s3_listing_free(&l);

	/* truncated without a token, a Contents without a Size, a negative size, a wrong root */
	assert_int_equal(s3_xml_listing(S("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"), &l), -1);
	assert_int_equal(s3_xml_listing(S("<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>"), &l), -1);
	assert_int_equal(s3_xml_listing(S("<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>"), &l), -1);
	assert_int_equal(s3_xml_listing(S("<Error><Code>x</Code></Error>"), &l), -1);
}

static void test_hostile(void **state)
{
	struct s3_listing l;
	char *big;
	size_t n = 8000;

	(void)state;
	/* a key longer than S3 allows */
	big = malloc(n + 200);
	strcpy(big, "<ListBucketResult><Contents><Key>");
	memset(big + strlen(big), 'k', 2000);
	strcpy(big + strlen("<ListBucketResult><Contents><Key>") + 2000, "</Key><Size>1</Size></Contents></ListBucketResult>");
	assert_int_equal(s3_xml_listing(big, strlen(big), &l), -1);
	/* nesting deeper than any S3 reply */
	strcpy(big, "");
	for (int i = 0; i < 40; i++)
		strcat(big, "<a>");
	assert_int_equal(s3_xml_listing(big, strlen(big), &l), -1);
	free(big);
	/* entities expand only as far as the limits allow: this one would make a key of 1840 bytes */
	assert_int_equal(s3_xml_listing(S("<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
					  "<ListBucketResult><Contents><Key>&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;</Key>"
					  "<Size>1</Size></Contents></ListBucketResult>"),
					&l),
			 -1);
	/* an external entity is never fetched */
	assert_int_equal(s3_xml_listing(S("<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
					  "<ListBucketResult><Contents><Key>&e;</Key><Size>1</Size></Contents></ListBucketResult>"),
					&l) == 0 && l.n == 1 && strstr(l.objects[0].key, "root") != NULL,
			 0);
	s3_listing_free(&l);
	assert_int_equal(s3_xml_listing(S("not xml at all"), &l), -1);
	assert_int_equal(s3_xml_listing("", 0, &l), -1);
}

static void test_multipart(void **state)
{
	char id[256];
	struct s3_parts p;
	char key[64], code[64];

	(void)state;
	assert_int_equal(s3_xml_upload_id(S("<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
					    "<UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>"),
					  id, sizeof(id)),
			 0);
	assert_string_equal(id, "VXBsb2FkIElE");
	assert_int_equal(s3_xml_upload_id(S("<InitiateMultipartUploadResult/>"), id, sizeof(id)), -1);

	assert_int_equal(s3_xml_parts(S("<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>2</NextPartNumberMarker>"
					"<Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag><Size>5242880</Size></Part>"
					"<Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag><Size>7</Size></Part></ListPartsResult>"),
				      &p),
			 0);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.parts[0].number, 1);
	assert_int_equal(p.parts[0].size, 5242880);
	assert_string_equal(p.parts[1].etag, "\"e2\"");
	assert_true(p.truncated);
	assert_int_equal(p.next_marker, 2);
	s3_parts_free(&p);
	assert_int_equal(s3_xml_parts(S("<ListPartsResult><Part><PartNumber>10001</PartNumber><ETag>x</ETag></Part></ListPartsResult>"), &p), -1);

	assert_int_equal(s3_xml_delete_errors(S("<DeleteResult><Deleted><Key>a</Key></Deleted>"
						"<Error><Key>b</Key><Code>AccessDenied</Code></Error>"
						"<Error><Key>c</Key><Code>InternalError</Code></Error></DeleteResult>"),
					      key, sizeof(key), code, sizeof(code)),
			 2);
	assert_string_equal(key, "b");
	assert_string_equal(code, "AccessDenied");

	struct s3_uploads u;
	assert_int_equal(s3_xml_uploads(S("<ListMultipartUploadsResult><Bucket>b</Bucket><IsTruncated>true</IsTruncated>"
					  "<NextKeyMarker>p/k2</NextKeyMarker><NextUploadIdMarker>id2</NextUploadIdMarker>"
					  "<Upload><Key>p/k1</Key><UploadId>id1</UploadId><Initiated>x</Initiated></Upload>"
					  "<Upload><Key>p/k2</Key><UploadId>id2</UploadId></Upload>"
					  "</ListMultipartUploadsResult>"),
					&u),
			 0);
	assert_int_equal(u.n, 2);
	assert_string_equal(u.uploads[0].key, "p/k1");
	assert_string_equal(u.uploads[1].upload_id, "id2");
	assert_true(u.truncated);
	assert_string_equal(u.next_key, "p/k2");
	assert_string_equal(u.next_id, "id2");
	s3_uploads_free(&u);
	/* empty, missing fields, truncated without a marker, another document */
	assert_int_equal(s3_xml_uploads(S("<ListMultipartUploadsResult></ListMultipartUploadsResult>"), &u), 0);
	assert_int_equal(u.n, 0);
	s3_uploads_free(&u);
	assert_int_equal(s3_xml_uploads(S("<ListMultipartUploadsResult><Upload><Key>k</Key></Upload></ListMultipartUploadsResult>"), &u), -1);
	assert_int_equal(s3_xml_uploads(S("<ListMultipartUploadsResult><IsTruncated>true</IsTruncated></ListMultipartUploadsResult>"), &u), -1);
	assert_int_equal(s3_xml_uploads(S("<ListPartsResult/>"), &u), -1);
}

static void test_bodies(void **state)
{
	struct s3_part parts[2] = { { 1, 0, "\"a&b\"" }, { 2, 0, "\"c\"" } };
	const char *keys[] = { "x<y", "plain" };
	size_t len;
	char *b;

	(void)state;
	b = s3_xml_complete_body(parts, 2, &len);
	assert_non_null(b);
	assert_int_equal(len, strlen(b));
	assert_non_null(strstr(b, "<Part><PartNumber>1</PartNumber><ETag>&quot;a&amp;b&quot;</ETag></Part>"));
	assert_non_null(strstr(b, "<PartNumber>2</PartNumber>"));
	free(b);
	b = s3_xml_delete_body(keys, 2, &len);
	assert_non_null(strstr(b, "<Key>x&lt;y</Key>"));
	assert_non_null(strstr(b, "<Quiet>true</Quiet>"));
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error),	  cmocka_unit_test(test_listing), cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_multipart), cmocka_unit_test(test_bodies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
