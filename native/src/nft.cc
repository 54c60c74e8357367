// nftables through libnftables, in process: a script as one transaction,
// or a command whose JSON output is wanted.
#include <nftables/libnftables.h>

#include <cerrno>
#include <memory>

#include "args.h"
#include "net.h"
#include "netns-scope.h"
#include "sys-error.h"

namespace {

struct CtxFree {
  void operator()(nft_ctx *ctx) const { nft_ctx_free(ctx); }
};

// Runs `text` in `netns` and returns what nft printed. A context per call:
// its netlink socket belongs to the namespace it was opened in.
std::string Run(Napi::Env env, const std::optional<std::string> &netns, const std::string &text,
                unsigned flags) {
  NetnsScope scope(env, netns);
  std::unique_ptr<nft_ctx, CtxFree> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) throw SysError(env, ENOMEM, "nft", netns.value_or(""), "nft_ctx_new failed");
  nft_ctx_output_set_flags(ctx.get(), flags);
  if (nft_ctx_buffer_output(ctx.get()) || nft_ctx_buffer_error(ctx.get())) {
    throw SysError(env, ENOMEM, "nft", netns.value_or(""), "cannot buffer nft's output");
  }
  errno = 0;
  if (nft_run_cmd_from_buffer(ctx.get(), text.c_str()) != 0) {
    // libnftables leaves the kernel's errno when the kernel refused the
    // batch; a script it refused itself (syntax, evaluation) leaves errno as
    // its last read of its non-blocking socket left it (EAGAIN): EINVAL.
    int err = errno == 0 || errno == EAGAIN ? EINVAL : errno;
    std::string why = nft_ctx_get_error_buffer(ctx.get());
    while (!why.empty() && why.back() == '\n') why.pop_back();
    throw SysError(env, err, "nft", netns.value_or(""), why);
  }
  return nft_ctx_get_output_buffer(ctx.get());
}

}  // namespace

Napi::Value NftRun(const Napi::CallbackInfo &info) {
  auto netns = NetnsArg(info, 0);
  Run(info.Env(), netns, StringArg(info, 1), 0);
  return info.Env().Undefined();
}

Napi::Value NftJson(const Napi::CallbackInfo &info) {
  auto netns = NetnsArg(info, 0);
  std::string json = Run(info.Env(), netns, StringArg(info, 1), NFT_CTX_OUTPUT_JSON);
  return Napi::String::New(info.Env(), json);
}
