#include "proxy/http1/codec.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace cosmoseal::proxy {
namespace {

using common::Status;

struct Recorder : Http1Parser::Handler {
  std::vector<MessageHead> heads;
  std::vector<std::string> bodies;
  int completes = 0;
  Status onMessageHead(MessageHead& head) noexcept override {
    heads.push_back(head);
    bodies.emplace_back();
    return Status::ok();
  }
  Status onMessageBody(std::string_view data) noexcept override {
    bodies.back().append(data);
    return Status::ok();
  }
  Status onMessageComplete() noexcept override {
    ++completes;
    return Status::ok();
  }
};

Http1Limits testLimits() {
  Http1Limits l;
  l.max_head_bytes = 4096;
  l.max_headers = 20;
  l.max_uri_bytes = 256;
  return l;
}

// Feeds `bytes` to a fresh request parser (all at once, or byte by byte) and returns the status.
Status parseRequest(const std::string& bytes, Recorder* rec, bool byte_by_byte = false) {
  Http1Parser p(Http1Parser::Kind::kRequest, testLimits(), rec);
  if (!byte_by_byte) return p.feed(bytes);
  for (char c : bytes) {
    Status s = p.feed(std::string_view(&c, 1));
    if (!s.isOk()) return s;
  }
  return Status::ok();
}

TEST(Http1ParserTest, ParsesSimpleGet) {
  Recorder rec;
  ASSERT_TRUE(parseRequest("GET /dbs/a HTTP/1.1\r\nHost: x\r\nx-ms-date: d\r\n\r\n", &rec).isOk());
  ASSERT_EQ(rec.heads.size(), 1u);
  EXPECT_EQ(rec.heads[0].method, "GET");
  EXPECT_EQ(rec.heads[0].target, "/dbs/a");
  EXPECT_EQ(rec.heads[0].framing, Framing::kNone);
  EXPECT_TRUE(rec.heads[0].keep_alive);
  EXPECT_EQ(*rec.heads[0].headers.get("X-MS-DATE"), "d");
  EXPECT_EQ(rec.completes, 1);
}

TEST(Http1ParserTest, ByteByByteGivesSameResult) {
  const std::string req =
      "POST /dbs/a/colls/b/docs HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n{\"id\":\"1\"}\n";
  Recorder a, b;
  ASSERT_TRUE(parseRequest(req, &a).isOk());
  ASSERT_TRUE(parseRequest(req, &b, true).isOk());
  ASSERT_EQ(a.bodies.size(), 1u);
  ASSERT_EQ(b.bodies.size(), 1u);
  EXPECT_EQ(a.bodies[0], "{\"id\":\"1\"}\n");
  EXPECT_EQ(b.bodies[0], a.bodies[0]);
  EXPECT_EQ(b.heads[0].content_length, 11u);
}

TEST(Http1ParserTest, PipelinedRequestWaitsForResume) {
  Recorder rec;
  Http1Parser p(Http1Parser::Kind::kRequest, testLimits(), &rec);
  const std::string two =
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
      "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(p.feed(two).isOk());
  EXPECT_EQ(rec.completes, 1);
  EXPECT_TRUE(p.paused());
  EXPECT_EQ(p.bufferedBytes(), std::string("GET /b HTTP/1.1\r\nHost: x\r\n\r\n").size());
  ASSERT_TRUE(p.resume().isOk());
  EXPECT_EQ(rec.completes, 2);
  ASSERT_EQ(rec.heads.size(), 2u);
  EXPECT_EQ(rec.heads[1].target, "/b");
  ASSERT_TRUE(p.resume().isOk());
  EXPECT_TRUE(p.idle());
}

TEST(Http1ParserTest, SmuggledRequestAfterErrorIsNeverParsed) {
  Recorder rec;
  Http1Parser p(Http1Parser::Kind::kRequest, testLimits(), &rec);
  Status s = p.feed(
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(s.detail(), "http1.cl_and_te");
  EXPECT_TRUE(p.dead());
  EXPECT_TRUE(rec.heads.empty());
  EXPECT_FALSE(p.feed("GET /c HTTP/1.1\r\nHost: x\r\n\r\n").isOk());
  EXPECT_TRUE(rec.heads.empty());
}

TEST(Http1ParserTest, ChunkedBodyIsDechunked) {
  Recorder rec;
  ASSERT_TRUE(parseRequest("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
                           &rec)
                  .isOk());
  ASSERT_EQ(rec.completes, 1);
  EXPECT_EQ(rec.heads[0].framing, Framing::kChunked);
  EXPECT_EQ(rec.bodies[0], "hello world");
}

TEST(Http1ParserTest, ConnectionCloseAndHttp10) {
  Recorder rec;
  ASSERT_TRUE(parseRequest("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n", &rec)
                  .isOk());
  EXPECT_FALSE(rec.heads[0].keep_alive);
  Recorder rec10;
  ASSERT_TRUE(parseRequest("GET / HTTP/1.0\r\n\r\n", &rec10).isOk());
  EXPECT_FALSE(rec10.heads[0].keep_alive);
  Recorder rec10ka;
  ASSERT_TRUE(parseRequest("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &rec10ka).isOk());
  EXPECT_TRUE(rec10ka.heads[0].keep_alive);
}

TEST(Http1ParserTest, ExpectContinue) {
  Recorder rec;
  ASSERT_TRUE(parseRequest("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1"
                           "\r\n\r\nx",
                           &rec)
                  .isOk());
  EXPECT_TRUE(rec.heads[0].expect_continue);
  Recorder bad;
  EXPECT_EQ(parseRequest("POST / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n", &bad).detail(),
            "http1.bad_expect");
}

struct BadCase {
  const char* name;
  std::string bytes;
  const char* detail;
  int http_status;
};

class Http1RejectTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(Http1RejectTest, RejectsWithStableDetail) {
  const BadCase& c = GetParam();
  for (bool bytewise : {false, true}) {
    Recorder rec;
    Status s = parseRequest(c.bytes, &rec, bytewise);
    ASSERT_FALSE(s.isOk()) << c.name << (bytewise ? " (byte by byte)" : "");
    EXPECT_EQ(s.detail(), c.detail) << c.name << ": " << s.toString();
    EXPECT_EQ(s.httpStatus(), c.http_status) << c.name;
    // Nothing of a rejected message may reach the handler as a valid head.
    EXPECT_EQ(rec.completes, 0) << c.name;
  }
}

const std::string kPost = "POST /dbs/a/colls/b/docs HTTP/1.1\r\nHost: x\r\n";

INSTANTIATE_TEST_SUITE_P(
    Smuggling, Http1RejectTest,
    ::testing::Values(
        BadCase{"cl_te", kPost + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                "http1.cl_and_te", 400},
        BadCase{"te_cl", kPost + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                "http1.cl_and_te", 400},
        BadCase{"dup_cl", kPost + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
                "http1.duplicate_content_length", 400},
        BadCase{"conflicting_cl", kPost + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
                "http1.duplicate_content_length", 400},
        BadCase{"cl_plus", kPost + "Content-Length: +5\r\n\r\nhello", "http1.bad_content_length", 400},
        BadCase{"cl_hex", kPost + "Content-Length: 0x5\r\n\r\nhello", "http1.bad_content_length", 400},
        BadCase{"cl_negative", kPost + "Content-Length: -1\r\n\r\n", "http1.bad_content_length", 400},
        BadCase{"cl_empty", kPost + "Content-Length:\r\n\r\n", "http1.bad_content_length", 400},
        BadCase{"cl_space_inside", kPost + "Content-Length: 1 0\r\n\r\n", "http1.bad_content_length",
                400},
        BadCase{"cl_overflow", kPost + "Content-Length: 99999999999999999999999\r\n\r\n",
                "http1.bad_content_length", 400},
        BadCase{"space_before_colon", kPost + "Content-Length : 5\r\n\r\nhello",
                "http1.space_before_colon", 400},
        BadCase{"obs_fold", kPost + "X-A: b\r\n  folded\r\n\r\n", "http1.obs_fold", 400},
        BadCase{"leading_space_header", kPost + " Transfer-Encoding: chunked\r\n\r\n", "http1.obs_fold",
                400},
        BadCase{"bare_lf", "GET / HTTP/1.1\nHost: x\n\n", "http1.bad_line_ending", 400},
        BadCase{"bare_lf_header", "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", "http1.bad_line_ending",
                400},
        BadCase{"bare_cr", "GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n", "http1.bad_line_ending", 400},
        BadCase{"cr_in_value", kPost + "X-Abc: \rxTransfer-Encoding: chunked\r\n\r\n",
                "http1.bad_line_ending", 400},
        BadCase{"nul_in_value", kPost + std::string("X-A: a\0b\r\n\r\n", 12), "http1.bad_header_value",
                400},
        BadCase{"bad_header_name", kPost + "X(A): b\r\n\r\n", "http1.bad_header_name", 400},
        BadCase{"space_in_name", kPost + "Content Length: 5\r\n\r\n", "http1.bad_header_name", 400},
        BadCase{"no_colon", kPost + "JustText\r\n\r\n", "http1.bad_header_name", 400},
        BadCase{"te_chunked_chunked", kPost + "Transfer-Encoding: chunked, chunked\r\n\r\n",
                "http1.bad_transfer_encoding", 400},
        BadCase{"te_gzip", kPost + "Transfer-Encoding: gzip\r\n\r\n", "http1.bad_transfer_encoding",
                400},
        BadCase{"te_chunked_gzip", kPost + "Transfer-Encoding: chunked, gzip\r\n\r\n",
                "http1.bad_transfer_encoding", 400},
        BadCase{"te_gzip_chunked", kPost + "Transfer-Encoding: gzip, chunked\r\n\r\n",
                "http1.bad_transfer_encoding", 501},
        BadCase{"headers_too_large_complete",
                "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(5000, 'a') + "\r\n\r\n",
                "http1.headers_too_large", 431},
        BadCase{"te_twice", kPost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                "http1.bad_transfer_encoding", 400},
        BadCase{"te_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                "http1.bad_transfer_encoding", 400},
        BadCase{"upgrade", "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
                "http1.upgrade_refused", 400},
        BadCase{"connect", "CONNECT evil:443 HTTP/1.1\r\nHost: evil:443\r\n\r\n",
                "http1.connect_refused", 405},
        BadCase{"absolute_uri", "GET http://evil.example/dbs HTTP/1.1\r\nHost: x\r\n\r\n",
                "http1.absolute_uri", 400},
        BadCase{"h2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "http1.http2_preface", 400},
        BadCase{"bad_version", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", "http1.bad_version", 400},
        BadCase{"missing_host", "GET / HTTP/1.1\r\n\r\n", "http1.bad_host", 400},
        BadCase{"two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "http1.bad_host", 400},
        BadCase{"uri_too_long", "GET /" + std::string(300, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n",
                "http1.uri_too_long", 414},
        BadCase{"uri_too_long_unterminated", "GET /" + std::string(400, 'a'), "http1.uri_too_long",
                414},
        BadCase{"too_many_headers",
                [] {
                  std::string s = "GET / HTTP/1.1\r\nHost: x\r\n";
                  for (int i = 0; i < 25; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
                  return s + "\r\n";
                }(),
                "http1.too_many_headers", 431},
        BadCase{"headers_too_large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(5000, 'a'),
                "http1.headers_too_large", 431},
        BadCase{"chunk_size_overflow",
                kPost + "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n",
                "http1.bad_chunk", 400},
        BadCase{"chunk_missing_crlf", kPost + "Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
                "http1.bad_chunk", 400},
        BadCase{"chunk_ext_huge",
                kPost + "Transfer-Encoding: chunked\r\n\r\n3;" + std::string(2000, 'e') +
                    "\r\nabc\r\n0\r\n\r\n",
                "http1.bad_chunk", 400},
        BadCase{"cl_in_trailer",
                kPost + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 5\r\n\r\n",
                "http1.trailers_refused", 400},
        BadCase{"control_in_target", "GET /a\x01" "b HTTP/1.1\r\nHost: x\r\n\r\n",
                "http1.bad_request_line", 400},
        BadCase{"empty_start_line", "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", "http1.bad_request_line",
                400}),
    [](const ::testing::TestParamInfo<BadCase>& p) { return std::string(p.param.name); });

// Red-team finding 4: a repeated single-valued field is ambiguous (the proxy checks one copy, the
// upstream may read the other), so the head is refused before any handler sees it.
INSTANTIATE_TEST_SUITE_P(
    RepeatedSingletons, Http1RejectTest,
    ::testing::Values(
        BadCase{"two_x_ms_date",
                "GET /dbs/a HTTP/1.1\r\nHost: x\r\nx-ms-date: Sun, 06 Dec 2026 10:00:00 GMT\r\n"
                "x-ms-date: Sun, 06 Dec 2026 09:00:00 GMT\r\n\r\n",
                "http1.duplicate_header", 400},
        BadCase{"two_authorization_other_case",
                "GET /dbs/a HTTP/1.1\r\nHost: x\r\nauthorization: a\r\nAuthorization: b\r\n\r\n",
                "http1.duplicate_header", 400},
        BadCase{"two_version",
                "GET / HTTP/1.1\r\nHost: x\r\nx-ms-version: 1\r\nX-Ms-Version: 1\r\n\r\n",
                "http1.duplicate_header", 400},
        BadCase{"two_partition_keys",
                kPost + "x-ms-documentdb-partitionkey: [\"a\"]\r\n"
                        "x-ms-documentdb-partitionkey: [\"b\"]\r\nContent-Length: 2\r\n\r\n{}",
                "http1.duplicate_header", 400},
        BadCase{"two_isquery",
                kPost + "x-ms-documentdb-isquery: true\r\nx-ms-documentdb-isquery: false\r\n\r\n",
                "http1.duplicate_header", 400},
        BadCase{"two_content_types",
                kPost + "Content-Type: application/json\r\n"
                        "Content-Type: application/query+json\r\n\r\n",
                "http1.duplicate_header", 400},
        BadCase{"two_if_match", kPost + "If-Match: \"1\"\r\nif-match: \"2\"\r\n\r\n",
                "http1.duplicate_header", 400},
        BadCase{"two_continuations",
                "GET /dbs/a/colls/b/docs HTTP/1.1\r\nHost: x\r\nx-ms-continuation: a\r\n"
                "x-ms-max-item-count: 1\r\nx-ms-continuation: b\r\n\r\n",
                "http1.duplicate_header", 400},
        BadCase{"two_upsert_flags",
                kPost + "x-ms-documentdb-is-upsert: true\r\nX-MS-DOCUMENTDB-IS-UPSERT: 1\r\n\r\n",
                "http1.duplicate_header", 400},
        // Host and Content-Length keep their own, older detail codes.
        BadCase{"two_hosts_keep_bad_host", "GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n",
                "http1.bad_host", 400}),
    [](const ::testing::TestParamInfo<BadCase>& p) { return std::string(p.param.name); });

TEST(Http1ParserTest, RepeatedSingletonNeverReachesTheHandler) {
  Recorder rec;
  Status s = parseRequest(
      "GET /dbs/a HTTP/1.1\r\nHost: x\r\nAuthorization: good\r\nx-ms-date: d\r\n"
      "Authorization: evil\r\n\r\n",
      &rec);
  EXPECT_EQ(s.detail(), "http1.duplicate_header");
  EXPECT_NE(s.message().find("'Authorization'"), std::string_view::npos) << s.toString();
  EXPECT_TRUE(rec.heads.empty());
}

TEST(Http1ParserTest, ListValuedAndUnknownFieldsMayRepeat) {
  Recorder rec;
  ASSERT_TRUE(parseRequest("GET /dbs/a HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
                           "Accept-Encoding: br\r\nx-custom: 1\r\nx-custom: 2\r\n"
                           "x-ms-cosmos-supported-serialization-formats: JsonText\r\n"
                           "x-ms-cosmos-supported-serialization-formats: CosmosBinary\r\n"
                           "Connection: keep-alive\r\nConnection: x-custom\r\n"
                           "x-ms-date: d\r\nauthorization: a\r\n\r\n",
                           &rec)
                  .isOk());
  EXPECT_EQ(rec.heads.size(), 1u);
}

TEST(Http1ParserTest, RepeatedSingletonCheckIsForRequestsOnly) {
  // Responses may carry repeated fields (the proxy never trusts one copy of them).
  Recorder rec;
  Http1Parser p(Http1Parser::Kind::kResponse, testLimits(), &rec);
  EXPECT_TRUE(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nx-ms-session-token: 0:1\r\n"
                     "x-ms-session-token: 1:1\r\n\r\n")
                  .isOk());
  EXPECT_EQ(rec.heads.size(), 1u);
}

TEST(RepeatedSingletonHeaderTest, NamesTheSecondCopy) {
  common::HeaderMap h;
  h.add("Host", "x");
  h.add("x-ms-date", "d");
  EXPECT_TRUE(repeatedSingletonHeader(h).empty());
  h.add("If-None-Match", "*");
  h.add("IF-NONE-MATCH", "\"e\"");
  EXPECT_EQ(repeatedSingletonHeader(h), "IF-NONE-MATCH");
  common::HeaderMap d;
  d.add("x-ms-date", "a");
  d.add("X-MS-DATE", "b");
  EXPECT_EQ(repeatedSingletonHeader(d), "X-MS-DATE");
}

// ---- Responses ----

Status parseResponse(const std::string& bytes, Recorder* rec, bool head_request = false,
                     bool eof = false) {
  Http1Parser p(Http1Parser::Kind::kResponse, testLimits(), rec);
  p.setNoBodyExpected(head_request);
  Status s = p.feed(bytes);
  if (!s.isOk() || !eof) return s;
  return p.finish();
}

TEST(Http1ResponseTest, ContentLengthAndChunked) {
  Recorder rec;
  ASSERT_TRUE(parseResponse("HTTP/1.1 201 Created\r\nContent-Length: 2\r\netag: \"1\"\r\n\r\n{}", &rec)
                  .isOk());
  EXPECT_EQ(rec.heads[0].status, 201);
  EXPECT_EQ(rec.heads[0].reason, "Created");
  EXPECT_EQ(rec.bodies[0], "{}");
  Recorder ch;
  ASSERT_TRUE(parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                            &ch)
                  .isOk());
  EXPECT_EQ(ch.bodies[0], "{}");
  EXPECT_EQ(ch.completes, 1);
}

TEST(Http1ResponseTest, UntilCloseNeedsFinish) {
  Recorder rec;
  Http1Parser p(Http1Parser::Kind::kResponse, testLimits(), &rec);
  ASSERT_TRUE(p.feed("HTTP/1.1 200 OK\r\n\r\nabc").isOk());
  EXPECT_EQ(rec.completes, 0);
  EXPECT_FALSE(rec.heads[0].keep_alive);
  ASSERT_TRUE(p.finish().isOk());
  EXPECT_EQ(rec.completes, 1);
  EXPECT_EQ(rec.bodies[0], "abc");
}

TEST(Http1ResponseTest, TruncatedBodyIsAnError) {
  Recorder rec;
  Status s = parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", &rec, false, true);
  EXPECT_EQ(s.detail(), "http1.truncated");
  EXPECT_EQ(rec.completes, 0);
}

TEST(Http1ResponseTest, HeadAnd204And304HaveNoBody) {
  Recorder head;
  ASSERT_TRUE(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", &head, true).isOk());
  EXPECT_EQ(head.completes, 1);
  Recorder nc;
  ASSERT_TRUE(parseResponse("HTTP/1.1 204 No Content\r\n\r\n", &nc).isOk());
  EXPECT_EQ(nc.completes, 1);
  Recorder nm;
  ASSERT_TRUE(parseResponse("HTTP/1.1 304 Not Modified\r\netag: 1\r\n\r\n", &nm).isOk());
  EXPECT_EQ(nm.completes, 1);
}

TEST(Http1ResponseTest, RejectsAmbiguousFraming) {
  Recorder rec;
  EXPECT_EQ(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "0\r\n\r\n",
                          &rec)
                .detail(),
            "http1.cl_and_te");
  EXPECT_EQ(parseResponse("HTTP/1.1 101 Switching Protocols\r\n\r\n", &rec).detail(),
            "http1.unexpected_1xx");
  EXPECT_EQ(parseResponse("HTTP/1.1 2000 OK\r\n\r\n", &rec).detail(), "http1.bad_status_line");
  EXPECT_EQ(parseResponse("HTTX/1.1 200 OK\r\n\r\n", &rec).detail(), "http1.bad_status_line");
  EXPECT_TRUE(rec.heads.empty());
}

TEST(Http1ResponseTest, InterimResponsesAreSkipped) {
  Recorder rec;
  ASSERT_TRUE(parseResponse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
                            "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
                            &rec)
                  .isOk());
  ASSERT_EQ(rec.heads.size(), 1u);
  EXPECT_EQ(rec.heads[0].status, 201);
  EXPECT_EQ(rec.bodies[0], "{}");
  EXPECT_EQ(rec.completes, 1);
  // The final response after an interim one still goes through the guard.
  Recorder bad;
  EXPECT_EQ(parseResponse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\n{}",
                          &bad)
                .detail(),
            "http1.space_before_colon");
  EXPECT_TRUE(bad.heads.empty());
  // A flood of interim responses is refused.
  std::string flood;
  for (int i = 0; i < 9; ++i) flood += "HTTP/1.1 100 Continue\r\n\r\n";
  Recorder f;
  EXPECT_EQ(parseResponse(flood, &f).detail(), "http1.unexpected_1xx");
}

TEST(Http1ResponseTest, StatusLineWithoutReason) {
  Recorder rec;
  ASSERT_TRUE(parseResponse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", &rec).isOk());
  EXPECT_EQ(rec.heads[0].status, 200);
  EXPECT_EQ(rec.heads[0].reason, "");
}

// Parses `bytes` fed in two reads split at `split`, then finish(): the final status.
Status parseSplit(Http1Parser::Kind kind, std::string_view bytes, size_t split, Recorder* rec) {
  Http1Parser p(kind, testLimits(), rec);
  Status s = p.feed(bytes.substr(0, split));
  if (s.isOk()) s = p.feed(bytes.substr(split));
  if (s.isOk() && kind == Http1Parser::Kind::kResponse) s = p.finish();
  return s;
}

// A trailer field is refused with one detail code however the reads split the bytes (found by
// http1_fuzz: a malformed trailer line was http1.bad_chunk whole but http1.trailers_refused
// when a read ended inside it).
TEST(Http1ParserTest, TrailerRefusalDoesNotDependOnReadSplits) {
  const std::string response_head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string request_head =
      "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string fuzz_finding =
      "3\r\nabc\r\n0\r0" + std::string(83, '_') + "0UOK\r\nTfer-Encoding:\n\r\n";
  for (const std::string& body : {
           fuzz_finding,
           std::string("3\r\nabc\r\n0\r\nX-T: y\r\n\r\n"),   // well formed
           std::string("3\r\nabc\r\n0\r\nX-T\r\n\r\n"),      // no colon
           std::string("3\r\nabc\r\n0\r\n X-T: y\r\n\r\n"),  // leading space
           std::string("0;e=1\r\nX-T@: y\r\n\r\n"),          // bad name, extension
       }) {
    for (auto kind : {Http1Parser::Kind::kRequest, Http1Parser::Kind::kResponse}) {
      const std::string bytes =
          (kind == Http1Parser::Kind::kRequest ? request_head : response_head) + body;
      std::set<std::string> details;  // one per outcome, over every split point
      for (size_t split = 0; split <= bytes.size(); ++split) {
        Recorder rec;
        details.emplace(parseSplit(kind, bytes, split, &rec).detail());
        EXPECT_EQ(rec.completes, 0);
      }
      EXPECT_EQ(details, std::set<std::string>{"http1.trailers_refused"}) << bytes;
    }
  }
}

TEST(Http1ParserTest, LastChunkEndsTheMessageAtEverySplit) {
  const std::string bytes =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  for (size_t split = 0; split <= bytes.size(); ++split) {
    Recorder rec;
    ASSERT_TRUE(parseSplit(Http1Parser::Kind::kResponse, bytes, split, &rec).isOk()) << split;
    EXPECT_EQ(rec.completes, 1);
    EXPECT_EQ(rec.bodies[0], "abc");
  }
}

// ---- Serialization ----

TEST(Http1SerializeTest, RequestHeadAndChunks) {
  common::HeaderMap h;
  h.add("Host", "up:443");
  h.add("x-ms-date", "d");
  std::string out;
  appendRequestHead(&out, "POST", "/dbs/a", h);
  EXPECT_EQ(out, "POST /dbs/a HTTP/1.1\r\nHost: up:443\r\nx-ms-date: d\r\n\r\n");
  out.clear();
  appendChunk(&out, std::string(26, 'z'));
  EXPECT_EQ(out, "1a\r\n" + std::string(26, 'z') + "\r\n");
  out.clear();
  appendResponseHead(&out, 404, "", h);
  EXPECT_EQ(out.substr(0, 24), "HTTP/1.1 404 Not Found\r\n");
}

TEST(Http1SerializeTest, HopByHop) {
  EXPECT_TRUE(isHopByHopOrFraming("Connection"));
  EXPECT_TRUE(isHopByHopOrFraming("transfer-encoding"));
  EXPECT_TRUE(isHopByHopOrFraming("Content-Length"));
  EXPECT_TRUE(isHopByHopOrFraming("TE"));
  EXPECT_FALSE(isHopByHopOrFraming("x-ms-date"));
}

TEST(Http1SerializeTest, ConnectionNominatedFieldsAcrossHeadersAndCase) {
  common::HeaderMap h;
  h.add("Connection", "keep-alive, X-Trace");
  h.add("x-ms-date", "d");
  h.add("connection", " x-other ,\t");
  const ConnectionNominated few(h);
  EXPECT_TRUE(few.contains("x-trace"));
  EXPECT_TRUE(few.contains("X-OTHER"));
  EXPECT_TRUE(few.contains("Keep-Alive"));
  EXPECT_FALSE(few.contains("x-ms-date"));
  EXPECT_FALSE(few.contains("x-trac"));
  EXPECT_FALSE(few.contains(""));

  // Past the linear limit the set is sorted: the same answers, duplicates in any case.
  common::HeaderMap many;
  std::string list;
  for (int i = 0; i < 40; ++i) list += (i ? "," : "") + std::string(i % 2 ? "F" : "f") + std::to_string(39 - i);
  list += ",F7,f7";
  many.add("Connection", list);
  many.add("x-keep", "1");
  const ConnectionNominated lots(many);
  for (int i = 0; i < 40; ++i) {
    EXPECT_TRUE(lots.contains("f" + std::to_string(i))) << i;
    EXPECT_TRUE(lots.contains("F" + std::to_string(i))) << i;
  }
  EXPECT_FALSE(lots.contains("f40"));
  EXPECT_FALSE(lots.contains("x-keep"));
  EXPECT_FALSE(lots.contains("f"));
}

}  // namespace
}  // namespace cosmoseal::proxy

namespace cosmoseal::proxy {
namespace {

struct Refuser : Recorder {
  common::Status onMessageHead(MessageHead& head) noexcept override {
    (void)Recorder::onMessageHead(head);
    return common::Status(common::Code::kUnauthenticated, "auth.bad_signature", "nope");
  }
};

TEST(Http1ParserTest, HandlerRefusalKeepsItsStatus) {
  Refuser rec;
  Http1Parser p(Http1Parser::Kind::kRequest, testLimits(), &rec);
  common::Status s = p.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(s.detail(), "auth.bad_signature");
  EXPECT_EQ(s.httpStatus(), 401);
  EXPECT_TRUE(p.dead());
  EXPECT_EQ(rec.heads.size(), 1u);
  EXPECT_EQ(rec.completes, 0);
}

struct BodyRefuser : Recorder {
  common::Status onMessageBody(std::string_view) noexcept override {
    return common::Status(common::Code::kTooLarge, "http1.body_too_large", "big");
  }
};

TEST(Http1ParserTest, BodyRefusalKeepsItsStatus) {
  BodyRefuser rec;
  Http1Parser p(Http1Parser::Kind::kRequest, testLimits(), &rec);
  common::Status s = p.feed("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(s.detail(), "http1.body_too_large");
  EXPECT_EQ(s.httpStatus(), 413);
}

}  // namespace
}  // namespace cosmoseal::proxy

namespace cosmoseal::proxy {
namespace {

// A handler that answers synchronously and resumes the parser from inside onMessageComplete
// (as a keep-alive local reply does). The next pipelined message must still go through the
// head guard: here it is a smuggling payload that llhttp alone would accept.
struct SyncResumer : Recorder {
  Http1Parser* parser = nullptr;
  common::Status onMessageComplete() noexcept override {
    (void)Recorder::onMessageComplete();
    return parser->resume();
  }
};

TEST(Http1ParserTest, SynchronousResumeStillGuardsTheNextMessage) {
  SyncResumer rec;
  Http1Parser p(Http1Parser::Kind::kRequest, testLimits(), &rec);
  rec.parser = &p;
  // The first message has a body: in the body phase llhttp is handed every buffered byte, so
  // only the pause at the message boundary keeps it from parsing /b and /c on its own.
  common::Status s = p.feed(
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"
      "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello");
  EXPECT_EQ(s.detail(), "http1.space_before_colon");
  ASSERT_EQ(rec.heads.size(), 2u);
  EXPECT_EQ(rec.heads[0].target, "/a");
  EXPECT_EQ(rec.heads[1].target, "/b");
  EXPECT_EQ(rec.completes, 2);
}

}  // namespace
}  // namespace cosmoseal::proxy

namespace cosmoseal::proxy {
namespace {

// The guard looks at header values eight bytes at a time: every position of a long value must
// still be checked, and HTAB / obs-text stay valid wherever they are.
TEST(Http1ParserTest, EveryByteOfALongValueIsChecked) {
  for (size_t pos = 0; pos < 24; ++pos) {
    for (char c : {'\x7f', '\x00', '\x01', '\x1f', '\t', '\x80', '\xff', ' '}) {
      const bool ows = c == ' ' || c == '\t';
      if (ows && (pos == 0 || pos == 23)) continue;  // leading/trailing OWS is trimmed
      std::string value(24, 'v');
      value[pos] = c;
      Recorder rec;
      Status s = parseRequest("GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + value + "\r\n\r\n", &rec);
      const auto u = static_cast<unsigned char>(c);
      const bool valid = c == '\t' || (u >= 0x20 && u != 0x7f);
      if (valid) {
        ASSERT_TRUE(s.isOk()) << "pos " << pos << " char " << int(c) << ": " << s.toString();
        EXPECT_EQ(*rec.heads[0].headers.get("x-long"), value);
      } else {
        EXPECT_EQ(s.detail(), "http1.bad_header_value") << "pos " << pos << " char " << int(c);
      }
    }
  }
}

// The head limit applies at the exact byte, whole or byte by byte.
TEST(Http1ParserTest, HeadLimitIsExact) {
  const std::string start = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ";
  const size_t limit = testLimits().max_head_bytes;
  for (size_t extra : {0, 1}) {
    const std::string pad(limit + extra - start.size() - 4, 'p');
    const std::string head = start + pad + "\r\n\r\n";
    ASSERT_EQ(head.size(), limit + extra);
    for (bool bytewise : {false, true}) {
      Recorder rec;
      Status s = parseRequest(head, &rec, bytewise);
      if (extra == 0) {
        EXPECT_TRUE(s.isOk()) << s.toString();
        EXPECT_EQ(rec.completes, 1);
      } else {
        EXPECT_EQ(s.detail(), "http1.headers_too_large");
      }
    }
  }
}

}  // namespace
}  // namespace cosmoseal::proxy
