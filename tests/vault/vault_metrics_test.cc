// GET /metrics of the vault's RestApi (docs/METRICS.md): any valid bearer token (a principal
// without a single key permission) or, with metrics_open, none; requests counted by operation
// and status code, unwrapKey timed, the scrapes themselves audited like any request; no key
// name, principal or token in the text.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/metrics/registry.h"
#include "vault/api/audit_request.h"
#include "vault/api/rest_api.h"
#include "vault/api/vault_metrics.h"
#include "vault/audit/audit_log.h"
#include "api_request.h"
#include "vault_fixture.h"

namespace coffre::vault {
namespace {

class VaultMetricsTest : public ::testing::Test {
 protected:
  void Start(bool open) {
    audit_ = std::move(AuditLog::Open(f_.dir() / "audit.log", f_.store()).value());
    RestApiOptions options{"https://localhost:8443"};
    options.metrics = &metrics_;
    options.metrics_open = open;
    api_ = std::make_unique<RestApi>(f_.vault(), f_.access(), options, nullptr, audit_.get());
    std::set<std::string> all(AllKeyPermissions().begin(), AllKeyPermissions().end());
    owner_ = *f_.access().SetPrincipal("owner", all, true, true).value().token;
    scraper_ = *f_.access()
                    .SetPrincipal("prometheus", {"get"}, false, true, std::nullopt,
                                  std::set<std::string>{"no-such-key"})
                    .value()
                    .token;
  }
  net::HttpResponse Call(const net::HttpRequest& r) { return api_->Handle(r); }

  VaultFixture f_;
  metrics::Registry registry_;
  VaultMetrics metrics_{registry_};
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<RestApi> api_;
  std::string owner_, scraper_;
};

TEST_F(VaultMetricsTest, AnyValidTokenScrapesAndRequestsAreCountedByOperationAndCode) {
  Start(/*open=*/false);
  const std::string q = "?api-version=7.5";
  ASSERT_EQ(Call(Request("POST", "/keys/secret-key-name/create" + q, owner_,
                         R"({"kty":"oct-HSM","key_size":256})"))
                .status,
            200u);
  std::string plain = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
  net::HttpResponse wrapped = Call(Request("POST", "/keys/secret-key-name//wrapkey" + q, owner_,
                                           R"({"alg":"A256KW","value":")" + plain + R"("})"));
  ASSERT_EQ(wrapped.status, 200u);
  std::string value = nlohmann::json::parse(wrapped.body)["value"];
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(Call(Request("POST", "/keys/secret-key-name//unwrapkey" + q, owner_,
                           R"({"alg":"A256KW","value":")" + value + R"("})"))
                  .status,
              200u);
  }
  EXPECT_EQ(Call(Request("GET", "/no/such/path" + q, owner_)).status, 404u);
  EXPECT_EQ(Call(Request("GET", "/metrics")).status, 401u);
  EXPECT_EQ(Call(Request("GET", "/metrics", "not-a-token")).status, 401u);
  EXPECT_EQ(Call(Request("POST", "/metrics", owner_)).status, 405u);

  net::HttpResponse scrape = Call(Request("GET", "/metrics?ignored=1", scraper_));
  ASSERT_EQ(scrape.status, 200u) << scrape.body;
  EXPECT_EQ(scrape.content_type, "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = scrape.body;
  for (const char* line :
       {"coffre_vault_requests_total{operation=\"createKey\",code=\"200\"} 1\n",
        "coffre_vault_requests_total{operation=\"wrapKey\",code=\"200\"} 1\n",
        "coffre_vault_requests_total{operation=\"unwrapKey\",code=\"200\"} 2\n",
        "coffre_vault_requests_total{operation=\"other\",code=\"404\"} 1\n",
        "coffre_vault_requests_total{operation=\"getMetrics\",code=\"401\"} 2\n",
        "coffre_vault_requests_total{operation=\"other\",code=\"405\"} 1\n",
        "coffre_vault_unwrap_duration_seconds_count 2\n",
        "coffre_vault_unwrap_duration_seconds_bucket{le=\"+Inf\"} 2\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " not in:\n" << text;
  }
  for (const std::string& secret : {owner_, scraper_, std::string("secret-key-name"),
                                    std::string("prometheus"), plain}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << "found " << secret;
  }
  EXPECT_EQ(Call(Request("HEAD", "/metrics", scraper_)).body, "");

  // Scrapes are audited like any request, under the scraper's name.
  ASSERT_TRUE(audit_->Sync().ok());
  std::vector<AuditEntry> tail = audit_->Tail(2).value();
  EXPECT_EQ(tail[0].op, "getMetrics");
  EXPECT_EQ(tail[0].principal, "prometheus");
}

TEST_F(VaultMetricsTest, OpenMetricsNeedNoToken) {
  Start(/*open=*/true);
  net::HttpResponse scrape = Call(Request("GET", "/metrics"));
  ASSERT_EQ(scrape.status, 200u);
  EXPECT_NE(scrape.body.find("# TYPE coffre_vault_requests_total counter"), std::string::npos);
  EXPECT_EQ(OperationOf(Request("GET", "/metrics")), "getMetrics");
  EXPECT_EQ(OperationOf(Request("PUT", "/metrics")), "");
}

}  // namespace
}  // namespace coffre::vault
