#include "proxy/exchange/context.h"

#include "proxy/exchange/details.h"

namespace cosmoseal::proxy {

ThreadState::ThreadState(std::shared_ptr<const ConfigSnapshot> rt)
    : snapshot(std::move(rt)), auth(*snapshot) {
  if (snapshot->keyring()) {
    cipher = std::make_unique<crypto::FieldCipher>(snapshot->keyring());
    transformer = std::make_unique<policy::JsonTransformer>(cipher.get());
  }
}

ThreadState::~ThreadState() = default;

common::Status chargeBuffer(const ExchangeContext& context, BufferCharge* charge,
                            uint64_t total) noexcept {
  const uint64_t limit = context.state->snapshot->config().limits.max_buffered_bytes;
  if (charge->resize(total, limit)) return common::Status::ok();
  return common::Status(common::Code::kUnavailable, exchange_detail::kBufferBudget,
                        "the sidecar already holds " + std::to_string(context.buffers->used()) +
                            " bytes of buffered bodies and this message needs " +
                            std::to_string(total - charge->bytes()) +
                            " more, over limits.max_buffered_bytes (" + std::to_string(limit) +
                            "); nothing was sent, try again");
}

}  // namespace cosmoseal::proxy
