{
  "targets": [
    {
      "target_name": "berth_native",
      "sources": [
        "src/addon.cc",
        "src/args.cc",
        "src/sys-error.cc",
        "src/file-meta.cc",
        "src/volume.cc",
        "src/inet.cc",
        "src/netns-scope.cc",
        "src/rtnl.cc",
        "src/link.cc",
        "src/addr-route.cc",
        "src/neigh-fdb.cc",
        "src/sysctl.cc",
        "src/nft.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["-lnftables"]
    },
    {
      "target_name": "berth-monitor",
      "type": "executable",
      "sources": [
        "helper/main.c",
        "helper/monitor.c",
        "helper/oneshot.c",
        "helper/mount-into.c",
        "helper/mountpoint.c",
        "helper/spawn.c",
        "helper/spec.c",
        "helper/console.c",
        "helper/fault.c",
        "helper/frame.c",
        "helper/keeper.c",
        "helper/protocol.c"
      ],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"]
    },
    {
      "target_name": "berth-unpack",
      "type": "executable",
      "sources": [
        "unpack/main.c",
        "unpack/report.c",
        "unpack/source.c",
        "unpack/tar.c",
        "unpack/extract.c",
        "unpack/pack.c"
      ],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "libraries": ["-lz", "-llzma", "-lzstd", "-lcrypto"]
    }
  ]
}
