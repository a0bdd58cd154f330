#include "common/status.h"

#include <gtest/gtest.h>

namespace cosmoseal::common {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.isOk());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.detail(), "");
  EXPECT_EQ(s.httpStatus(), 200);
  EXPECT_EQ(s.toString(), "ok");
}

TEST(StatusTest, CarriesCodeDetailMessage) {
  Status s(Code::kInvalidArgument, "http1.cl_and_te", "both Content-Length and Transfer-Encoding");
  EXPECT_FALSE(s.isOk());
  EXPECT_EQ(s.httpStatus(), 400);
  EXPECT_EQ(s.detail(), "http1.cl_and_te");
  EXPECT_EQ(s.toString(), "http1.cl_and_te: both Content-Length and Transfer-Encoding");
  Status copy = s;
  EXPECT_EQ(copy.detail(), "http1.cl_and_te");
  Status ctx = s.withContext("request 3");
  EXPECT_EQ(ctx.message(), "request 3: both Content-Length and Transfer-Encoding");
  EXPECT_EQ(ctx.code(), Code::kInvalidArgument);
}

TEST(StatusTest, HttpMapping) {
  EXPECT_EQ(httpStatusFor(Code::kUnauthenticated), 401);
  EXPECT_EQ(httpStatusFor(Code::kPermissionDenied), 403);
  EXPECT_EQ(httpStatusFor(Code::kTooLarge), 413);
  EXPECT_EQ(httpStatusFor(Code::kUnsupportedMedia), 415);
  EXPECT_EQ(httpStatusFor(Code::kRateLimited), 429);
  EXPECT_EQ(httpStatusFor(Code::kHeadersTooLarge), 431);
  EXPECT_EQ(httpStatusFor(Code::kBadGateway), 502);
  EXPECT_EQ(httpStatusFor(Code::kUnavailable), 503);
  EXPECT_EQ(httpStatusFor(Code::kGatewayTimeout), 504);
}

TEST(StatusTest, OkStatusWithOkCodeStaysOk) {
  Status s(Code::kOk, "ignored", "ignored");
  EXPECT_TRUE(s.isOk());
}

StatusOr<int> half(int x) {
  if (x % 2 != 0) return invalidArgument("test.odd", "odd");
  return x / 2;
}

Status useMacros(int x, int* out) {
  COSMOSEAL_ASSIGN_OR_RETURN(int h, half(x));
  COSMOSEAL_RETURN_IF_ERROR(h > 10 ? invalidArgument("test.big", "big") : Status::ok());
  *out = h;
  return Status::ok();
}

TEST(StatusOrTest, ValueAndError) {
  auto a = half(8);
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(*a, 4);
  auto b = half(3);
  ASSERT_FALSE(b.isOk());
  EXPECT_EQ(b.status().detail(), "test.odd");
  StatusOr<int> bad{Status::ok()};
  EXPECT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().detail(), "internal.statusor_ok");
}

TEST(StatusOrTest, Macros) {
  int out = 0;
  EXPECT_TRUE(useMacros(8, &out).isOk());
  EXPECT_EQ(out, 4);
  EXPECT_EQ(useMacros(7, &out).detail(), "test.odd");
  EXPECT_EQ(useMacros(40, &out).detail(), "test.big");
}

}  // namespace
}  // namespace cosmoseal::common
