// The audit log behind RestApi: every request is recorded, refused ones included, with the
// operation, key and version named; nothing secret reaches the log; only the owner reads it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "test_util.h"
#include "vault/audit/audit_log.h"
#include "vault/api/audit_request.h"
#include "vault/api/rest_api.h"
#include "api_request.h"
#include "vault_fixture.h"

namespace coffre::vault {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;

net::HttpResponse Reply(unsigned status, std::string body) {
  net::HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

TEST(DescribeRequestTest, NamesTheOperationKeyAndVersion) {
  AuditEntry e = DescribeRequest(Request("POST", "/keys/k1/abc/wrapkey?api-version=7.5"), "hub",
                                 Reply(200, R"({"kid":"https://v/keys/k1/abc","value":"xyz"})"));
  EXPECT_EQ(e.op, "wrapKey");
  EXPECT_EQ(e.key, "k1");
  EXPECT_EQ(e.version, "abc");
  EXPECT_EQ(e.principal, "hub");
  EXPECT_EQ(e.status, 200u);
  EXPECT_EQ(e.code, "");
  EXPECT_EQ(e.client, "192.0.2.7");

  // The latest version: the reply's kid says which one was used.
  e = DescribeRequest(Request("POST", "/keys/k1//unwrapKey?api-version=7.5"), "hub",
                      Reply(200, R"({"kid":"https://v/keys/k1/f00d","value":"xyz"})"));
  EXPECT_EQ(e.op, "unwrapKey");
  EXPECT_EQ(e.version, "f00d");

  struct Case {
    const char* method;
    const char* target;
    const char* op;
    const char* key;
  } cases[] = {
      {"GET", "/keys", "listKeys", ""},
      {"GET", "/keys/k1/", "getKey", "k1"},
      {"PATCH", "/keys/k1", "updateKey", "k1"},
      {"PUT", "/keys/k1", "importKey", "k1"},
      {"DELETE", "/keys/k1", "deleteKey", "k1"},
      {"POST", "/keys/k1/create", "createKey", "k1"},
      {"POST", "/keys/k1/rotate", "rotateKey", "k1"},
      {"GET", "/keys/k1/versions", "listKeyVersions", "k1"},
      {"GET", "/keys/k1/rotationpolicy", "getRotationPolicy", "k1"},
      {"POST", "/keys/k1/backup", "backupKey", "k1"},
      {"POST", "/keys/restore", "restoreKey", ""},
      {"GET", "/deletedkeys", "listDeletedKeys", ""},
      {"DELETE", "/deletedkeys/k1", "purgeDeletedKey", "k1"},
      {"POST", "/deletedkeys/k1/recover", "recoverDeletedKey", "k1"},
      {"PUT", "/coffre/principals/app1", "setPrincipal", "app1"},
      {"GET", "/coffre/audit", "getAuditLog", ""},
      {"POST", "/coffre/audit/verify", "verifyAuditLog", ""},
      {"GET", "/nowhere/at/all", "GET /nowhere/at/all", ""},
  };
  for (const Case& c : cases) {
    e = DescribeRequest(Request(c.method, std::string(c.target) + "?api-version=7.5"), "owner",
                        Reply(404, ""));
    EXPECT_EQ(e.op, c.op) << c.method << " " << c.target;
    EXPECT_EQ(e.key, c.key) << c.method << " " << c.target;
  }
}

TEST(DescribeRequestTest, RecordsTheMostSpecificErrorCode) {
  AuditEntry e = DescribeRequest(
      Request("POST", "/keys/k1/v1/wrapkey"), "app1",
      Reply(403, R"({"error":{"code":"Forbidden","message":"m",)"
                 R"("innererror":{"code":"KeyDisabled"}}})"));
  EXPECT_EQ(e.code, "KeyDisabled");
  e = DescribeRequest(Request("GET", "/keys"), "",
                      Reply(401, R"({"error":{"code":"Unauthorized","message":"m"}})"));
  EXPECT_EQ(e.code, "Unauthorized");
  EXPECT_EQ(e.principal, "");
}

class AuditedApiTest : public ::testing::Test {
 protected:
  AuditedApiTest() {
    audit_ = std::move(AuditLog::Open(f_.dir() / "audit.log", f_.store()).value());
    api_ = std::make_unique<RestApi>(f_.vault(), f_.access(),
                                     RestApiOptions{"https://localhost:8443"}, nullptr, audit_.get());
    std::set<std::string> all(AllKeyPermissions().begin(), AllKeyPermissions().end());
    owner_ = *f_.access().SetPrincipal("owner", all, true, true).value().token;
    hub_ = *f_.access().SetPrincipal("hub", {"get", "wrapKey", "unwrapKey"}, false, true)
                .value()
                .token;
  }

  json Call(const net::HttpRequest& r, unsigned want_status) {
    net::HttpResponse out = api_->Handle(r);
    EXPECT_EQ(out.status, want_status) << r.method << " " << r.target << ": " << out.body;
    return json::parse(out.body, nullptr, false);
  }

  std::string LogText() { return ReadTextFile(f_.dir() / "audit.log").value(); }

  VaultFixture f_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<RestApi> api_;
  std::string owner_, hub_;
};

TEST_F(AuditedApiTest, EveryRequestIsRecordedAndNothingSecret) {
  const std::string q = "?api-version=7.5";
  Call(Request("POST", "/keys/k1/create" + q, owner_, R"({"kty":"oct-HSM","key_size":256})"), 200);
  std::string plain = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
  json wrapped = Call(Request("POST", "/keys/k1//wrapkey" + q, hub_,
                              R"({"alg":"A256KW","value":")" + plain + R"("})"),
                      200);
  Call(Request("GET", "/keys" + q), 401);                      // no token
  Call(Request("GET", "/keys" + q, "cvt1.not-a-token"), 401);  // a wrong one
  Call(Request("DELETE", "/keys/k1" + q, hub_), 403);
  Call(Request("GET", "/keys/nope" + q, hub_), 404);

  json shown = Call(Request("GET", "/coffre/audit" + q + "&top=6", owner_), 200);
  ASSERT_EQ(shown["value"].size(), 6u);
  EXPECT_EQ(shown["count"], 6);
  const json& v = shown["value"];
  EXPECT_EQ(v[0]["op"], "createKey");
  EXPECT_EQ(v[0]["principal"], "owner");
  EXPECT_EQ(v[1]["op"], "wrapKey");
  EXPECT_EQ(v[1]["principal"], "hub");
  EXPECT_EQ(v[1]["key"], "k1");
  EXPECT_EQ(v[1]["version"], v[0]["version"]);
  EXPECT_EQ(v[1]["version"].get<std::string>().size(), 32u);
  EXPECT_EQ(v[1]["client"], "192.0.2.7");
  EXPECT_EQ(v[2]["principal"], "");
  EXPECT_EQ(v[2]["status"], 401);
  EXPECT_EQ(v[2]["code"], "Unauthorized");
  EXPECT_EQ(v[3]["status"], 401);
  EXPECT_EQ(v[4]["op"], "deleteKey");
  EXPECT_EQ(v[4]["code"], "AccessDenied");
  EXPECT_EQ(v[5]["op"], "getKey");
  EXPECT_EQ(v[5]["status"], 404);
  EXPECT_EQ(v[5]["code"], "KeyNotFound");

  std::string text = LogText();
  std::string wrapped_value = wrapped["value"].get<std::string>();
  for (const std::string& secret :
       {owner_, hub_, std::string("cvt1.not-a-token"), plain, wrapped_value}) {
    EXPECT_THAT(text, Not(HasSubstr(secret)));
  }
  EXPECT_THAT(text, Not(HasSubstr("A256KW")));  // nothing of the body

  json verdict = Call(Request("POST", "/coffre/audit/verify" + q, owner_), 200);
  EXPECT_EQ(verdict, (json{{"ok", true}, {"count", 7}, {"firstSeq", 1}}));  // the show request is entry 7
}

TEST_F(AuditedApiTest, OnlyTheOwnerReadsOrVerifiesTheLog) {
  const std::string q = "?api-version=7.5";
  json denied = Call(Request("GET", "/coffre/audit" + q, hub_), 403);
  EXPECT_EQ(denied["error"]["innererror"]["code"], "AccessDenied");
  Call(Request("POST", "/coffre/audit/verify" + q, hub_), 403);
  Call(Request("GET", "/coffre/audit" + q), 401);
  Call(Request("GET", "/coffre/audit" + q + "&top=0", owner_), 400);
  Call(Request("GET", "/coffre/audit" + q + "&top=1001", owner_), 400);
  Call(Request("GET", "/coffre/audit/verify" + q, owner_), 405);
  Call(Request("GET", "/coffre/audit/x/y" + q, owner_), 404);
  json shown = Call(Request("GET", "/coffre/audit" + q + "&top=2", owner_), 200);
  ASSERT_EQ(shown["value"].size(), 2u);
  // This request's own entry follows its reply.
  EXPECT_EQ(shown["value"][0]["op"], "GET /coffre/audit/verify");
  EXPECT_EQ(shown["value"][0]["status"], 405);
  EXPECT_EQ(shown["value"][1]["op"], "GET /coffre/audit/x/y");
  EXPECT_EQ(shown["value"][1]["code"], "NotFound");
}

}  // namespace
}  // namespace coffre::vault
