#pragma once

// CosmosLeaseStore: the LeaseStore of a real job — documents in a Cosmos container whose
// partition key is /id (so every lease and state document is its own logical partition and a
// point read or a conditional replace needs nothing but the id). ensureContainer() creates the
// container when it is absent and the credential allows it.

#include <string>

#include "proxy/migrate/cosmos_client.h"
#include "proxy/migrate/lease.h"

namespace cosmoseal::proxy::migrate {

class CosmosLeaseStore final : public LeaseStore {
 public:
  // `client` is not owned. One store per thread (as the client).
  CosmosLeaseStore(CosmosClient* client, std::string database, std::string container);

  common::Status ensureContainer();

  common::StatusOr<std::optional<StoredDocument>> read(const std::string& id) override;
  common::StatusOr<WriteOutcome> create(const std::string& id, const std::string& json) override;
  common::StatusOr<WriteOutcome> replace(const std::string& id, const std::string& json,
                                         const std::string& if_match) override;
  common::StatusOr<std::vector<StoredDocument>> list(const std::string& prefix) override;

 private:
  CosmosClient* client_;
  std::string database_;
  std::string container_;
};

// The _etag of a document response (the etag header, else the body's _etag).
std::string responseEtag(const HttpResponse& response);

// An error for an answer the caller did not expect.
common::Status unexpectedAnswer(std::string_view what, const HttpResponse& response);

}  // namespace cosmoseal::proxy::migrate
