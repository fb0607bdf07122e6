#include "common/result.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace coffre {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  COFFRE_ASSIGN_OR_RETURN(int h, Half(x));
  COFFRE_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  COFFRE_RETURN_IF_ERROR(Half(x).status());
  return Status::Ok();
}

TEST(StatusTest, OkHasNoMessageAndPrintsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ErrorPrintsCodeAndMessageAndKeepsCodeWithContext) {
  Status s = NotFound("device 'd1' does not exist").WithContext("get device");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NOT_FOUND: get device: device 'd1' does not exist");
}

TEST(ResultTest, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_THAT(CheckEven(3), testing::StatusIs(StatusCode::kInvalidArgument));
}

TEST(ResultDeathTest, ValueOfAnErrorAborts) {
  Result<int> r = Half(1);
  EXPECT_DEATH((void)r.value(), "COFFRE_CHECK failed");
}

TEST(StatusTest, ErrnoStatusMapsCommonErrors) {
  EXPECT_EQ(ErrnoStatus("open", ENOENT).code(), StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus("open", EACCES).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus("write", ENOSPC).code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace coffre
